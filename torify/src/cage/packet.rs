//! Packets from the cage's TUN device, before the TCP/IP stack sees them: UDP is answered
//! here — DNS to the cage's resolver by the resolver, every other datagram with ICMP "port
//! unreachable" (so a program fails at once instead of waiting for an answer that never
//! comes) — and everything else goes to the stack, which carries TCP and drops the rest.
//! Parsing and building with etherparse (RFC 791, 8200, 768, 792, 4443).

use std::net::{IpAddr, SocketAddr};

#[cfg(test)]
use etherparse::IcmpEchoHeader;
use etherparse::{
    Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, icmpv4, icmpv6,
};

use super::names;

/// What to do with one packet from the cage.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound<'a> {
    /// A DNS query to the cage's resolver.
    Dns {
        /// Who asked.
        from: SocketAddr,
        /// The resolver address it asked.
        to: SocketAddr,
        /// The DNS message.
        query: &'a [u8],
    },
    /// A datagram to anywhere else: refused with ICMP port unreachable.
    Datagram {
        /// Where it was going.
        to: SocketAddr,
    },
    /// An ICMP echo request to `to`: there is no ping through Tor; answered unreachable too.
    Ping {
        /// Where it was going.
        to: IpAddr,
    },
    /// A TCP SYN that opens a flow (no ACK).
    Syn {
        /// The program's address.
        from: SocketAddr,
        /// Where it connects.
        to: SocketAddr,
    },
    /// The rest of TCP, or anything the stack handles (or drops).
    Stack,
}

/// Classifies a packet read from the TUN device.
pub(crate) fn classify(packet: &[u8]) -> Inbound<'_> {
    let Ok(sliced) = SlicedPacket::from_ip(packet) else {
        return Inbound::Stack;
    };
    let (src, dst, fragmented) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.is_payload_fragmented(),
        ),
        Some(NetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.is_payload_fragmented(),
        ),
        _ => return Inbound::Stack,
    };
    if fragmented {
        return Inbound::Stack;
    }
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) if tcp.syn() && !tcp.ack() => Inbound::Syn {
            from: SocketAddr::new(src, tcp.source_port()),
            to: SocketAddr::new(dst, tcp.destination_port()),
        },
        Some(TransportSlice::Udp(udp)) => {
            let from = SocketAddr::new(src, udp.source_port());
            let to = SocketAddr::new(dst, udp.destination_port());
            if names::is_resolver(to) {
                Inbound::Dns {
                    from,
                    to,
                    query: udp.payload(),
                }
            } else {
                Inbound::Datagram { to }
            }
        }
        Some(TransportSlice::Icmpv4(icmp))
            if matches!(icmp.icmp_type(), Icmpv4Type::EchoRequest(_)) =>
        {
            Inbound::Ping { to: dst }
        }
        Some(TransportSlice::Icmpv6(icmp))
            if matches!(icmp.icmp_type(), Icmpv6Type::EchoRequest(_)) =>
        {
            Inbound::Ping { to: dst }
        }
        _ => Inbound::Stack,
    }
}

/// A UDP datagram from `from` to `to` carrying `payload` (the resolver's answer).
pub(crate) fn udp(from: SocketAddr, to: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let builder = match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => return None,
    }
    .udp(from.port(), to.port());
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).ok()?;
    Some(out)
}

/// The ICMP error that tells the sender of `original` nobody listens there: port unreachable
/// for a datagram, host unreachable for a ping. RFC 792 wants the header and 8 bytes of the
/// original; RFC 4443 as much as fits in the minimum MTU.
pub(crate) fn unreachable(original: &[u8]) -> Option<Vec<u8>> {
    let sliced = SlicedPacket::from_ip(original).ok()?;
    let ping = matches!(
        sliced.transport,
        Some(TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_))
    );
    let mut out = Vec::new();
    match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let code = if ping {
                icmpv4::DestUnreachableHeader::Host
            } else {
                icmpv4::DestUnreachableHeader::Port
            };
            let quoted = &original[..original.len().min(usize::from(h.ihl()) * 4 + 8)];
            PacketBuilder::ipv4(h.destination(), h.source(), 64)
                .icmpv4(Icmpv4Type::DestinationUnreachable(code))
                .write(&mut out, quoted)
                .ok()?;
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let code = if ping {
                icmpv6::DestUnreachableCode::Address
            } else {
                icmpv6::DestUnreachableCode::Port
            };
            let quoted = &original[..original.len().min(1232)];
            PacketBuilder::ipv6(h.destination(), h.source(), 64)
                .icmpv6(Icmpv6Type::DestinationUnreachable(code))
                .write(&mut out, quoted)
                .ok()?;
        }
        _ => return None,
    }
    Some(out)
}

/// The reset that refuses the connection `syn` asks for (RFC 9293 3.10.7.1: RST|ACK, the
/// ACK covering the SYN and its data), as a closed port answers: connect() fails at once.
pub(crate) fn reset(syn: &[u8]) -> Option<Vec<u8>> {
    let sliced = SlicedPacket::from_ip(syn).ok()?;
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return None;
    };
    let ack = tcp
        .sequence_number()
        .wrapping_add(1)
        .wrapping_add(tcp.payload().len() as u32);
    let builder = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => {
            let h = v4.header();
            PacketBuilder::ipv4(h.destination(), h.source(), 64)
        }
        Some(NetSlice::Ipv6(v6)) => {
            let h = v6.header();
            PacketBuilder::ipv6(h.destination(), h.source(), 64)
        }
        _ => return None,
    }
    .tcp(tcp.destination_port(), tcp.source_port(), 0, 0)
    .rst()
    .ack(ack);
    let mut out = Vec::with_capacity(builder.size(0));
    builder.write(&mut out, &[]).ok()?;
    Some(out)
}

/// A TCP SYN, for tests.
#[cfg(test)]
pub(crate) fn syn(from: SocketAddr, to: SocketAddr, seq: u32) -> Vec<u8> {
    let builder = match (from.ip(), to.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => panic!("one family"),
    }
    .tcp(from.port(), to.port(), seq, 64240)
    .syn();
    let mut out = Vec::new();
    builder.write(&mut out, &[]).unwrap();
    out
}

/// An ICMP echo request, for tests.
#[cfg(test)]
pub(crate) fn ping(from: IpAddr, to: IpAddr) -> Vec<u8> {
    let echo = IcmpEchoHeader { id: 7, seq: 1 };
    let mut out = Vec::new();
    match (from, to) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            .icmpv4(Icmpv4Type::EchoRequest(echo))
            .write(&mut out, b"ping"),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .icmpv6(Icmpv6Type::EchoRequest(echo))
            .write(&mut out, b"ping"),
        _ => panic!("one family"),
    }
    .unwrap();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn datagrams_are_sorted_and_answered() {
        let child = v4("198.18.0.1:40000");
        let resolver = SocketAddr::new(IpAddr::V4(names::RESOLVER_V4), 53);
        let query = udp(child, resolver, b"dns query").unwrap();
        assert_eq!(
            classify(&query),
            Inbound::Dns {
                from: child,
                to: resolver,
                query: b"dns query"
            }
        );
        let ntp = udp(child, v4("198.51.100.7:123"), b"ntp").unwrap();
        assert_eq!(
            classify(&ntp),
            Inbound::Datagram {
                to: v4("198.51.100.7:123")
            }
        );
        // The error goes back to the sender, from the destination, quoting the datagram.
        let icmp = unreachable(&ntp).unwrap();
        let sliced = SlicedPacket::from_ip(&icmp).unwrap();
        let Some(NetSlice::Ipv4(h)) = &sliced.net else {
            panic!("not IPv4")
        };
        assert_eq!(h.header().source_addr(), Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(h.header().destination_addr(), Ipv4Addr::new(198, 18, 0, 1));
        let Some(TransportSlice::Icmpv4(i)) = &sliced.transport else {
            panic!("not ICMP")
        };
        assert_eq!(
            i.icmp_type(),
            Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
        );
        // An answer from the resolver is a well-formed datagram back.
        let answer = udp(resolver, child, b"dns answer").unwrap();
        assert!(matches!(classify(&answer), Inbound::Datagram { .. }));
    }

    #[test]
    fn ipv6_datagrams_and_pings_too() {
        let child = SocketAddr::new(IpAddr::V6(names::CAGE_V6), 5353);
        let to = SocketAddr::new("2001:db8::7".parse::<Ipv6Addr>().unwrap().into(), 443);
        let quic = udp(child, to, b"quic").unwrap();
        assert_eq!(classify(&quic), Inbound::Datagram { to });
        let icmp = unreachable(&quic).unwrap();
        let sliced = SlicedPacket::from_ip(&icmp).unwrap();
        assert!(matches!(
            sliced.transport,
            Some(TransportSlice::Icmpv6(ref i)) if i.icmp_type() == Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port)
        ));
        let p = ping(IpAddr::V4(names::CAGE_V4), "198.51.100.7".parse().unwrap());
        assert_eq!(
            classify(&p),
            Inbound::Ping {
                to: "198.51.100.7".parse().unwrap()
            }
        );
        assert!(unreachable(&p).is_some());
        assert_eq!(classify(b"\x45garbage"), Inbound::Stack);
        assert_eq!(classify(&[]), Inbound::Stack);
    }

    #[test]
    fn a_syn_opens_a_flow_and_its_reset_refuses_it() {
        for (from, to) in [
            (v4("198.18.0.1:40000"), v4("198.51.100.7:80")),
            (
                SocketAddr::new(IpAddr::V6(names::CAGE_V6), 40000),
                "[2001:db8::7]:443".parse().unwrap(),
            ),
        ] {
            let syn = syn(from, to, u32::MAX);
            assert_eq!(classify(&syn), Inbound::Syn { from, to });
            let rst = reset(&syn).unwrap();
            let sliced = SlicedPacket::from_ip(&rst).unwrap();
            let Some(TransportSlice::Tcp(t)) = &sliced.transport else {
                panic!("not TCP")
            };
            // From the destination to the program, acknowledging the SYN (sequence wraps).
            assert!(t.rst() && t.ack() && !t.syn());
            assert_eq!(
                (t.source_port(), t.destination_port()),
                (to.port(), from.port())
            );
            assert_eq!(t.acknowledgment_number(), 0);
            // Not a SYN: the rest of TCP goes to the stack.
            assert_eq!(classify(&rst), Inbound::Stack);
        }
        assert_eq!(reset(b"\x45garbage"), None);
    }
}
