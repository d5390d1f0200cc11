//! Why something was refused: one line for the user and one errno for the program.

use std::fmt;
use std::net::SocketAddr;

use crate::pool::Pool;

/// A refusal: the errno the call fails with, and the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// What the call sets errno to.
    pub errno: i32,
    /// Why.
    pub reason: Reason,
}

/// The reasons a call is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A socket family Tor cannot carry (AF_PACKET, AF_BLUETOOTH, …).
    Family(i32),
    /// An internet socket of a type other than a TCP stream (UDP, raw, …).
    SocketType {
        /// AF_INET or AF_INET6.
        family: i32,
        /// SOCK_DGRAM, SOCK_RAW, …
        ty: i32,
    },
    /// A stream socket of a protocol other than TCP (SCTP, MPTCP).
    Protocol(i32),
    /// A connection to the unspecified address (which Linux takes to mean this host).
    Unspecified(SocketAddr),
    /// A connection to loopback, which would bypass Tor.
    Loopback(SocketAddr),
    /// A datagram to a destination Tor cannot carry it to.
    Datagram(SocketAddr),
    /// An address of the other internet family than the socket's (the kernel refuses it too).
    FamilyMismatch(SocketAddr),
    /// A stand-in `.onion` address that no name was handed out for.
    UnknownCookie(SocketAddr, Pool),
    /// The settings could not be read, so nothing may leave.
    BadSettings,
    /// A listener reachable from the network (its bound address).
    Inbound(SocketAddr),
    /// An open internet socket sent to another process (SCM_RIGHTS), of this family.
    PassSocket(i32),
    /// An internet socket received from another process that would bypass Tor (its peer, if
    /// connected).
    ReceivedSocket(Option<SocketAddr>),
    /// A socket this process did not open through torify (inherited, or taken from another
    /// process) that would carry data around Tor (its peer, if connected).
    ForeignSocket(Option<SocketAddr>),
    /// What a descriptor is could not be found out (getsockopt failed with this errno), so
    /// the call cannot be judged.
    Unclassified(i32),
}

/// Kinds of refusal, each reported a few times per process before it goes quiet (a program
/// retrying in a loop must not flood its stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`Reason::Family`].
    Family,
    /// [`Reason::SocketType`].
    SocketType,
    /// [`Reason::Protocol`].
    Protocol,
    /// [`Reason::Unspecified`].
    Unspecified,
    /// [`Reason::Loopback`].
    Loopback,
    /// [`Reason::Datagram`].
    Datagram,
    /// [`Reason::UnknownCookie`].
    UnknownCookie,
    /// [`Reason::BadSettings`].
    BadSettings,
    /// [`Reason::FamilyMismatch`].
    FamilyMismatch,
    /// [`Reason::Inbound`].
    Inbound,
    /// A name that may not be resolved.
    Name,
    /// A DNS question that cannot be answered through Tor.
    Question,
    /// rcmd, rexec, ruserok and friends.
    RemoteLogin,
    /// A setuid, setgid or file-capability program.
    Privileged,
    /// A program the library cannot enter (static, Go, another libc).
    Unenterable,
    /// [`Reason::PassSocket`].
    PassSocket,
    /// [`Reason::ReceivedSocket`].
    ReceivedSocket,
    /// io_uring.
    IoUring,
    /// [`Reason::Unclassified`].
    Unclassified,
    /// [`Reason::ForeignSocket`].
    ForeignSocket,
    /// The Sun RPC functions of libc.
    Rpc,
}

impl Kind {
    /// How many kinds there are (the size of a table indexed by `kind as usize`).
    pub const COUNT: usize = Kind::Rpc as usize + 1;
}

impl Reason {
    /// The kind of this reason, for the log throttle.
    pub fn kind(&self) -> Kind {
        match self {
            Reason::Family(_) => Kind::Family,
            Reason::SocketType { .. } => Kind::SocketType,
            Reason::Protocol(_) => Kind::Protocol,
            Reason::Unspecified(_) => Kind::Unspecified,
            Reason::Loopback(_) => Kind::Loopback,
            Reason::Datagram(_) => Kind::Datagram,
            Reason::UnknownCookie(..) => Kind::UnknownCookie,
            Reason::BadSettings => Kind::BadSettings,
            Reason::FamilyMismatch(_) => Kind::FamilyMismatch,
            Reason::Inbound(_) => Kind::Inbound,
            Reason::PassSocket(_) => Kind::PassSocket,
            Reason::ReceivedSocket(_) => Kind::ReceivedSocket,
            Reason::ForeignSocket(_) => Kind::ForeignSocket,
            Reason::Unclassified(_) => Kind::Unclassified,
        }
    }
}

/// The conventional name of a socket family.
pub fn family_name(family: i32) -> &'static str {
    match family {
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        libc::AF_NETLINK => "AF_NETLINK",
        libc::AF_PACKET => "AF_PACKET",
        libc::AF_BLUETOOTH => "AF_BLUETOOTH",
        libc::AF_CAN => "AF_CAN",
        libc::AF_TIPC => "AF_TIPC",
        libc::AF_VSOCK => "AF_VSOCK",
        libc::AF_X25 => "AF_X25",
        libc::AF_AX25 => "AF_AX25",
        libc::AF_APPLETALK => "AF_APPLETALK",
        libc::AF_IPX => "AF_IPX",
        libc::AF_RDS => "AF_RDS",
        libc::AF_XDP => "AF_XDP",
        libc::AF_ALG => "AF_ALG",
        libc::AF_KEY => "AF_KEY",
        _ => "an unknown family",
    }
}

/// Linux's obsolete packet type (libc deprecates the constant, programs may still pass it).
const SOCK_PACKET: i32 = 10;

fn type_name(ty: i32) -> &'static str {
    match ty {
        libc::SOCK_DGRAM => "UDP (datagram)",
        libc::SOCK_RAW => "raw",
        libc::SOCK_SEQPACKET => "SCTP (seqpacket)",
        libc::SOCK_RDM => "RDM",
        SOCK_PACKET => "packet",
        _ => "non-stream",
    }
}

/// A socket described for a person: "a UDP socket", "a TCP socket", "an AF_PACKET socket".
pub struct SocketNoun(pub crate::policy::SocketKind);

impl fmt::Display for SocketNoun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let crate::policy::SocketKind { family, ty } = self.0;
        if family == libc::AF_INET || family == libc::AF_INET6 {
            match ty {
                libc::SOCK_STREAM => f.write_str("a TCP socket"),
                libc::SOCK_DGRAM => f.write_str("a UDP socket"),
                other => write!(f, "a {} socket", type_name(other)),
            }
        } else {
            write!(f, "a socket of family {}", family_name(family))
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LOCALHOST: &str = "set allow.outbound_localhost (AllowOutboundLocalhost) to 1 for TCP or 2 for TCP and UDP to permit loopback";
        match self.reason {
            Reason::Family(family) => write!(
                f,
                "refused a socket of family {} ({family}): Tor carries only TCP streams; no setting allows it",
                family_name(family)
            ),
            Reason::SocketType { family, ty } => write!(
                f,
                "refused a {} socket ({}): Tor carries only TCP streams and names resolve through Tor; {}",
                type_name(ty),
                family_name(family),
                if ty == libc::SOCK_DGRAM {
                    "allow.outbound_localhost = 2 permits UDP to loopback only"
                } else {
                    "no setting allows it"
                }
            ),
            Reason::Protocol(p) => write!(
                f,
                "refused a stream socket of protocol {p}: Tor carries only TCP; no setting allows it"
            ),
            Reason::Unspecified(a) => write!(
                f,
                "refused connection to {a}: the unspecified address means this host; no setting allows it"
            ),
            Reason::Loopback(a) => write!(
                f,
                "refused connection to {a}: loopback traffic would bypass Tor; {LOCALHOST}"
            ),
            Reason::Datagram(a) => write!(
                f,
                "refused datagram to {a}: Tor carries only TCP streams; allow.outbound_localhost = 2 permits UDP to loopback only"
            ),
            Reason::UnknownCookie(a, Pool::Onion) => write!(
                f,
                "refused connection to {a}: it is in the .onion stand-in range (dns.onion_range, OnionAddrRange) but no .onion name was looked up for it in this torify session; connect by name, or move the range"
            ),
            Reason::UnknownCookie(a, Pool::Exit) => write!(
                f,
                "refused connection to {a}: it is in the stand-in range of names resolved at the exit (dns.exit_range) but no name was looked up for it in this torify session; connect by name, move the range, or set dns.mode = resolve"
            ),
            Reason::FamilyMismatch(a) => write!(
                f,
                "refused connection to {a}: the address family does not match the socket's"
            ),
            Reason::Inbound(a) => write!(
                f,
                "refused listening on {a}: connections from the network would reach this program directly, not through Tor; allow.inbound (AllowInbound 1) permits it (listeners on loopback are always allowed)"
            ),
            Reason::PassSocket(family) => write!(
                f,
                "refused passing an open {} socket to another process: it could use it outside Tor; no setting allows it",
                family_name(family)
            ),
            Reason::ReceivedSocket(peer) => match peer {
                Some(a) => write!(f, "refused an internet socket received from another process: it is connected to {a}, not through Tor; no setting allows it"),
                None => f.write_str("refused an internet socket received from another process: Tor cannot carry it; no setting allows it"),
            },
            Reason::ForeignSocket(peer) => match peer {
                Some(a) => write!(f, "refused sending on a socket torify did not open (inherited or taken from another process): it is connected to {a}, not through Tor; no setting allows it"),
                None => f.write_str("refused sending on a socket torify did not open (inherited or taken from another process): Tor cannot carry it; no setting allows it"),
            },
            Reason::Unclassified(errno) => write!(
                f,
                "refused a call on a descriptor whose kind could not be found out (getsockopt failed: {}); it might have gone around Tor",
                errno_name(errno)
            ),
            Reason::BadSettings => f.write_str(
                "refused all network access: the settings are invalid (the error above says where); fix them",
            ),
        }
    }
}

/// The conventional name of an errno value, for messages.
pub fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EBADF => "EBADF",
        libc::EFAULT => "EFAULT",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EMFILE => "EMFILE",
        libc::ENOMEM => "ENOMEM",
        _ => "another error",
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn every_kind_fits_the_table() {
        assert_eq!(Kind::COUNT, 21);
        assert!((Kind::ForeignSocket as usize) < Kind::COUNT);
    }
}
