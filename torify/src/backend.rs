//! Which Tor to use: the tor daemon's SocksPort, or the Tor client embedded in the launcher.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use torify_conf::{Backend, Settings, SocksEndpoint};

/// The backend that will carry the command's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// A tor daemon's SocksPort.
    Daemon,
    /// The embedded client (arti).
    Embedded,
}

/// True when a SOCKS5 server answers a no-authentication greeting at `endpoint` within a
/// second: tor is running there.
pub(crate) fn socks_answers(endpoint: SocksEndpoint<'_>) -> bool {
    fn greet(mut s: impl Read + Write) -> bool {
        let mut reply = [0u8; 2];
        s.write_all(&[5, 1, 0]).is_ok() && s.read_exact(&mut reply).is_ok() && reply == [5, 0]
    }
    let limit = Duration::from_secs(1);
    match endpoint {
        SocksEndpoint::Inet(addr) => TcpStream::connect_timeout(&addr, limit)
            .and_then(|s| s.set_read_timeout(Some(limit)).map(|()| s))
            .is_ok_and(greet),
        SocksEndpoint::Unix(path) => UnixStream::connect(path)
            .and_then(|s| s.set_read_timeout(Some(limit)).map(|()| s))
            .is_ok_and(greet),
        _ => false,
    }
}

/// Picks the backend for `settings`: `auto` is the daemon when its SocksPort answers.
pub(crate) fn choose(settings: &Settings) -> Chosen {
    match settings.backend {
        Backend::Tor => Chosen::Daemon,
        Backend::Arti => Chosen::Embedded,
        _ => {
            if socks_answers(settings.socks_endpoint()) || !cfg!(feature = "arti") {
                Chosen::Daemon
            } else {
                Chosen::Embedded
            }
        }
    }
}
