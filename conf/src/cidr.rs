//! CIDR arithmetic, for every block of addresses the settings hold: the stand-in pools
//! (`model::Ipv4Net`) and the networks that bypass Tor (`direct::DirectNet`).

use std::net::IpAddr;

/// The address as a number and the width of its family in bits.
pub(crate) const fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (v4.to_bits() as u128, 32),
        IpAddr::V6(v6) => (v6.to_bits(), 128),
    }
}

/// The network mask of `prefix` bits in a family `width` bits wide.
pub(crate) const fn mask(width: u8, prefix: u8) -> u128 {
    let full = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    match width.saturating_sub(prefix) as u32 {
        shift if shift >= 128 => 0,
        shift => (full >> shift) << shift,
    }
}

/// True when the block `(ip, prefix)` lies entirely inside `outer`.
pub(crate) fn within(ip: IpAddr, prefix: u8, outer: (IpAddr, u8)) -> bool {
    let (inner, width) = bits(ip);
    let (outer_base, outer_width) = bits(outer.0);
    width == outer_width && prefix >= outer.1 && inner & mask(width, outer.1) == outer_base
}

/// True when the block lies entirely inside one of `ranges`.
pub(crate) fn within_any(ip: IpAddr, prefix: u8, ranges: &[(IpAddr, u8)]) -> bool {
    ranges.iter().any(|r| within(ip, prefix, *r))
}

/// Two CIDR blocks overlap exactly when one lies inside the other.
pub(crate) fn overlap(a: (IpAddr, u8), b: (IpAddr, u8)) -> bool {
    within(a.0, a.1, b) || within(b.0, b.1, a)
}

/// A block as it is written, `base/prefix`.
pub(crate) fn show(ip: IpAddr, prefix: u8) -> String {
    format!("{ip}/{prefix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn masks_and_blocks_in_both_families() {
        assert_eq!(mask(32, 0), 0);
        assert_eq!(mask(32, 24), 0xffff_ff00);
        assert_eq!(mask(32, 32), 0xffff_ffff);
        assert_eq!(mask(128, 128), u128::MAX);
        assert_eq!(mask(128, 0), 0);
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(within(v4(10, 1, 2, 0), 24, (v4(10, 0, 0, 0), 8)));
        assert!(!within(v4(10, 0, 0, 0), 8, (v4(10, 1, 0, 0), 16)));
        // Families never mix.
        assert!(!within(
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            128,
            (v4(0, 0, 0, 0), 0)
        ));
        assert!(overlap((v4(10, 0, 0, 0), 8), (v4(10, 9, 0, 0), 16)));
        assert!(!overlap((v4(10, 0, 0, 0), 8), (v4(11, 0, 0, 0), 8)));
        assert_eq!(show(v4(127, 42, 42, 0), 24), "127.42.42.0/24");
    }
}
