//! The one question every hook asks: proxy it through Tor, pass it to libc, or refuse it.
//!
//! Pure functions of (family, type, destination, settings). The hooks in `libtorify` convert
//! C arguments into these types, ask, and act on the answer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use torify_conf::{Localhost, Settings, SocksEndpoint};

use crate::pool::Pool;
use crate::refusal::{Reason, Refusal};

/// What kind of socket a call is made on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketKind {
    /// AF_INET, AF_UNIX, …
    pub family: i32,
    /// SOCK_STREAM, SOCK_DGRAM, … without SOCK_NONBLOCK/SOCK_CLOEXEC.
    pub ty: i32,
}

impl SocketKind {
    /// True for AF_INET and AF_INET6.
    pub fn is_inet(self) -> bool {
        is_inet(self.family)
    }
}

fn is_inet(family: i32) -> bool {
    family == libc::AF_INET || family == libc::AF_INET6
}

/// Families that never leave the machine: unix sockets, the kernel's netlink, the kernel's
/// crypto API. Everything else that is not AF_INET/AF_INET6 could carry packets past Tor.
pub fn is_local_family(family: i32) -> bool {
    matches!(family, libc::AF_UNIX | libc::AF_NETLINK | libc::AF_ALG)
}

/// The answer for socket().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketVerdict {
    /// Let libc create it.
    Libc,
    /// Fail with this errno.
    Refuse(Refusal),
}

/// Decides socket(family, ty, protocol); `ty` may carry SOCK_NONBLOCK/SOCK_CLOEXEC.
pub fn socket(family: i32, ty: i32, protocol: i32, s: &Settings) -> SocketVerdict {
    let ty = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let refuse = |errno, reason| SocketVerdict::Refuse(Refusal { errno, reason });
    if is_local_family(family) {
        return SocketVerdict::Libc;
    }
    if !is_inet(family) {
        return refuse(libc::EAFNOSUPPORT, Reason::Family(family));
    }
    match ty {
        libc::SOCK_STREAM if protocol == 0 || protocol == libc::IPPROTO_TCP => SocketVerdict::Libc,
        // SCTP's one-to-one style and MPTCP are stream sockets too, but not TCP.
        libc::SOCK_STREAM => refuse(libc::EPROTONOSUPPORT, Reason::Protocol(protocol)),
        // UDP may only ever reach loopback, and only at level 2; sendto/connect decide.
        libc::SOCK_DGRAM if s.allow_outbound_localhost == Localhost::TcpUdp => SocketVerdict::Libc,
        _ => refuse(libc::EPERM, Reason::SocketType { family, ty }),
    }
}

/// Where a connect() (or a sendto()) points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// An internet address.
    Inet(SocketAddr),
    /// AF_UNSPEC: dissolve the association.
    Unspec,
    /// A unix socket path or another non-internet family.
    Other(i32),
}

/// The answer for connect().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectVerdict {
    /// Let libc connect directly (local sockets, Tor itself, allowed loopback).
    Libc,
    /// Connect through Tor to this address (IPv4-mapped IPv6 already unwrapped).
    Proxy(SocketAddr),
    /// Connect through Tor by the name this stand-in address of `Pool` was handed out for.
    ProxyName(Pool, Ipv4Addr, u16),
    /// Let libc connect directly to this address (IPv4-mapped IPv6 unwrapped), outside Tor,
    /// because it is inside a network of `allow.direct`. Apart from [`ConnectVerdict::Libc`]
    /// so that the library can say it.
    Direct(SocketAddr),
    /// Fail with this errno.
    Refuse(Refusal),
}

/// `::ffff:a.b.c.d` is an IPv4 destination in IPv6 clothing; judge it as IPv4.
pub fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

fn is_unspecified(ip: IpAddr) -> bool {
    match ip {
        // 0.0.0.0/8 is "this network": Linux connects 0.0.0.0 to the local host.
        IpAddr::V4(v4) => v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_unspecified(),
    }
}

/// The Tor SOCKS address, if it is an internet one.
fn tor_inet(s: &Settings) -> Option<SocketAddr> {
    match s.socks_endpoint() {
        SocksEndpoint::Inet(a) => Some(unmap(a)),
        _ => None,
    }
}

/// True when `ip` (already unmapped) is inside a network of `allow.direct`.
pub fn is_direct(ip: IpAddr, s: &Settings) -> bool {
    s.allow_direct.iter().any(|net| net.contains(ip))
}

/// Decides connect(fd, dest) for a socket of `kind`.
pub fn connect(kind: SocketKind, dest: Destination, s: &Settings) -> ConnectVerdict {
    let refuse = |errno, reason| ConnectVerdict::Refuse(Refusal { errno, reason });
    if is_local_family(kind.family) {
        return ConnectVerdict::Libc;
    }
    if !kind.is_inet() {
        // A socket of a refused family that we did not create (inherited, or made by a raw
        // syscall): still nothing of it goes out.
        return refuse(libc::EAFNOSUPPORT, Reason::Family(kind.family));
    }
    let raw = match dest {
        Destination::Inet(a) => a,
        // Dissolving an association or an address the kernel rejects for an internet socket
        // sends nothing.
        Destination::Unspec | Destination::Other(_) => return ConnectVerdict::Libc,
    };
    let stream = kind.ty == libc::SOCK_STREAM;
    // The kernel refuses an address of the other family on a TCP socket; so do we (only UDP
    // over IPv6 takes an IPv4 sockaddr, and it is judged by its address below).
    let family_matches = matches!(
        (kind.family, raw),
        (libc::AF_INET, SocketAddr::V4(_)) | (libc::AF_INET6, SocketAddr::V6(_))
    );
    if stream && !family_matches {
        return refuse(libc::EAFNOSUPPORT, Reason::FamilyMismatch(raw));
    }
    let addr = unmap(raw);
    if is_unspecified(addr.ip()) {
        return refuse(libc::EPERM, Reason::Unspecified(raw));
    }
    let loopback = addr.ip().is_loopback();
    // allow.direct covers TCP only: a datagram to a LAN address stays refused like any other
    // (UDP to a LAN DNS server would be name resolution outside Tor).
    if !stream {
        return if loopback && s.allow_outbound_localhost == Localhost::TcpUdp {
            ConnectVerdict::Libc
        } else {
            refuse(libc::EPERM, Reason::Datagram(raw))
        };
    }
    if tor_inet(s) == Some(addr) {
        return ConnectVerdict::Libc;
    }
    if let IpAddr::V4(v4) = addr.ip()
        && let Some(pool) = Pool::of(v4, s)
    {
        return ConnectVerdict::ProxyName(pool, v4, addr.port());
    }
    // After the stand-in ranges (the settings refuse an overlap, but a stand-in address is
    // never a LAN host), before the proxy.
    if is_direct(addr.ip(), s) {
        return ConnectVerdict::Direct(addr);
    }
    if loopback {
        return if s.allow_outbound_localhost >= Localhost::Tcp {
            ConnectVerdict::Libc
        } else {
            refuse(libc::EPERM, Reason::Loopback(raw))
        };
    }
    ConnectVerdict::Proxy(addr)
}

/// Decides listen() and accept() on a socket bound to `bound`.
pub fn inbound(kind: SocketKind, bound: Option<SocketAddr>, s: &Settings) -> SocketVerdict {
    if is_local_family(kind.family) {
        return SocketVerdict::Libc;
    }
    let bound = bound.map(unmap);
    if !kind.is_inet() {
        return SocketVerdict::Refuse(Refusal {
            errno: libc::EAFNOSUPPORT,
            reason: Reason::Family(kind.family),
        });
    }
    if s.allow_inbound || bound.is_some_and(|b| b.ip().is_loopback()) {
        return SocketVerdict::Libc;
    }
    let shown = bound.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    SocketVerdict::Refuse(Refusal {
        errno: libc::EPERM,
        reason: Reason::Inbound(shown),
    })
}

/// Whether an open socket of `kind` may be sent to another process with SCM_RIGHTS: only
/// local ones (another process could use an internet socket outside Tor).
pub fn may_pass(kind: SocketKind) -> Result<(), Refusal> {
    if is_local_family(kind.family) {
        return Ok(());
    }
    Err(Refusal {
        errno: libc::EPERM,
        reason: Reason::PassSocket(kind.family),
    })
}

/// What a socket received from another process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    /// Not connected: a later connect() here goes through Tor.
    Unconnected,
    /// Listening on this address.
    Listening(Option<SocketAddr>),
    /// Connected to this peer.
    Connected(SocketAddr),
}

/// Whether a socket received from another process (SCM_RIGHTS) may be kept: not when it would
/// carry traffic around Tor.
pub fn may_receive(kind: SocketKind, state: SocketState, s: &Settings) -> Result<(), Refusal> {
    let refuse = |peer| {
        Err(Refusal {
            errno: libc::EACCES,
            reason: Reason::ReceivedSocket(peer),
        })
    };
    if is_local_family(kind.family) {
        return Ok(());
    }
    if !kind.is_inet() || kind.ty != libc::SOCK_STREAM {
        let peer = match state {
            SocketState::Connected(peer) => Some(peer),
            SocketState::Listening(_) | SocketState::Unconnected => None,
        };
        return refuse(peer);
    }
    match state {
        SocketState::Unconnected => Ok(()),
        SocketState::Listening(bound) => match inbound(kind, bound, s) {
            SocketVerdict::Libc => Ok(()),
            _ => refuse(bound),
        },
        SocketState::Connected(peer) => {
            let peer = unmap(peer);
            let loopback_allowed =
                peer.ip().is_loopback() && s.allow_outbound_localhost >= Localhost::Tcp;
            // A socket connected to an allowed LAN destination carries what this process could
            // have connected itself.
            if tor_inet(s) == Some(peer) || loopback_allowed || is_direct(peer.ip(), s) {
                Ok(())
            } else {
                refuse(Some(peer))
            }
        }
    }
}

#[cfg(test)]
mod tests;
