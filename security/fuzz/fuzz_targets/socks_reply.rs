//! Feeds arbitrary bytes to the SOCKS5 reply parser as if a hostile SOCKS server sent them.
//! It must never panic, never ask for more than MAX_REPLIES bytes, and never claim to have used
//! more bytes than it was given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use torify_core::socks5::{Command, Credentials, Handshake, MAX_REPLIES, Progress, Target};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, replies)) = data.split_first() else { return };
    let creds = Credentials { username: b"fuzz", password: b"fuzz" };
    let auth = (selector & 1 == 1).then_some(&creds);
    let target_addr = Target::Addr("198.51.100.7:80".parse().unwrap_or_else(|_| unreachable!()));
    let (command, target) = match selector >> 1 & 3 {
        0 => (Command::Connect, Target::Name("fuzz.test", 80)),
        1 => (Command::Resolve, Target::Name("fuzz.test", 0)),
        2 => (Command::ResolvePtr, target_addr),
        _ => (Command::Connect, target_addr),
    };
    let Ok(hs) = Handshake::new(command, &target, auth) else { return };
    for len in 0..=replies.len() {
        match hs.progress(&replies[..len]) {
            Ok(Progress::Need(n)) => assert!(n > len && n <= MAX_REPLIES),
            Ok(Progress::Done(_, used)) => assert!(used <= len),
            Err(_) => {}
        }
    }
});
