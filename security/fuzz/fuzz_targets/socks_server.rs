//! Feeds arbitrary bytes, in arbitrary pieces, to the SOCKS server handshake the embedded
//! client's service runs for every connection (tor-socksproto's SocksProxyHandshake, driven
//! as torify/src/arti/socks.rs drives it): what a hostile local program may send. It must never
//! panic, and must end (finish or fail) or ask for more within the bytes it was given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tor_socksproto::{Buffer, Handshake as _, NextStep, SocksProxyHandshake};

fuzz_target!(|data: &[u8]| {
    // The first byte sets how the input is cut into reads (1..=16 bytes each).
    let Some((&cut, mut input)) = data.split_first() else { return };
    let piece = usize::from(cut % 16) + 1;
    let mut hs = SocksProxyHandshake::new();
    let mut buf = Buffer::new();
    for _ in 0..10_000 {
        match hs.step(&mut buf) {
            Ok(NextStep::Send(_)) => {}
            Ok(NextStep::Recv(mut recv)) => {
                let room = recv.buf();
                let n = piece.min(room.len()).min(input.len());
                if n == 0 {
                    return;
                }
                room[..n].copy_from_slice(&input[..n]);
                input = &input[n..];
                if recv.note_received(n).is_err() {
                    return;
                }
            }
            Ok(NextStep::Finished(done)) => {
                let (request, _early) = done.into_output_and_vec();
                let _ = (request.command(), request.port(), request.addr(), request.auth());
                return;
            }
            Err(_) => return,
        }
    }
    panic!("the handshake neither ended nor ran out of input");
});
