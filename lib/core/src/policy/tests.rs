//! The policy table, one row per case: each socket() and connect() a program may make, and
//! the answer (proxy, pass to libc, or the errno) torify gives it.

use super::*;
use libc::{
    AF_ALG, AF_BLUETOOTH, AF_CAN, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_RDS, AF_TIPC,
    AF_UNIX, AF_VSOCK, AF_XDP, EAFNOSUPPORT, EPERM, EPROTONOSUPPORT, IPPROTO_ICMP, IPPROTO_RAW,
    IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW,
    SOCK_RDM, SOCK_SEQPACKET, SOCK_STREAM,
};
use torify_conf::{Ipv4Net, TorAddress};

fn settings(localhost: Localhost) -> Settings {
    Settings {
        allow_outbound_localhost: localhost,
        ..Settings::default()
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    Libc,
    Refuse(i32),
}

#[test]
fn socket_table() {
    use Localhost::*;
    let rows: &[(i32, i32, i32, Localhost, Want)] = &[
        (AF_INET, SOCK_STREAM, 0, Deny, Want::Libc),
        (AF_INET6, SOCK_STREAM, 0, Deny, Want::Libc),
        (
            AF_INET,
            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
            IPPROTO_TCP,
            Deny,
            Want::Libc,
        ),
        (
            AF_INET,
            SOCK_STREAM,
            IPPROTO_SCTP,
            Deny,
            Want::Refuse(EPROTONOSUPPORT),
        ),
        (
            AF_INET,
            SOCK_STREAM,
            262, /* MPTCP */
            Deny,
            Want::Refuse(EPROTONOSUPPORT),
        ),
        (AF_INET, SOCK_DGRAM, 0, Deny, Want::Refuse(EPERM)),
        (
            AF_INET6,
            SOCK_DGRAM | SOCK_CLOEXEC,
            IPPROTO_UDP,
            Tcp,
            Want::Refuse(EPERM),
        ),
        (AF_INET, SOCK_DGRAM, 0, TcpUdp, Want::Libc),
        (AF_INET, SOCK_DGRAM, IPPROTO_ICMP, Deny, Want::Refuse(EPERM)),
        (AF_INET, SOCK_RAW, IPPROTO_ICMP, TcpUdp, Want::Refuse(EPERM)),
        (AF_INET6, SOCK_RAW, IPPROTO_RAW, Deny, Want::Refuse(EPERM)),
        (
            AF_INET,
            SOCK_SEQPACKET,
            IPPROTO_SCTP,
            Deny,
            Want::Refuse(EPERM),
        ),
        (
            AF_INET,
            10, /* SOCK_PACKET */
            0,
            Deny,
            Want::Refuse(EPERM),
        ),
        (AF_INET, SOCK_RDM, 0, Deny, Want::Refuse(EPERM)),
        (
            AF_INET,
            6, /* SOCK_DCCP */
            0,
            Deny,
            Want::Refuse(EPERM),
        ),
        (AF_PACKET, SOCK_RAW, 0, TcpUdp, Want::Refuse(EAFNOSUPPORT)),
        (AF_PACKET, SOCK_DGRAM, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
        (
            AF_BLUETOOTH,
            SOCK_STREAM,
            0,
            Deny,
            Want::Refuse(EAFNOSUPPORT),
        ),
        (AF_VSOCK, SOCK_STREAM, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
        (AF_TIPC, SOCK_RDM, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
        (AF_CAN, SOCK_RAW, 1, Deny, Want::Refuse(EAFNOSUPPORT)),
        (AF_XDP, SOCK_RAW, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
        (AF_RDS, SOCK_SEQPACKET, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
        (AF_UNIX, SOCK_STREAM, 0, Deny, Want::Libc),
        (AF_UNIX, SOCK_DGRAM, 0, Deny, Want::Libc),
        (AF_NETLINK, SOCK_RAW, 0, Deny, Want::Libc),
        (AF_ALG, SOCK_SEQPACKET, 0, Deny, Want::Libc),
        (12345, SOCK_STREAM, 0, Deny, Want::Refuse(EAFNOSUPPORT)),
    ];
    for (family, ty, proto, localhost, want) in rows {
        let got = match socket(*family, *ty, *proto, &settings(*localhost)) {
            SocketVerdict::Libc => Want::Libc,
            SocketVerdict::Refuse(r) => Want::Refuse(r.errno),
        };
        assert_eq!(
            &got, want,
            "socket({family}, {ty}, {proto}) with {localhost:?}"
        );
    }
}

#[derive(Debug, PartialEq)]
enum C {
    Libc,
    Proxy(&'static str),
    Onion,
    Refuse(i32),
}

#[test]
fn connect_table() {
    use Localhost::*;
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let tcp6 = SocketKind {
        family: AF_INET6,
        ty: SOCK_STREAM,
    };
    let udp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_DGRAM,
    };
    let udp6 = SocketKind {
        family: AF_INET6,
        ty: SOCK_DGRAM,
    };
    let unix = SocketKind {
        family: AF_UNIX,
        ty: SOCK_STREAM,
    };
    let packet = SocketKind {
        family: AF_PACKET,
        ty: SOCK_RAW,
    };
    let rows: &[(SocketKind, &str, Localhost, C)] = &[
        (tcp4, "198.51.100.7:80", Deny, C::Proxy("198.51.100.7:80")),
        (
            tcp6,
            "[2001:db8::7]:443",
            Deny,
            C::Proxy("[2001:db8::7]:443"),
        ),
        // IPv4-mapped IPv6 is judged, and proxied, as IPv4.
        (
            tcp6,
            "[::ffff:198.51.100.7]:80",
            Deny,
            C::Proxy("198.51.100.7:80"),
        ),
        (tcp6, "[::ffff:127.0.0.1]:8080", Deny, C::Refuse(EPERM)),
        (tcp6, "[::ffff:127.0.0.1]:9050", Deny, C::Libc),
        (tcp4, "127.0.0.1:9050", Deny, C::Libc),
        (tcp4, "127.0.0.1:9051", Deny, C::Refuse(EPERM)),
        (tcp4, "127.0.0.1:8080", Deny, C::Refuse(EPERM)),
        (tcp4, "127.9.9.9:8080", Deny, C::Refuse(EPERM)),
        (tcp6, "[::1]:8080", Deny, C::Refuse(EPERM)),
        (tcp4, "127.0.0.1:8080", Tcp, C::Libc),
        (tcp6, "[::1]:8080", TcpUdp, C::Libc),
        (tcp4, "0.0.0.0:80", TcpUdp, C::Refuse(EPERM)),
        (tcp4, "0.1.2.3:80", Deny, C::Refuse(EPERM)),
        (tcp6, "[::]:80", TcpUdp, C::Refuse(EPERM)),
        (tcp6, "[::ffff:0.0.0.0]:80", Deny, C::Refuse(EPERM)),
        (tcp4, "127.42.42.7:22", Deny, C::Onion),
        (tcp4, "127.42.42.7:22", Tcp, C::Onion),
        (tcp6, "[::ffff:127.42.42.7]:22", Deny, C::Onion),
        (tcp4, "10.0.0.1:80", Deny, C::Proxy("10.0.0.1:80")),
        (tcp4, "[2001:db8::7]:80", Deny, C::Refuse(EAFNOSUPPORT)),
        (tcp6, "1.2.3.4:80", Deny, C::Refuse(EAFNOSUPPORT)),
        (udp4, "198.51.100.7:53", TcpUdp, C::Refuse(EPERM)),
        (udp4, "127.0.0.1:53", Tcp, C::Refuse(EPERM)),
        (udp4, "127.0.0.1:53", TcpUdp, C::Libc),
        (udp4, "127.0.0.1:9050", Deny, C::Refuse(EPERM)),
        (udp6, "[::1]:53", TcpUdp, C::Libc),
        // UDP over IPv6 accepts an IPv4 sockaddr; it is judged by the address all the same.
        (udp6, "198.51.100.7:53", TcpUdp, C::Refuse(EPERM)),
        (udp6, "[::ffff:198.51.100.7]:53", TcpUdp, C::Refuse(EPERM)),
        (udp6, "[::ffff:127.0.0.1]:53", TcpUdp, C::Libc),
        (unix, "198.51.100.7:80", Deny, C::Libc),
        (packet, "198.51.100.7:80", TcpUdp, C::Refuse(EAFNOSUPPORT)),
    ];
    for (kind, dest, localhost, want) in rows {
        let addr: SocketAddr = dest.parse().unwrap();
        let got = match connect(*kind, Destination::Inet(addr), &settings(*localhost)) {
            ConnectVerdict::Libc => C::Libc,
            ConnectVerdict::Proxy(a) => C::Proxy(Box::leak(a.to_string().into_boxed_str())),
            ConnectVerdict::ProxyName(_, ip, port) => {
                assert_eq!(SocketAddr::new(IpAddr::V4(ip), port), unmap(addr));
                C::Onion
            }
            ConnectVerdict::Refuse(r) => C::Refuse(r.errno),
            ConnectVerdict::Direct(a) => panic!("direct {a} without allow.direct"),
        };
        assert_eq!(&got, want, "connect({kind:?}, {dest}) with {localhost:?}");
    }
}

#[test]
fn connect_to_unspec_and_other_families_goes_to_libc() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let s = Settings::default();
    assert_eq!(connect(tcp4, Destination::Unspec, &s), ConnectVerdict::Libc);
    assert_eq!(
        connect(tcp4, Destination::Other(AF_UNIX), &s),
        ConnectVerdict::Libc
    );
}

#[test]
fn tor_on_another_address_or_a_unix_socket() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let mut s = Settings {
        tor_address: TorAddress::Ip("10.0.0.5".parse().unwrap()),
        tor_port: 9150,
        ..Settings::default()
    };
    let at = |a: &str| connect(tcp4, Destination::Inet(a.parse().unwrap()), &s);
    assert_eq!(at("10.0.0.5:9150"), ConnectVerdict::Libc);
    assert_eq!(
        at("10.0.0.5:80"),
        ConnectVerdict::Proxy("10.0.0.5:80".parse().unwrap())
    );
    assert!(matches!(at("127.0.0.1:9050"), ConnectVerdict::Refuse(_)));
    s.tor_address = TorAddress::Unix("/run/tor/socks".into());
    let at = |a: &str| connect(tcp4, Destination::Inet(a.parse().unwrap()), &s);
    assert!(matches!(at("127.0.0.1:9150"), ConnectVerdict::Refuse(_)));
}

#[test]
fn a_moved_onion_range_is_honoured() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let s = Settings {
        onion_range: "10.192.0.0/10".parse::<Ipv4Net>().unwrap(),
        ..Settings::default()
    };
    let at = |a: &str| connect(tcp4, Destination::Inet(a.parse().unwrap()), &s);
    assert!(matches!(at("10.200.0.1:80"), ConnectVerdict::ProxyName(..)));
    assert!(matches!(at("127.42.42.1:80"), ConnectVerdict::Refuse(_)));
}

#[test]
fn refusals_read_as_one_line_naming_the_setting() {
    let s = Settings::default();
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let lines = [
        match socket(AF_INET, SOCK_DGRAM, 0, &s) {
            SocketVerdict::Refuse(r) => r.to_string(),
            other => panic!("{other:?}"),
        },
        match connect(tcp4, Destination::Inet("127.0.0.1:80".parse().unwrap()), &s) {
            ConnectVerdict::Refuse(r) => r.to_string(),
            other => panic!("{other:?}"),
        },
    ];
    assert_eq!(
        lines[0],
        "refused a UDP (datagram) socket (AF_INET): Tor carries only TCP streams and names resolve through Tor; allow.outbound_localhost = 2 permits UDP to loopback only"
    );
    assert!(lines[1].starts_with("refused connection to 127.0.0.1:80: loopback traffic would bypass Tor; set allow.outbound_localhost"));
    for l in lines {
        assert!(!l.contains('\n'));
    }
}

#[test]
fn inbound_table() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let tcp6 = SocketKind {
        family: AF_INET6,
        ty: SOCK_STREAM,
    };
    let unix = SocketKind {
        family: AF_UNIX,
        ty: SOCK_STREAM,
    };
    let open = Settings {
        allow_inbound: true,
        ..Settings::default()
    };
    let closed = Settings::default();
    let rows: &[(SocketKind, Option<&str>, &Settings, bool)] = &[
        (tcp4, Some("0.0.0.0:8080"), &closed, false),
        (tcp6, Some("[::]:8080"), &closed, false),
        (tcp4, Some("198.51.100.1:8080"), &closed, false),
        (tcp4, None, &closed, false),
        (tcp4, Some("127.0.0.1:8080"), &closed, true),
        (tcp6, Some("[::1]:8080"), &closed, true),
        (tcp6, Some("[::ffff:127.0.0.1]:8080"), &closed, true),
        (tcp4, Some("0.0.0.0:8080"), &open, true),
        (unix, None, &closed, true),
    ];
    for (kind, bound, s, allowed) in rows {
        let bound = bound.map(|b| b.parse().unwrap());
        let got = matches!(inbound(*kind, bound, s), SocketVerdict::Libc);
        assert_eq!(got, *allowed, "{kind:?} {bound:?}");
    }
}

#[test]
fn passing_and_receiving_sockets() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let udp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_DGRAM,
    };
    let unix = SocketKind {
        family: AF_UNIX,
        ty: SOCK_STREAM,
    };
    assert!(may_pass(unix).is_ok());
    assert_eq!(may_pass(tcp4).map_err(|r| r.errno), Err(EPERM));
    assert!(
        may_pass(SocketKind {
            family: AF_PACKET,
            ty: SOCK_RAW
        })
        .is_err()
    );
    let s = Settings::default();
    let at = |a: &str| a.parse::<SocketAddr>().unwrap();
    let rows: &[(SocketKind, SocketState, bool)] = &[
        (unix, SocketState::Unconnected, true),
        (tcp4, SocketState::Unconnected, true),
        (tcp4, SocketState::Connected(at("127.0.0.1:9050")), true),
        (tcp4, SocketState::Connected(at("198.51.100.7:80")), false),
        (tcp4, SocketState::Connected(at("127.0.0.1:8080")), false),
        (
            tcp4,
            SocketState::Listening(Some(at("127.0.0.1:8080"))),
            true,
        ),
        (
            tcp4,
            SocketState::Listening(Some(at("0.0.0.0:8080"))),
            false,
        ),
        (udp4, SocketState::Unconnected, false),
    ];
    for (kind, state, ok) in rows {
        assert_eq!(
            may_receive(*kind, *state, &s).is_ok(),
            *ok,
            "{kind:?} {state:?}"
        );
    }
}

#[derive(Debug, PartialEq)]
enum D {
    Direct(&'static str),
    Proxy(&'static str),
    Onion,
    Libc,
    Refuse(i32),
}

/// allow.direct: TCP to a listed private network goes to libc, outside Tor; everything else
/// is judged as before.
#[test]
fn direct_networks_table() {
    let tcp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_STREAM,
    };
    let tcp6 = SocketKind {
        family: AF_INET6,
        ty: SOCK_STREAM,
    };
    let udp4 = SocketKind {
        family: AF_INET,
        ty: SOCK_DGRAM,
    };
    let udp6 = SocketKind {
        family: AF_INET6,
        ty: SOCK_DGRAM,
    };
    let s = Settings {
        allow_direct: ["192.168.77.0/24", "10.1.2.3", "fd00::/8"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect(),
        allow_outbound_localhost: Localhost::TcpUdp,
        ..Settings::default()
    };
    let rows: &[(SocketKind, &str, D)] = &[
        (tcp4, "192.168.77.5:631", D::Direct("192.168.77.5:631")),
        (tcp4, "192.168.77.255:80", D::Direct("192.168.77.255:80")),
        (tcp4, "192.168.78.5:631", D::Proxy("192.168.78.5:631")),
        (tcp4, "10.1.2.3:22", D::Direct("10.1.2.3:22")),
        (tcp4, "10.1.2.4:22", D::Proxy("10.1.2.4:22")),
        (tcp6, "[fd12::5]:8080", D::Direct("[fd12::5]:8080")),
        (tcp6, "[fe80::5]:8080", D::Proxy("[fe80::5]:8080")),
        // IPv4-mapped IPv6 is matched, and reported, as IPv4.
        (
            tcp6,
            "[::ffff:192.168.77.5]:631",
            D::Direct("192.168.77.5:631"),
        ),
        (
            tcp6,
            "[::ffff:192.168.78.5]:631",
            D::Proxy("192.168.78.5:631"),
        ),
        (tcp4, "198.51.100.7:80", D::Proxy("198.51.100.7:80")),
        // The kernel's family rules still come first.
        (tcp4, "[fd12::5]:80", D::Refuse(EAFNOSUPPORT)),
        // TCP only: datagrams to a direct network stay refused.
        (udp4, "192.168.77.5:53", D::Refuse(EPERM)),
        (udp6, "[fd12::5]:53", D::Refuse(EPERM)),
        (udp6, "[::ffff:192.168.77.5]:53", D::Refuse(EPERM)),
        // Loopback and the onion range keep their own rules.
        (tcp4, "127.0.0.1:8080", D::Libc),
        (tcp4, "127.42.42.7:22", D::Onion),
        (tcp4, "127.0.0.1:9050", D::Libc),
    ];
    for (kind, dest, want) in rows {
        let addr: SocketAddr = dest.parse().unwrap();
        let got = match connect(*kind, Destination::Inet(addr), &s) {
            ConnectVerdict::Direct(a) => D::Direct(Box::leak(a.to_string().into_boxed_str())),
            ConnectVerdict::Proxy(a) => D::Proxy(Box::leak(a.to_string().into_boxed_str())),
            ConnectVerdict::ProxyName(..) => D::Onion,
            ConnectVerdict::Libc => D::Libc,
            ConnectVerdict::Refuse(r) => D::Refuse(r.errno),
        };
        assert_eq!(&got, want, "connect({kind:?}, {dest})");
    }
    // Off by default: the same LAN address goes through Tor.
    let lan: SocketAddr = "192.168.77.5:631".parse().unwrap();
    assert_eq!(
        connect(tcp4, Destination::Inet(lan), &Settings::default()),
        ConnectVerdict::Proxy(lan)
    );
    // A socket received from another process, connected to a direct network, may be kept.
    let received = |peer: &str, s: &Settings| {
        may_receive(tcp4, SocketState::Connected(peer.parse().unwrap()), s).is_ok()
    };
    assert!(received("192.168.77.5:631", &s));
    assert!(!received("192.168.78.5:631", &s));
    assert!(!received("192.168.77.5:631", &Settings::default()));
}
