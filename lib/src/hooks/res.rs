//! The raw resolver API: res_query(3), res_search, res_querydomain, res_send and their
//! res_n* forms, under both names glibc exports (`res_query@GLIBC_2.34` for new programs,
//! `__res_query@GLIBC_2.2.5` for old ones). glibc's resolver opens its sockets internally,
//! where no preload can see them, so these entry points are where DNS must stop.
//!
//! res_search does not append the search domains of resolv.conf: asking the exit for
//! `name.corp.example` would tell it which network this machine is in.

use libc::{c_char, c_int, c_uchar, c_void};

use crate::answer;
use crate::guard::{self, c_str};
use crate::resolve::NO_RECOVERY;
use crate::sys;

fn failed() -> c_int {
    sys::set_h_errno(NO_RECOVERY);
    -1
}

/// # Safety
/// The caller's arguments, with res_query's contract.
unsafe fn query(
    name: *const c_char,
    domain: *const c_char,
    class: c_int,
    qtype: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    guard::catch("res_query", failed, || {
        // SAFETY: NUL-terminated strings or null (caller contract).
        let (Some(name), domain) = (unsafe { c_str(name) }, unsafe { c_str(domain) }) else {
            return failed();
        };
        // SAFETY: caller contract.
        unsafe { answer::query(&answer::join(name, domain), class, qtype, answer, anslen) }
    })
}

/// # Safety
/// The caller's arguments, with res_send's contract.
unsafe fn send(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
    // SAFETY: caller contract.
    guard::catch("res_send", failed, || unsafe {
        answer::send(msg, msglen, answer, anslen)
    })
}

/// Defines each resolver entry point as the shared body it forwards to. The resolver state
/// of the res_n* forms is not used: Tor is the resolver.
macro_rules! entry_points {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) => $body:ident($($pass:expr),*) / $libc:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// The C contract of the function it names.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            crate::libc_sym::pass_if_exempt!($libc($($arg),*) as fn($($ty),*) -> c_int, or failed());
            // SAFETY: the caller's arguments.
            unsafe { $body($($pass),*) }
        }
    )*};
}

entry_points! {
    /// res_query(3).
    res_query(name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_query;
    /// The old name of res_query.
    __res_query(name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_query;
    /// res_search(3): no search domains are appended (they would tell the exit which network
    /// this machine is in).
    res_search(name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_search;
    /// The old name of res_search.
    __res_search(name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_search;
    /// res_nquery(3).
    res_nquery(_state: *mut c_void, name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_nquery;
    /// The old name of res_nquery.
    __res_nquery(_state: *mut c_void, name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_nquery;
    /// res_nsearch(3).
    res_nsearch(_state: *mut c_void, name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_nsearch;
    /// The old name of res_nsearch.
    __res_nsearch(_state: *mut c_void, name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, std::ptr::null(), class, qtype, answer, anslen) / res_nsearch;
    /// res_querydomain(3).
    res_querydomain(name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, domain, class, qtype, answer, anslen) / res_querydomain;
    /// The old name of res_querydomain.
    __res_querydomain(name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, domain, class, qtype, answer, anslen) / res_querydomain;
    /// res_nquerydomain(3).
    res_nquerydomain(_state: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, domain, class, qtype, answer, anslen) / res_nquerydomain;
    /// The old name of res_nquerydomain.
    __res_nquerydomain(_state: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int)
        => query(name, domain, class, qtype, answer, anslen) / res_nquerydomain;
    /// res_send(3).
    res_send(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int)
        => send(msg, msglen, answer, anslen) / res_send;
    /// The old name of res_send.
    __res_send(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int)
        => send(msg, msglen, answer, anslen) / res_send;
    /// res_nsend(3).
    res_nsend(_state: *mut c_void, msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int)
        => send(msg, msglen, answer, anslen) / res_nsend;
    /// The old name of res_nsend.
    __res_nsend(_state: *mut c_void, msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int)
        => send(msg, msglen, answer, anslen) / res_nsend;
}
