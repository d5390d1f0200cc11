//! The cage's addresses, and the virtual addresses its resolver hands out for names: a name
//! gets one address in each family, fixed for the life of the cage, and a TCP flow to that
//! address goes to Tor with the *name*, so the exit resolves it (tor's AutomapHostsOnResolve
//! does the same with 127.192.0.0/10).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use torify_conf::Ipv4Net;
use torify_core::pool::{NamePool, PoolError};

/// The cage's own address on its TUN device (198.18.0.0/15 is RFC 2544's benchmarking block:
/// no destination anyone means lives there).
pub(crate) const CAGE_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The resolver that /etc/resolv.conf names inside the cage.
pub(crate) const RESOLVER_V4: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 53);
/// The cage's IPv6 address (a unique local address of torify's own).
pub(crate) const CAGE_V6: Ipv6Addr = Ipv6Addr::new(0xfd7e, 0x7466, 0x7920, 0, 0, 0, 0, 1);
/// The resolver, for programs that ask over IPv6.
pub(crate) const RESOLVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd7e, 0x7466, 0x7920, 0, 0, 0, 0, 0x53);
/// Virtual IPv4 addresses for names.
pub(crate) const VIRTUAL_V4: Ipv4Net = match Ipv4Net::new(Ipv4Addr::new(198, 19, 0, 0), 16) {
    Some(net) => net,
    None => panic!("198.19.0.0/16 is a block"),
};
/// Virtual IPv6 addresses for names: this /64, the pool index in the low 32 bits.
const VIRTUAL_V6_PREFIX: [u16; 4] = [0xfd7e, 0x7466, 0x7920, 1];

/// True when `addr` is the cage's resolver.
pub(crate) fn is_resolver(addr: SocketAddr) -> bool {
    addr.port() == 53
        && (addr.ip() == IpAddr::V4(RESOLVER_V4) || addr.ip() == IpAddr::V6(RESOLVER_V6))
}

/// Names and their virtual addresses.
#[derive(Debug)]
pub(crate) struct VirtualNames {
    pool: NamePool,
}

impl VirtualNames {
    /// An empty map.
    pub(crate) fn new() -> Self {
        VirtualNames {
            pool: NamePool::local(VIRTUAL_V4, ""),
        }
    }

    /// The addresses of `name` (lowercase, without the root dot): the ones it has, or new.
    pub(crate) fn assign(&mut self, name: &str) -> Result<(Ipv4Addr, Ipv6Addr), PoolError> {
        let v4 = self.pool.assign(name)?;
        let index = VIRTUAL_V4.index_of(v4).unwrap_or(0) as u32;
        let p = VIRTUAL_V6_PREFIX;
        let v6 = Ipv6Addr::new(
            p[0],
            p[1],
            p[2],
            p[3],
            0,
            0,
            (index >> 16) as u16,
            index as u16,
        );
        Ok((v4, v6))
    }

    /// The name a virtual address was handed out for.
    pub(crate) fn name_of(&mut self, addr: IpAddr) -> Option<&str> {
        match addr {
            IpAddr::V4(v4) => self.pool.name_of(v4),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                if s[..4] != VIRTUAL_V6_PREFIX || s[4] != 0 || s[5] != 0 {
                    return None;
                }
                let index = (u64::from(s[6]) << 16) | u64::from(s[7]);
                self.pool.name_of(VIRTUAL_V4.nth(index)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_one_address_per_family_both_ways() {
        let mut n = VirtualNames::new();
        let (a4, a6) = n.assign("web.test").unwrap();
        let (b4, b6) = n.assign("other.test").unwrap();
        assert_eq!(n.assign("web.test").unwrap(), (a4, a6));
        assert_ne!(a4, b4);
        assert_ne!(a6, b6);
        assert!(VIRTUAL_V4.contains(a4));
        assert_eq!(n.name_of(IpAddr::V4(a4)), Some("web.test"));
        assert_eq!(n.name_of(IpAddr::V6(b6)), Some("other.test"));
        assert_eq!(n.name_of(IpAddr::V4(Ipv4Addr::new(198, 19, 9, 9))), None);
        assert_eq!(n.name_of("2001:db8::1".parse().unwrap()), None);
        assert_eq!(n.name_of(IpAddr::V4(CAGE_V4)), None);
    }

    #[test]
    fn the_resolver_is_known_in_both_families() {
        assert!(is_resolver(SocketAddr::new(IpAddr::V4(RESOLVER_V4), 53)));
        assert!(is_resolver(SocketAddr::new(IpAddr::V6(RESOLVER_V6), 53)));
        assert!(!is_resolver(SocketAddr::new(IpAddr::V4(RESOLVER_V4), 853)));
        assert!(!is_resolver(SocketAddr::new(IpAddr::V4(CAGE_V4), 53)));
    }
}
