//! The codec, one row per case.

use super::*;

fn v4(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn creds() -> Credentials<'static> {
    Credentials {
        username: b"user",
        password: b"pw",
    }
}

/// Feeds `replies` one byte at a time and checks that the handshake never asks for a byte past
/// the end of the replies (which would swallow application data) and ends exactly there.
fn drive(hs: &Handshake, replies: &[u8]) -> Result<(Answer, usize), SocksError> {
    let mut have = 0;
    loop {
        match hs.progress(&replies[..have])? {
            Progress::Need(n) => {
                assert!(n > have, "asked for {n} with {have} already there");
                assert!(
                    n <= replies.len(),
                    "asked for {n} of a {} byte reply",
                    replies.len()
                );
                have += 1;
            }
            Progress::Done(answer, used) => return Ok((answer, used)),
        }
    }
}

#[test]
fn first_flights() {
    let ip4 = Target::Addr(v4("198.51.100.7:80"));
    let ip6 = Target::Addr("[2001:db8::7]:443".parse().unwrap());
    let rows: &[(Command, Target<'_>, &[u8])] = &[
        (
            Command::Connect,
            ip4,
            b"\x05\x01\x00\x05\x01\x00\x03\x0c198.51.100.7\x00\x50",
        ),
        (
            Command::Connect,
            ip6,
            b"\x05\x01\x00\x05\x01\x00\x04\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07\x01\xbb",
        ),
        (
            Command::Connect,
            Target::Name("web.test", 8080),
            b"\x05\x01\x00\x05\x01\x00\x03\x08web.test\x1f\x90",
        ),
        (
            Command::Resolve,
            Target::Name("web.test", 0),
            b"\x05\x01\x00\x05\xf0\x00\x03\x08web.test\x00\x00",
        ),
        (
            Command::ResolvePtr,
            Target::Addr(v4("10.0.0.1:0")),
            b"\x05\x01\x00\x05\xf1\x00\x01\x0a\x00\x00\x01\x00\x00",
        ),
        (
            Command::Connect,
            Target::Addr(v4("1.2.3.4:1")),
            b"\x05\x01\x00\x05\x01\x00\x03\x071.2.3.4\x00\x01",
        ),
    ];
    for (cmd, target, want) in rows {
        let hs = Handshake::new(*cmd, target, None).unwrap();
        assert_eq!(hs.flight(), *want, "{cmd:?} {target:?}");
    }
}

#[test]
fn with_credentials_greeting_auth_and_request_go_together() {
    let hs = Handshake::new(
        Command::Connect,
        &Target::Name("a.onion", 22),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(
        hs.flight(),
        b"\x05\x01\x02\x01\x04user\x02pw\x05\x01\x00\x03\x07a.onion\x00\x16"
    );
}

#[test]
fn bad_requests_are_refused_before_sending() {
    let long = "a".repeat(256);
    let rows: &[(Command, Target<'_>, Option<Credentials<'_>>, SocksError)] = &[
        (
            Command::Connect,
            Target::Name("", 80),
            None,
            SocksError::InvalidName,
        ),
        (
            Command::Connect,
            Target::Name(&long, 80),
            None,
            SocksError::InvalidName,
        ),
        (
            Command::Connect,
            Target::Name("a b", 80),
            None,
            SocksError::InvalidName,
        ),
        (
            Command::Connect,
            Target::Name("a\0b", 80),
            None,
            SocksError::InvalidName,
        ),
        (
            Command::Connect,
            Target::Name("ünï", 80),
            None,
            SocksError::InvalidName,
        ),
        (
            Command::Resolve,
            Target::Addr(v4("1.2.3.4:0")),
            None,
            SocksError::TargetMismatch,
        ),
        (
            Command::ResolvePtr,
            Target::Name("x", 0),
            None,
            SocksError::TargetMismatch,
        ),
        (
            Command::Connect,
            Target::Name("x", 1),
            Some(Credentials {
                username: b"",
                password: b"p",
            }),
            SocksError::InvalidCredentials,
        ),
        (
            Command::Connect,
            Target::Name("x", 1),
            Some(Credentials {
                username: &[b'u'; 256],
                password: b"p",
            }),
            SocksError::InvalidCredentials,
        ),
    ];
    for (cmd, target, c, want) in rows {
        assert_eq!(
            Handshake::new(*cmd, target, c.as_ref()).err(),
            Some(*want),
            "{target:?}"
        );
    }
}

#[test]
fn successful_replies() {
    let name = Target::Name("web.test", 0);
    let ptr = Target::Addr(v4("10.0.0.1:0"));
    let conn = Target::Addr(v4("198.51.100.7:80"));
    let host = HostName::from_wire(b"web.test").unwrap();
    let rows: &[(Command, Target<'_>, bool, &[u8], Answer)] = &[
        (
            Command::Connect,
            conn,
            false,
            b"\x05\x00\x05\x00\x00\x01\0\0\0\0\0\0",
            Answer::Connected,
        ),
        // A unix-socket SocksPort answers CONNECT with an IPv6 bound address (22 bytes).
        (
            Command::Connect,
            conn,
            false,
            &[
                5, 0, 5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            Answer::Connected,
        ),
        (
            Command::Connect,
            conn,
            true,
            b"\x05\x02\x01\x00\x05\x00\x00\x01\0\0\0\0\0\0",
            Answer::Connected,
        ),
        // tor 0.4.9 answers a pipelined greeting + auth without its method choice.
        (
            Command::Connect,
            conn,
            true,
            b"\x01\x00\x05\x00\x00\x01\0\0\0\0\0\0",
            Answer::Connected,
        ),
        (
            Command::Resolve,
            name,
            true,
            b"\x01\x00\x05\x00\x00\x01\xc6\x33\x64\x07\0\0",
            Answer::Address("198.51.100.7".parse().unwrap()),
        ),
        (
            Command::Resolve,
            name,
            false,
            b"\x05\x00\x05\x00\x00\x01\xc6\x33\x64\x07\0\0",
            Answer::Address("198.51.100.7".parse().unwrap()),
        ),
        (
            Command::Resolve,
            name,
            false,
            &[
                5, 0, 5, 0, 0, 4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0,
            ],
            Answer::Address("2001:db8::7".parse().unwrap()),
        ),
        (
            Command::ResolvePtr,
            ptr,
            false,
            b"\x05\x00\x05\x00\x00\x03\x08web.test\0\0",
            Answer::Name(host),
        ),
    ];
    for (cmd, target, auth, replies, want) in rows {
        let c = creds();
        let hs = Handshake::new(*cmd, target, auth.then_some(&c)).unwrap();
        let mut with_app_data = replies.to_vec();
        with_app_data.extend_from_slice(b"SSH-2.0-app data that follows");
        let (answer, used) = drive(&hs, replies).unwrap();
        assert_eq!(answer, *want, "{cmd:?}");
        assert_eq!(used, replies.len());
        assert_eq!(
            hs.progress(&with_app_data).unwrap(),
            Progress::Done(*want, replies.len())
        );
    }
}

#[test]
fn every_reply_code_is_an_error_with_its_errno() {
    use libc::*;
    let rows: &[(u8, i32)] = &[
        (0x01, ECONNREFUSED),
        (0x02, ECONNREFUSED),
        (0x03, ENETUNREACH),
        (0x04, EHOSTUNREACH),
        (0x05, ECONNREFUSED),
        (0x06, ETIMEDOUT),
        (0x07, ECONNREFUSED),
        (0x08, ECONNREFUSED),
        (0xF0, EHOSTUNREACH),
        (0xF1, EHOSTUNREACH),
        (0xF2, EHOSTUNREACH),
        (0xF3, ECONNREFUSED),
        (0xF4, EACCES),
        (0xF5, EACCES),
        (0xF6, EHOSTUNREACH),
        (0xF7, ETIMEDOUT),
        (0x09, ECONNABORTED),
        (0xEF, ECONNABORTED),
        (0xFF, ECONNABORTED),
    ];
    let hs = Handshake::new(Command::Connect, &Target::Name("x.onion", 80), None).unwrap();
    for (byte, errno) in rows {
        let replies = [5, 0, 5, *byte, 0, 1, 0, 0, 0, 0, 0, 0];
        let err = drive(&hs, &replies).unwrap_err();
        assert_eq!(err, SocksError::Reply(ReplyCode::from_byte(*byte)));
        assert_eq!(err.errno(), *errno, "code 0x{byte:02x}");
        assert_eq!(ReplyCode::from_byte(*byte).byte(), *byte);
        assert!(err.to_string().contains(&format!("0x{byte:02x}")));
        assert_eq!(
            ReplyCode::from_byte(*byte).is_onion(),
            (0xF0..=0xF7).contains(byte)
        );
    }
}

#[test]
fn tor_resolve_failure_with_address_type_zero() {
    let hs = Handshake::new(Command::Resolve, &Target::Name("nowhere.test", 0), None).unwrap();
    let err = drive(&hs, &[5, 0, 5, 4, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(err, SocksError::Reply(ReplyCode::HostUnreachable));
}

#[test]
fn malformed_and_hostile_replies_are_errors() {
    let plain = Handshake::new(Command::Connect, &Target::Name("a.test", 80), None).unwrap();
    let authed = Handshake::new(
        Command::Connect,
        &Target::Name("a.test", 80),
        Some(&creds()),
    )
    .unwrap();
    let resolve = Handshake::new(Command::Resolve, &Target::Name("a.test", 0), None).unwrap();
    let ptr = Handshake::new(Command::ResolvePtr, &Target::Addr(v4("1.2.3.4:0")), None).unwrap();
    let rows: &[(&Handshake, &[u8], SocksError)] = &[
        (&plain, b"\x04\x00", SocksError::BadVersion(4)),
        (&plain, b"HTTP/1.1 400", SocksError::BadVersion(b'H')),
        (&plain, b"\x05\xff", SocksError::NoAcceptableMethod),
        (&plain, b"\x05\x02", SocksError::UnexpectedMethod(2)),
        (&authed, b"\x05\x00", SocksError::UnexpectedMethod(0)),
        (&authed, b"\x05\x02\x05\x00", SocksError::BadAuthVersion(5)),
        (&authed, b"\x05\x02\x01\x01", SocksError::AuthRejected(1)),
        // tor's form, without the method choice.
        (&authed, b"\x01\x01", SocksError::AuthRejected(1)),
        (&authed, b"\x05\x02\x06\x00", SocksError::BadAuthVersion(6)),
        (
            &plain,
            b"\x05\x00\x04\x00\x00\x01",
            SocksError::BadVersion(4),
        ),
        (
            &plain,
            b"\x05\x00\x05\x00\x00\x05\x00",
            SocksError::BadAddressType(5),
        ),
        (
            &plain,
            b"\x05\x00\x05\x00\x00\x00\x00",
            SocksError::BadAddressType(0),
        ),
        (
            &resolve,
            b"\x05\x00\x05\x00\x00\x03\x01x\x00\x00",
            SocksError::UnexpectedAnswer,
        ),
        (
            &ptr,
            b"\x05\x00\x05\x00\x00\x01\x01\x02\x03\x04\x00\x00",
            SocksError::UnexpectedAnswer,
        ),
        (
            &ptr,
            b"\x05\x00\x05\x00\x00\x03\x00\x00\x00",
            SocksError::BadName,
        ),
        (
            &ptr,
            b"\x05\x00\x05\x00\x00\x03\x03a\nb\x00\x00",
            SocksError::BadName,
        ),
        (
            &ptr,
            b"\x05\x00\x05\x00\x00\x03\x03a\0b\x00\x00",
            SocksError::BadName,
        ),
        (
            &ptr,
            b"\x05\x00\x05\x00\x00\x03\x02\xc3\xa9\x00\x00",
            SocksError::BadName,
        ),
    ];
    for (hs, replies, want) in rows {
        assert_eq!(drive(hs, replies).err(), Some(*want), "{replies:?}");
    }
}

#[test]
fn longest_name_reply_fits_the_bound() {
    let ptr = Handshake::new(
        Command::ResolvePtr,
        &Target::Addr(v4("1.2.3.4:0")),
        Some(&creds()),
    )
    .unwrap();
    let name = [b'n'; 255];
    let mut replies = vec![5, 2, 1, 0, 5, 0, 0, 3, 255];
    replies.extend_from_slice(&name);
    replies.extend_from_slice(&[0, 0]);
    assert_eq!(replies.len(), MAX_REPLIES);
    let (answer, used) = drive(&ptr, &replies).unwrap();
    assert_eq!(used, MAX_REPLIES);
    match answer {
        Answer::Name(n) => assert_eq!(n.as_str().len(), 255),
        other => panic!("{other:?}"),
    }
}

#[test]
fn credentials_never_show_in_debug_output() {
    let c = Credentials {
        username: b"alice",
        password: b"sekrit",
    };
    let hs = Handshake::new(Command::Connect, &Target::Name("a.test", 1), Some(&c)).unwrap();
    let shown = format!("{c:?} {hs:?}");
    assert!(
        !shown.contains("alice") && !shown.contains("sekrit"),
        "{shown}"
    );
}

/// Random replies never panic and never ask for more than MAX_REPLIES bytes.
#[test]
fn random_replies_never_panic() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let c = creds();
    let handshakes = [
        Handshake::new(Command::Connect, &Target::Name("a.test", 80), None).unwrap(),
        Handshake::new(Command::Resolve, &Target::Name("a.test", 0), Some(&c)).unwrap(),
        Handshake::new(Command::ResolvePtr, &Target::Addr(v4("1.2.3.4:0")), None).unwrap(),
    ];
    for _ in 0..200_000 {
        let len = (next() % 300) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias towards plausible prefixes so the deeper states are reached.
        if len > 4 && next() % 2 == 0 {
            buf[0] = 5;
            buf[2] = 5;
            buf[1] = [0, 2][(next() % 2) as usize];
        }
        for hs in &handshakes {
            if let Ok(Progress::Need(n)) = hs.progress(&buf) {
                assert!(n <= MAX_REPLIES && n > buf.len().min(n - 1));
            }
        }
    }
}

#[test]
fn drive_sends_one_flight_and_reads_no_further_than_the_replies() {
    let hs = Handshake::new(
        Command::Connect,
        &Target::Name("a.test", 80),
        Some(&creds()),
    )
    .unwrap();
    let mut wire = b"\x01\x00\x05\x00\x00\x01\0\0\0\0\0\0app".to_vec();
    let mut sent = Vec::new();
    let answer = hs.drive(
        |io| match io {
            Io::Send(b) => {
                sent.push(b.to_vec());
                Ok::<usize, Ended>(b.len())
            }
            Io::Recv(window) => {
                let n = window.len().min(wire.len()).min(3);
                window[..n].copy_from_slice(&wire[..n]);
                wire.drain(..n);
                Ok(n)
            }
        },
        |e| e,
    );
    assert_eq!(answer, Ok(Answer::Connected));
    assert_eq!(sent, vec![hs.flight().to_vec()]);
    assert_eq!(wire, b"app");
    let closed = hs.drive(
        |io| match io {
            Io::Send(b) => Ok::<usize, Ended>(b.len()),
            Io::Recv(_) => Ok(0),
        },
        |e| e,
    );
    assert_eq!(closed, Err(Ended::Closed));
}
