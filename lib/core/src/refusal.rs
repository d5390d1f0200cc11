//! Why something was refused: one line for the user and one errno for the program.

use std::fmt;
use std::net::SocketAddr;

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
#[non_exhaustive]
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
    UnknownCookie(SocketAddr),
    /// The settings could not be read, so nothing may leave.
    BadSettings,
    /// A listener reachable from the network (its bound address).
    Inbound(SocketAddr),
    /// An open internet socket sent to another process (SCM_RIGHTS), of this family.
    PassSocket(i32),
    /// An internet socket received from another process that would bypass Tor (its peer, if
    /// connected).
    ReceivedSocket(Option<SocketAddr>),
}

impl Reason {
    /// A small number per kind of reason, so each kind can be reported once per process.
    pub fn kind(&self) -> usize {
        match self {
            Reason::Family(_) => 0,
            Reason::SocketType { .. } => 1,
            Reason::Protocol(_) => 2,
            Reason::Unspecified(_) => 3,
            Reason::Loopback(_) => 4,
            Reason::Datagram(_) => 5,
            Reason::UnknownCookie(_) => 6,
            Reason::BadSettings => 7,
            Reason::FamilyMismatch(_) => 8,
            Reason::Inbound(_) => 9,
            Reason::PassSocket(_) => 15,
            Reason::ReceivedSocket(_) => 16,
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
            Reason::UnknownCookie(a) => write!(
                f,
                "refused connection to {a}: it is in the .onion stand-in range (dns.onion_range, OnionAddrRange) but no .onion name was looked up for it; connect by name, or move the range"
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
            Reason::BadSettings => f.write_str(
                "refused all network access: the settings are invalid (the error above says where); fix them",
            ),
        }
    }
}
