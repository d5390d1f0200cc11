//! The descriptors the command would inherit from whoever started torify. An internet socket
//! opened outside torify (a parent's UDP socket on fd 7: `torify sh -c 'echo x >&7'`) would
//! carry whatever the command writes around Tor, and a program the library cannot see (a
//! static helper a script runs) would use it freely. Each one the policy would not let the
//! command open itself is marked close-on-exec, so the command never has it, with one line.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use rustix::io::{FdFlags, fcntl_getfd, fcntl_setfd};
use rustix::net::sockopt;
use torify_conf::Settings;
use torify_core::policy::{self, SocketKind, SocketState};
use torify_core::refusal::SocketNoun;

/// What is known of one inherited socket, for the line.
struct Inherited {
    fd: RawFd,
    kind: SocketKind,
    state: SocketState,
}

fn describe(s: &Inherited) -> String {
    let state = match s.state {
        SocketState::Connected(peer) => format!(" connected to {peer}"),
        SocketState::Listening(Some(at)) => format!(" listening on {at}"),
        SocketState::Listening(None) => " listening".to_owned(),
        SocketState::Unconnected => String::new(),
    };
    format!(
        "closed descriptor {} ({}{state}) before starting the command: it was opened outside torify and would carry data around Tor",
        s.fd,
        SocketNoun(s.kind)
    )
}

fn inet(addr: rustix::net::SocketAddrAny) -> Option<SocketAddr> {
    SocketAddr::try_from(addr).ok()
}

/// What socket `fd` is, when it is one the command would inherit (no close-on-exec).
fn inspect(fd: BorrowedFd<'_>) -> Option<Inherited> {
    if fcntl_getfd(fd).ok()?.contains(FdFlags::CLOEXEC) {
        return None;
    }
    let family = match sockopt::socket_domain(fd) {
        Ok(f) => i32::from(f.as_raw()),
        Err(rustix::io::Errno::NOTSOCK | rustix::io::Errno::BADF) => return None,
        // Cannot tell: judged as a socket of an unknown family, which no policy keeps.
        Err(_) => -1,
    };
    let ty = sockopt::socket_type(fd).map_or(-1, |t| t.as_raw() as i32);
    let kind = SocketKind { family, ty };
    let state = if sockopt::socket_acceptconn(fd).unwrap_or(false) {
        SocketState::Listening(rustix::net::getsockname(fd).ok().and_then(inet))
    } else {
        match rustix::net::getpeername(fd).ok().flatten().and_then(inet) {
            Some(peer) => SocketState::Connected(peer),
            None => SocketState::Unconnected,
        }
    };
    Some(Inherited {
        fd: fd.as_raw_fd(),
        kind,
        state,
    })
}

/// What `seal` did: one line per socket it closed. Holding one is what lets the command be
/// exec'd with the seal mark (`launch::exec`).
pub(crate) struct Sealed {
    pub(crate) lines: Vec<String>,
}

/// Marks close-on-exec every inherited socket that would go around Tor.
pub(crate) fn seal(settings: &Settings) -> Sealed {
    Sealed {
        lines: seal_where(|socket| {
            policy::may_receive(socket.kind, socket.state, settings).is_err()
        }),
    }
}

/// For the cage: every inherited internet (or other non-local) socket belongs to the network
/// outside it, so all of them are closed.
pub(crate) fn seal_all() -> Vec<String> {
    seal_where(|_| true)
}

fn seal_where(refused: impl Fn(&Inherited) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    // The launcher is single-threaded here: each descriptor listed stays open while it is
    // looked at.
    torify_sys::fd::for_each_open(|fd| {
        let Some(socket) = inspect(fd) else {
            return;
        };
        if policy::is_local_family(socket.kind.family) {
            return;
        }
        if refused(&socket) {
            let flags = fcntl_getfd(fd).unwrap_or(FdFlags::empty());
            if fcntl_setfd(fd, flags | FdFlags::CLOEXEC).is_ok() {
                lines.push(describe(&socket));
            }
        }
    });
    lines
}
