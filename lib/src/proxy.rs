//! Opening a stream through Tor's SOCKS port on a program's descriptor.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use libc::c_int;
use torify_conf::SocksEndpoint;
use torify_core::policy::SocketKind;
use torify_core::socks5::{Answer, Command, Ended, Handshake, Io, SocksError, Target};

use crate::isolation;
use crate::pending::{self, Pending};
use crate::runtime::Runtime;
use crate::sockaddr::CSockAddr;
use crate::sys::{self, Errno, OnSignal};

/// How long a handshake may take in all: longer than tor's own stream timeouts (SocksTimeout,
/// 2 minutes), so tor's answer comes first whenever tor answers at all.
pub(crate) const HANDSHAKE_SECS: u64 = 150;

/// Why a stream through Tor could not be opened.
#[derive(Debug)]
pub(crate) enum ProxyError {
    /// Tor's SOCKS port did not answer.
    Unreachable(String, Errno),
    /// The conversation with the SOCKS port failed.
    Io(Errno),
    /// The SOCKS port closed the connection mid-handshake.
    Closed,
    /// The SOCKS server refused or answered nonsense.
    Socks(SocksError),
    /// No isolation token could be made.
    NoToken,
}

impl ProxyError {
    /// The errno the program sees.
    pub(crate) fn errno(&self) -> Errno {
        match self {
            ProxyError::Unreachable(_, e) | ProxyError::Io(e) => *e,
            ProxyError::Closed => libc::ECONNREFUSED,
            ProxyError::Socks(e) => e.errno(),
            ProxyError::NoToken => libc::EIO,
        }
    }
}

fn strerror(e: Errno) -> String {
    let full = std::io::Error::from_raw_os_error(e).to_string();
    match full.find(" (os error") {
        Some(i) => full[..i].to_owned(),
        None => full,
    }
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Unreachable(at, e) => write!(
                f,
                "cannot reach Tor's SOCKS port at {at}: {}; start tor, or point tor.address/tor.port (-a/-P, TORSOCKS_TOR_ADDRESS/TORSOCKS_TOR_PORT) at its SocksPort",
                strerror(*e)
            ),
            ProxyError::Io(e) => write!(f, "the SOCKS conversation with Tor failed: {}", strerror(*e)),
            ProxyError::Closed => f.write_str("Tor's SOCKS port closed the connection during the handshake"),
            ProxyError::Socks(e) => write!(f, "{e}"),
            ProxyError::NoToken => f.write_str("no random isolation token could be made (getrandom failed); refusing rather than connecting without isolation"),
        }
    }
}

/// The C address of Tor's SOCKS endpoint.
fn endpoint_addr(endpoint: SocksEndpoint<'_>) -> Result<CSockAddr, ProxyError> {
    let unreachable = |e| ProxyError::Unreachable(endpoint.to_string(), e);
    match endpoint {
        SocksEndpoint::Inet(a) => Ok(CSockAddr::inet(a)),
        SocksEndpoint::Unix(p) => CSockAddr::unix(p).ok_or_else(|| unreachable(libc::ENAMETOOLONG)),
    }
}

/// How to reach Tor from the program's socket `fd` of `family`: on the same descriptor
/// (possibly through an IPv4-mapped address), or on a new socket that then replaces it.
fn route(
    family: c_int,
    fd: c_int,
    endpoint: SocksEndpoint<'_>,
) -> Result<(CSockAddr, bool), ProxyError> {
    match endpoint {
        SocksEndpoint::Inet(a) if family == libc::AF_INET && a.is_ipv4() => {
            Ok((CSockAddr::inet(a), false))
        }
        SocksEndpoint::Inet(a) if family == libc::AF_INET6 && a.is_ipv6() => {
            Ok((CSockAddr::inet(a), false))
        }
        SocksEndpoint::Inet(SocketAddr::V4(a)) if family == libc::AF_INET6 && !v6only(fd) => {
            let mapped = SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port());
            Ok((CSockAddr::inet(mapped), false))
        }
        _ => Ok((endpoint_addr(endpoint)?, true)),
    }
}

fn v6only(fd: c_int) -> bool {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: value/len are locals of the right size.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    ret != 0 || value != 0
}

/// The handshake for a request to `target`, with this runtime's credentials.
fn prepare(command: Command, target: &Target<'_>, rt: &Runtime) -> Result<Handshake, ProxyError> {
    let auth = isolation::auth_for(&rt.settings, rt.session.as_ref(), target)
        .map_err(|()| ProxyError::NoToken)?;
    let creds = auth.as_ref().map(isolation::SocksAuth::credentials);
    Handshake::new(command, target, creds.as_ref()).map_err(ProxyError::Socks)
}

/// Runs one SOCKS handshake on a connected descriptor.
pub(crate) fn handshake(
    fd: c_int,
    command: Command,
    target: &Target<'_>,
    rt: &Runtime,
    deadline: Instant,
    on_signal: OnSignal,
) -> Result<Answer, ProxyError> {
    prepare(command, target, rt)?.drive(
        |io| {
            match io {
                Io::Send(bytes) => {
                    sys::send_all(fd, bytes, deadline, on_signal).map(|()| bytes.len())
                }
                Io::Recv(window) => sys::recv_some(fd, window, deadline, on_signal),
            }
            .map_err(ProxyError::Io)
        },
        ProxyError::from,
    )
}

impl From<Ended> for ProxyError {
    fn from(e: Ended) -> Self {
        match e {
            Ended::Closed => ProxyError::Closed,
            Ended::Refused(e) => ProxyError::Socks(e),
        }
    }
}

/// A new connection to Tor's SOCKS port, for a request of our own (RESOLVE, RESOLVE_PTR).
pub(crate) fn open_to_tor(rt: &Runtime, deadline: Instant) -> Result<c_int, ProxyError> {
    let endpoint = rt.settings.socks_endpoint();
    let tor = endpoint_addr(endpoint)?;
    let fd = sys::stream_socket(tor.family()).map_err(ProxyError::Io)?;
    match sys::connect_wait(fd, &tor, deadline, OnSignal::Restart) {
        Ok(()) => Ok(fd),
        Err(e) => {
            sys::close(fd);
            Err(ProxyError::Unreachable(endpoint.to_string(), e))
        }
    }
}

/// How long reaching Tor's SOCKS port itself may take (a local socket: at once, normally).
const LOCAL_SECS: u64 = 10;

/// Reaches Tor's SOCKS port on the program's `fd` (or on a new socket put in its place), and
/// runs `then` on the connected descriptor.
fn via_tor<T>(
    fd: c_int,
    kind: SocketKind,
    rt: &Runtime,
    deadline: Instant,
    on_signal: OnSignal,
    then: impl FnOnce(c_int) -> Result<T, ProxyError>,
) -> Result<T, ProxyError> {
    let endpoint = rt.settings.socks_endpoint();
    let (tor, replace) = route(kind.family, fd, endpoint)?;
    let work = if replace {
        let s = sys::stream_socket(tor.family()).map_err(ProxyError::Io)?;
        if sys::nonblocking(fd) {
            let _ = sys::set_status_flags(s, libc::O_NONBLOCK);
        }
        s
    } else {
        fd
    };
    let result = sys::connect_wait(work, &tor, deadline, on_signal)
        .map_err(|e| match e {
            libc::EINTR | libc::ETIMEDOUT => ProxyError::Io(e),
            e => ProxyError::Unreachable(endpoint.to_string(), e),
        })
        .and_then(|()| then(work))
        .and_then(|t| {
            if replace {
                let cloexec = sys::cloexec(fd).map_err(ProxyError::Io)?;
                sys::dup_onto(work, fd, cloexec).map_err(ProxyError::Io)?;
            }
            Ok(t)
        });
    if replace {
        sys::close(work);
    }
    result
}

/// Connects the program's blocking `fd` to `target` through Tor: the whole handshake, so that
/// connect() reports the destination's outcome. A signal interrupts it (EINTR, with the socket
/// reset for a retry), and SO_SNDTIMEO bounds it, as they bound a kernel connect.
pub(crate) fn connect(
    fd: c_int,
    kind: SocketKind,
    target: &Target<'_>,
    rt: &Runtime,
) -> Result<(), ProxyError> {
    let limit =
        sys::send_timeout(fd).map_or(HANDSHAKE_SECS, |t| t.as_secs().clamp(1, HANDSHAKE_SECS));
    let deadline = sys::deadline_in(limit);
    let result = via_tor(fd, kind, rt, deadline, OnSignal::Interrupt, |work| {
        handshake(
            work,
            Command::Connect,
            target,
            rt,
            deadline,
            OnSignal::Interrupt,
        )
        .map(|_| ())
    });
    if let Err(ProxyError::Io(libc::EINTR | libc::ETIMEDOUT)) = result {
        sys::reset_socket(fd, kind);
    }
    result
}

/// Connects the program's non-blocking `fd` to `target` through Tor and returns at once: the
/// whole handshake (greeting, credentials, request) goes out in one write, and the replies are
/// left for the program's first read to consume (see `pending`). Nothing here waits for Tor.
pub(crate) fn connect_nonblocking(
    fd: c_int,
    kind: SocketKind,
    target: &Target<'_>,
    rt: &Runtime,
) -> Result<(), ProxyError> {
    let deadline = sys::deadline_in(LOCAL_SECS);
    let hs = prepare(Command::Connect, target, rt)?;
    let shown = crate::guard::Shown(target).to_string();
    via_tor(fd, kind, rt, deadline, OnSignal::Restart, |work| {
        sys::send_all(work, hs.flight(), deadline, OnSignal::Restart).map_err(ProxyError::Io)?;
        let identity = sys::identity(work).ok_or(ProxyError::Io(libc::EBADF))?;
        pending::insert(fd, Pending::new(hs.replies(), shown.clone(), identity));
        Ok(())
    })
    .inspect_err(|_| pending::remove(fd))
}
