//! The cage's resolver, for programs that resolve names themselves (static glibc, Go, musl):
//! A and AAAA get virtual addresses at once (the TCP flow then carries the name to the exit,
//! with no round trip for the lookup), PTR of a virtual address its name, PTR of any other
//! address Tor's RESOLVE_PTR, every other question REFUSED. Names are judged as the library
//! judges them (`torify_core::dns::classify`): `.exit`, invalid onion names and this machine's
//! own name get NXDOMAIN.

use std::net::IpAddr;

use torify_core::dns::message::{
    self, CLASS_IN, Query, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, RCODE_SERVFAIL, Rdata,
    TYPE_A, TYPE_AAAA, TYPE_PTR,
};
use torify_core::dns::{self, LocalNames, Lookup};

use super::names::VirtualNames;

/// What the resolver can answer by itself, or what it must ask Tor first.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The response message.
    Ready(Vec<u8>),
    /// The name of this address, from Tor (RESOLVE_PTR), then [`ptr_answer`].
    AskTor(Query, IpAddr),
    /// Not a DNS query: nothing to answer.
    Nothing,
    /// Refused for this reason (said once per kind, by the caller), with the response.
    Refused(String, Vec<u8>),
}

fn respond(query: &Query, rcode: u8, answers: &[Rdata]) -> Answer {
    message::build_response(query, rcode, answers).map_or(Answer::Nothing, Answer::Ready)
}

/// Answers one query message.
pub(crate) fn answer(msg: &[u8], names: &mut VirtualNames, local: &LocalNames) -> Answer {
    let Ok(query) = message::parse_query(msg) else {
        return Answer::Nothing;
    };
    let q = &query.question;
    if q.qclass != CLASS_IN {
        return refused(&query, "a DNS question of a class other than IN");
    }
    match q.qtype {
        TYPE_A | TYPE_AAAA => {
            let name = q.name.trim_end_matches('.').to_ascii_lowercase();
            let want_v4 = q.qtype == TYPE_A;
            match dns::classify(&name, local) {
                Lookup::Numeric => match name.parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv4() == want_v4 => {
                        respond(&query, RCODE_NOERROR, &[Rdata::Address(ip)])
                    }
                    _ => respond(&query, RCODE_NOERROR, &[]),
                },
                Lookup::Local(addrs) => {
                    let fit: Vec<Rdata> = addrs
                        .into_iter()
                        .filter(|a| a.is_ipv4() == want_v4)
                        .map(Rdata::Address)
                        .collect();
                    respond(&query, RCODE_NOERROR, &fit)
                }
                Lookup::Onion(onion) => virtual_answer(&query, &onion, want_v4, names),
                Lookup::Tor => virtual_answer(&query, &name, want_v4, names),
                Lookup::Refuse(why) => Answer::Refused(
                    format!("refused to resolve {name}: {why}"),
                    message::build_response(&query, RCODE_NXDOMAIN, &[]).unwrap_or_default(),
                ),
            }
        }
        TYPE_PTR => match message::reverse_name_to_ip(&q.name) {
            Some(ip) => match names.name_of(ip) {
                Some(name) => {
                    let name = name.to_owned();
                    respond(&query, RCODE_NOERROR, &[Rdata::Ptr(name)])
                }
                None => match local.name_for(ip) {
                    Some(name) => respond(&query, RCODE_NOERROR, &[Rdata::Ptr(name)]),
                    None => Answer::AskTor(query, ip),
                },
            },
            None => respond(&query, RCODE_NXDOMAIN, &[]),
        },
        other => refused(
            &query,
            &format!("a DNS question of type {other} (only A, AAAA and PTR go through Tor)"),
        ),
    }
}

fn virtual_answer(query: &Query, name: &str, want_v4: bool, names: &mut VirtualNames) -> Answer {
    match names.assign(name) {
        Ok((v4, v6)) => {
            let ip = if want_v4 {
                IpAddr::V4(v4)
            } else {
                IpAddr::V6(v6)
            };
            respond(query, RCODE_NOERROR, &[Rdata::Address(ip)])
        }
        Err(full) => Answer::Refused(
            format!("cannot resolve {name}: {full}"),
            message::build_response(query, RCODE_SERVFAIL, &[]).unwrap_or_default(),
        ),
    }
}

fn refused(query: &Query, what: &str) -> Answer {
    Answer::Refused(
        format!(
            "refused {what} for {:?}; no setting allows it",
            query.question.name
        ),
        message::build_response(query, RCODE_REFUSED, &[]).unwrap_or_default(),
    )
}

/// The answer to a PTR query once Tor has (or has not) named the address.
pub(crate) fn ptr_answer(query: &Query, name: Option<String>) -> Vec<u8> {
    let result = match name {
        Some(n) => message::build_response(query, RCODE_NOERROR, &[Rdata::Ptr(n)]),
        None => message::build_response(query, RCODE_NXDOMAIN, &[]),
    };
    result.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use torify_core::dns::message::build_query;

    fn ready(a: Answer) -> Vec<u8> {
        match a {
            Answer::Ready(m) | Answer::Refused(_, m) => m,
            other => panic!("{other:?}"),
        }
    }

    /// (rcode, answer count, first answer's rdata) of a response.
    fn decode(resp: &[u8]) -> (u8, u16, Vec<u8>) {
        let rcode = resp[3] & 0xF;
        let count = u16::from_be_bytes([resp[6], resp[7]]);
        if count == 0 {
            return (rcode, 0, Vec::new());
        }
        // Skip the question: name, type, class.
        let mut at = 12;
        while resp[at] != 0 {
            at += 1 + usize::from(resp[at]);
        }
        at += 5;
        // Answer: pointer (2), type, class, ttl, rdlength.
        let len = usize::from(u16::from_be_bytes([resp[at + 10], resp[at + 11]]));
        (rcode, count, resp[at + 12..at + 12 + len].to_vec())
    }

    #[test]
    fn names_get_virtual_addresses_and_come_back_by_ptr() {
        let mut names = VirtualNames::new();
        let local = LocalNames::new("127.0.0.1 localhost\n", Some("box"));
        let q = build_query(7, "Web.Test.", TYPE_A, CLASS_IN).unwrap();
        let (rcode, n, rdata) = decode(&ready(answer(&q, &mut names, &local)));
        assert_eq!((rcode, n), (RCODE_NOERROR, 1));
        let v4 = IpAddr::from(<[u8; 4]>::try_from(rdata.as_slice()).unwrap());
        assert_eq!(names.name_of(v4), Some("web.test"));
        let q6 = build_query(8, "web.test", TYPE_AAAA, CLASS_IN).unwrap();
        let (_, n, rdata) = decode(&ready(answer(&q6, &mut names, &local)));
        assert_eq!(n, 1);
        let v6 = IpAddr::from(<[u8; 16]>::try_from(rdata.as_slice()).unwrap());
        assert_eq!(names.name_of(v6), Some("web.test"));
        let IpAddr::V4(a) = v4 else { panic!() };
        let o = a.octets();
        let ptr_name = format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0]);
        let qp = build_query(9, &ptr_name, TYPE_PTR, CLASS_IN).unwrap();
        let (rcode, n, _) = decode(&ready(answer(&qp, &mut names, &local)));
        assert_eq!((rcode, n), (RCODE_NOERROR, 1));
    }

    #[test]
    fn what_tor_cannot_answer_is_refused_or_asked() {
        let mut names = VirtualNames::new();
        let local = LocalNames::new("127.0.0.1 localhost\n", Some("box"));
        let rows: &[(&str, u16, u8)] = &[
            ("web.test", 16, RCODE_REFUSED),
            ("web.test", 15, RCODE_REFUSED),
            ("x.exit", TYPE_A, RCODE_NXDOMAIN),
            ("bad.onion", TYPE_A, RCODE_NXDOMAIN),
            ("box", TYPE_A, RCODE_NXDOMAIN),
        ];
        for (name, qtype, want) in rows {
            let q = build_query(1, name, *qtype, CLASS_IN).unwrap();
            let (rcode, _, _) = decode(&ready(answer(&q, &mut names, &local)));
            assert_eq!(rcode, *want, "{name} {qtype}");
        }
        let localhost = build_query(2, "localhost", TYPE_A, CLASS_IN).unwrap();
        let (_, n, rdata) = decode(&ready(answer(&localhost, &mut names, &local)));
        assert_eq!((n, rdata), (1, vec![127, 0, 0, 1]));
        let ptr = build_query(3, "7.100.51.198.in-addr.arpa", TYPE_PTR, CLASS_IN).unwrap();
        assert!(
            matches!(answer(&ptr, &mut names, &local), Answer::AskTor(_, ip) if ip == IpAddr::from([198, 51, 100, 7]))
        );
        assert_eq!(answer(b"junk", &mut names, &local), Answer::Nothing);
    }
}
