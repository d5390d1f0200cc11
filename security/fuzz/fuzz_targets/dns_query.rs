//! Feeds arbitrary bytes to the DNS query parser as a program's own resolver would send them
//! to the cage's resolver (or the library's res_send hooks). It must never panic; a query it
//! accepts must answer (the response carries the same question back) and, rebuilt from its
//! name, parse to the same question.

#![no_main]

use libfuzzer_sys::fuzz_target;
use torify_core::dns::message::{Rdata, build_query, build_response, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = parse_query(data) else { return };
    let q = &query.question;
    assert!(q.name.len() <= 255, "name of {} bytes", q.name.len());
    // A name the parser gave must be one the builder takes, and come back unchanged.
    let Ok(again) = build_query(query.id, &q.name, q.qtype, q.qclass) else {
        panic!("parsed name {:?} cannot be rebuilt", q.name)
    };
    let reparsed = parse_query(&again).unwrap_or_else(|e| panic!("rebuilt query: {e:?}"));
    assert_eq!(&reparsed.question, q);
    let answer = [Rdata::Address("198.18.0.1".parse().unwrap_or_else(|_| unreachable!()))];
    let response = build_response(&query, 0, &answer).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(response[..2], query.id.to_be_bytes());
});
