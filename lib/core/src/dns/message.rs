//! DNS messages (RFC 1035 §4) for the raw resolver API: parse the one question a program asks
//! with res_send(3), and build the answer it expects back, from what Tor resolved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Record types this module answers.
pub const TYPE_A: u16 = 1;
/// PTR.
pub const TYPE_PTR: u16 = 12;
/// AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
pub const CLASS_IN: u16 = 1;
/// Response codes.
pub const RCODE_NOERROR: u8 = 0;
/// Server failure.
pub const RCODE_SERVFAIL: u8 = 2;
/// The name does not exist.
pub const RCODE_NXDOMAIN: u8 = 3;
/// Refused.
pub const RCODE_REFUSED: u8 = 5;

/// The time to live given to answers: short, since nothing here knows the real one.
pub const ANSWER_TTL: u32 = 60;

const MAX_NAME: usize = 255;
const HEADER: usize = 12;

/// Why a message cannot be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// Shorter than its own header or records say.
    Truncated,
    /// Not exactly one question, or not a query.
    NotOneQuery,
    /// A name with a bad label, a loop of compression pointers, or over 255 bytes.
    BadName,
}

/// The question of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name, dotted, without the root dot.
    pub name: String,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The message ID, echoed in the answer.
    pub id: u16,
    /// Recursion desired.
    pub rd: bool,
    /// The question.
    pub question: Question,
}

/// Reads a possibly compressed name at `at`; returns it and the offset just after it (in the
/// original position, not after a pointer's target).
fn read_name(msg: &[u8], mut at: usize) -> Result<(String, usize), MessageError> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or(MessageError::Truncated)?;
        match len {
            0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let low = *msg.get(at + 1).ok_or(MessageError::Truncated)?;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > 32 {
                    return Err(MessageError::BadName);
                }
                at = usize::from(l & 0x3F) << 8 | usize::from(low);
            }
            l if l & 0xC0 != 0 => return Err(MessageError::BadName),
            l => {
                let label = msg
                    .get(at + 1..at + 1 + usize::from(l))
                    .ok_or(MessageError::Truncated)?;
                if !label.iter().all(|c| c.is_ascii_graphic() && *c != b'.') {
                    return Err(MessageError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|c| char::from(*c)));
                // RFC 1035 3.1: 255 octets on the wire, so 253 written out; the writer holds
                // the same limit (a longer name, made with pointers, could not be answered).
                if name.len() > MAX_NAME - 2 {
                    return Err(MessageError::BadName);
                }
                at += 1 + usize::from(l);
            }
        }
    }
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, MessageError> {
    let b = msg.get(at..at + 2).ok_or(MessageError::Truncated)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

/// Parses a query with exactly one question.
pub fn parse_query(msg: &[u8]) -> Result<Query, MessageError> {
    if msg.len() < HEADER {
        return Err(MessageError::Truncated);
    }
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2)?;
    let is_query = flags & 0x8000 == 0 && (flags >> 11) & 0xF == 0;
    if !is_query || u16_at(msg, 4)? != 1 {
        return Err(MessageError::NotOneQuery);
    }
    let (name, at) = read_name(msg, HEADER)?;
    Ok(Query {
        id,
        rd: flags & 0x0100 != 0,
        question: Question {
            name,
            qtype: u16_at(msg, at)?,
            qclass: u16_at(msg, at + 2)?,
        },
    })
}

/// Appends `name` in wire form.
fn write_name(out: &mut Vec<u8>, name: &str) -> Result<(), MessageError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.len() > MAX_NAME - 2 {
        return Err(MessageError::BadName);
    }
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(MessageError::BadName);
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    Ok(())
}

/// One answer record's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rdata {
    /// An A or AAAA record.
    Address(IpAddr),
    /// A PTR record.
    Ptr(String),
}

/// Builds the response to `query` carrying `answers` (or none, with `rcode`).
pub fn build_response(
    query: &Query,
    rcode: u8,
    answers: &[Rdata],
) -> Result<Vec<u8>, MessageError> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&query.id.to_be_bytes());
    // QR, opcode 0, RD echoed, RA set.
    let flags: u16 = 0x8000 | if query.rd { 0x0100 } else { 0 } | 0x0080 | u16::from(rcode & 0xF);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    write_name(&mut out, &query.question.name)?;
    out.extend_from_slice(&query.question.qtype.to_be_bytes());
    out.extend_from_slice(&query.question.qclass.to_be_bytes());
    for answer in answers {
        // The owner name points back at the question (offset 12).
        out.extend_from_slice(&[0xC0, HEADER as u8]);
        let (rtype, rdata) = match answer {
            Rdata::Address(IpAddr::V4(a)) => (TYPE_A, a.octets().to_vec()),
            Rdata::Address(IpAddr::V6(a)) => (TYPE_AAAA, a.octets().to_vec()),
            Rdata::Ptr(name) => {
                let mut wire = Vec::new();
                write_name(&mut wire, name)?;
                (TYPE_PTR, wire)
            }
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&ANSWER_TTL.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Ok(out)
}

/// A query for `name` as res_mkquery would build it (for callers that only have a name).
pub fn build_query(id: u16, name: &str, qtype: u16, qclass: u16) -> Result<Vec<u8>, MessageError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    write_name(&mut out, name)?;
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    Ok(out)
}

/// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` or the 32 nibbles of
/// `….ip6.arpa`.
pub fn reverse_name_to_ip(name: &str) -> Option<IpAddr> {
    let lower = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if let Some(v4) = lower.strip_suffix(".in-addr.arpa") {
        let parts: Vec<u8> = v4
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [d, c, b, a] = parts.as_slice() else {
            return None;
        };
        return Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d)));
    }
    let v6 = lower.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> = v6
        .split('.')
        .map(|n| {
            if n.len() == 1 {
                u8::from_str_radix(n, 16).ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut octets = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        octets[i] = pair[1] << 4 | pair[0];
    }
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Query {
        parse_query(&build_query(0x1234, name, qtype, CLASS_IN).unwrap()).unwrap()
    }

    #[test]
    fn a_name_past_253_characters_is_refused_as_the_writer_refuses_it() {
        // Four labels of 63 and one of 1: 256 characters written out, 258 octets on the wire.
        let mut msg = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for len in [63u8, 63, 63, 63, 1] {
            msg.push(len);
            msg.extend(std::iter::repeat_n(b'a', usize::from(len)));
        }
        msg.extend_from_slice(&[0, 0, 1, 0, 1]);
        assert_eq!(parse_query(&msg).err(), Some(MessageError::BadName));
        // 253 characters (63·3 + 62 and three dots) is the longest name both sides take.
        let name = format!("{a}.{a}.{a}.{b}", a = "a".repeat(63), b = "b".repeat(61));
        assert_eq!(name.len(), 253);
        let query = build_query(7, &name, 1, 1).unwrap();
        assert_eq!(parse_query(&query).unwrap().question.name, name);
    }

    #[test]
    fn queries_round_trip() {
        let q = query("web.test", TYPE_A);
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert_eq!(
            q.question,
            Question {
                name: "web.test".into(),
                qtype: TYPE_A,
                qclass: CLASS_IN
            }
        );
    }

    #[test]
    fn responses_carry_the_answers() {
        let q = query("web.test", TYPE_A);
        let msg = build_response(
            &q,
            RCODE_NOERROR,
            &[Rdata::Address("198.51.100.7".parse().unwrap())],
        )
        .unwrap();
        assert_eq!(&msg[..2], &[0x12, 0x34]);
        assert_eq!(msg[3] & 0xF, 0);
        assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), 1);
        assert_eq!(&msg[msg.len() - 4..], &[198, 51, 100, 7]);
        // The owner name of the answer is a pointer to the question.
        let q_end = HEADER + "web.test".len() + 2 + 4;
        assert_eq!(&msg[q_end..q_end + 2], &[0xC0, 12]);
        let (owner, _) = read_name(&msg, q_end).unwrap();
        assert_eq!(owner, "web.test");

        let ptr = build_response(
            &query("7.100.51.198.in-addr.arpa", TYPE_PTR),
            0,
            &[Rdata::Ptr("web.test".into())],
        )
        .unwrap();
        assert!(ptr.ends_with(b"\x03web\x04test\x00"));
        let nx = build_response(&q, RCODE_NXDOMAIN, &[]).unwrap();
        assert_eq!(nx[3] & 0xF, RCODE_NXDOMAIN);
        assert_eq!(u16::from_be_bytes([nx[6], nx[7]]), 0);
    }

    #[test]
    fn hostile_messages_are_errors() {
        let mut loop_msg = build_query(1, "a", TYPE_A, CLASS_IN).unwrap();
        loop_msg.truncate(HEADER);
        loop_msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        let rows: &[(&[u8], MessageError)] = &[
            (&[0, 1, 1], MessageError::Truncated),
            (
                &[0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
                MessageError::NotOneQuery,
            ),
            (
                &[0, 1, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1],
                MessageError::NotOneQuery,
            ),
            (
                &[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'a', b'b'],
                MessageError::Truncated,
            ),
            (
                &[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x80, 0, 1, 0, 1],
                MessageError::BadName,
            ),
            (&loop_msg, MessageError::BadName),
        ];
        for (msg, want) in rows {
            assert_eq!(parse_query(msg).err(), Some(*want), "{msg:?}");
        }
        assert_eq!(
            build_query(1, &"a".repeat(64), TYPE_A, CLASS_IN).err(),
            Some(MessageError::BadName)
        );
    }

    #[test]
    fn reverse_names() {
        let rows: &[(&str, Option<&str>)] = &[
            ("7.100.51.198.in-addr.arpa", Some("198.51.100.7")),
            ("7.100.51.198.IN-ADDR.ARPA.", Some("198.51.100.7")),
            (
                "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                Some("2001:db8::7"),
            ),
            ("1.2.3.in-addr.arpa", None),
            ("300.1.2.3.in-addr.arpa", None),
            ("web.test", None),
            ("7.0.ip6.arpa", None),
        ];
        for (name, want) in rows {
            assert_eq!(
                reverse_name_to_ip(name),
                want.map(|s| s.parse().unwrap()),
                "{name}"
            );
        }
    }
}
