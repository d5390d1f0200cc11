//! Answers to DNS questions from the raw resolver API (res_query(3), res_send(3), …), built
//! from what Tor resolves: A and AAAA through RESOLVE, PTR through RESOLVE_PTR. Any other
//! question is refused: Tor has no way to ask it.

use libc::c_int;
use torify_core::dns::message::{
    self, CLASS_IN, Query, Question, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL,
    Rdata, TYPE_A, TYPE_AAAA, TYPE_PTR,
};

use crate::resolve::{self, HOST_NOT_FOUND, LookupError, NO_DATA, NO_RECOVERY, TRY_AGAIN};
use crate::{log, sys};

fn rcode_of(e: LookupError) -> u8 {
    match e {
        LookupError::NotFound => RCODE_NXDOMAIN,
        _ => RCODE_SERVFAIL,
    }
}

/// The response code and records answering `q`.
pub(crate) fn respond(q: &Question) -> (u8, Vec<Rdata>) {
    let refuse = |why: &str| {
        log::refusal(
            torify_core::refusal::Kind::Question,
            &format_args!(
                "refused a DNS question (type {}, class {}) for {:?}: {why}; no setting allows it",
                q.qtype, q.qclass, q.name
            ),
        );
        (RCODE_REFUSED, Vec::new())
    };
    if q.qclass != CLASS_IN {
        return refuse("only class IN exists on the internet Tor reaches");
    }
    let rt = match resolve::runtime() {
        Ok(rt) => rt,
        Err(e) => return (rcode_of(e), Vec::new()),
    };
    match q.qtype {
        TYPE_A | TYPE_AAAA => match resolve::forward(rt, &q.name) {
            Ok(addrs) => {
                let want_v6 = q.qtype == TYPE_AAAA;
                let records = addrs
                    .into_iter()
                    .filter(|a| a.is_ipv6() == want_v6)
                    .map(Rdata::Address)
                    .collect();
                (RCODE_NOERROR, records)
            }
            Err(e) => (rcode_of(e), Vec::new()),
        },
        TYPE_PTR => match message::reverse_name_to_ip(&q.name) {
            Some(ip) => match resolve::reverse(rt, ip) {
                Ok(name) => (RCODE_NOERROR, vec![Rdata::Ptr(name)]),
                Err(e) => (rcode_of(e), Vec::new()),
            },
            None => (RCODE_NXDOMAIN, Vec::new()),
        },
        _ => refuse("Tor resolves only addresses (A, AAAA) and reverse names (PTR)"),
    }
}

/// Copies `msg` into the caller's buffer, setting TC when it does not fit; returns the bytes
/// written.
///
/// # Safety
/// `answer` must be valid for writes of `anslen` bytes (or null).
unsafe fn write_answer(mut msg: Vec<u8>, answer: *mut u8, anslen: c_int) -> c_int {
    let room = usize::try_from(anslen).unwrap_or(0);
    if answer.is_null() || room == 0 {
        return 0;
    }
    if msg.len() > room {
        msg.truncate(room);
        if let Some(flags) = msg.get_mut(2) {
            *flags |= 0x02;
        }
    }
    // SAFETY: answer has room >= msg.len() writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), answer, msg.len()) };
    c_int::try_from(msg.len()).unwrap_or(0)
}

/// res_query(3) semantics: the answer's length, or -1 with h_errno when it has no records.
///
/// # Safety
/// `answer` valid for writes of `anslen` bytes.
pub(crate) unsafe fn query(
    name: &str,
    class: c_int,
    qtype: c_int,
    answer: *mut u8,
    anslen: c_int,
) -> c_int {
    let question = Question {
        name: name.strip_suffix('.').unwrap_or(name).to_owned(),
        qtype: u16::try_from(qtype).unwrap_or(0),
        qclass: u16::try_from(class).unwrap_or(0),
    };
    let mut id = [0u8; 2];
    let _ = getrandom::fill(&mut id);
    let q = Query {
        id: u16::from_ne_bytes(id),
        rd: true,
        question,
    };
    let (rcode, records) = respond(&q.question);
    let Ok(msg) = message::build_response(&q, rcode, &records) else {
        sys::set_h_errno(NO_RECOVERY);
        return -1;
    };
    // SAFETY: caller contract.
    let written = unsafe { write_answer(msg, answer, anslen) };
    let h = match (rcode, records.is_empty()) {
        (RCODE_NOERROR, false) => return written,
        (RCODE_NOERROR, true) => NO_DATA,
        (RCODE_NXDOMAIN, _) => HOST_NOT_FOUND,
        (RCODE_SERVFAIL, _) => TRY_AGAIN,
        _ => NO_RECOVERY,
    };
    sys::set_h_errno(h);
    -1
}

/// res_send(3) semantics: the raw response to a query message, whatever its code.
///
/// # Safety
/// `msg` valid for reads of `msglen` bytes, `answer` for writes of `anslen` bytes.
pub(crate) unsafe fn send(msg: *const u8, msglen: c_int, answer: *mut u8, anslen: c_int) -> c_int {
    let len = usize::try_from(msglen).unwrap_or(0);
    if msg.is_null() || len == 0 {
        sys::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: caller contract.
    let bytes = unsafe { std::slice::from_raw_parts(msg, len) };
    let Ok(q) = message::parse_query(bytes) else {
        sys::set_errno(libc::EINVAL);
        sys::set_h_errno(NO_RECOVERY);
        return -1;
    };
    let (rcode, records) = respond(&q.question);
    match message::build_response(&q, rcode, &records) {
        // SAFETY: caller contract.
        Ok(out) => unsafe { write_answer(out, answer, anslen) },
        Err(_) => {
            sys::set_h_errno(NO_RECOVERY);
            -1
        }
    }
}

/// `name.domain`, as res_querydomain(3) joins them.
pub(crate) fn join(name: &str, domain: Option<&str>) -> String {
    match domain {
        Some(d) if !d.is_empty() => format!("{}.{}", name.strip_suffix('.').unwrap_or(name), d),
        _ => name.to_owned(),
    }
}
