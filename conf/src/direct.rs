//! `allow.direct`: private networks whose TCP destinations bypass Tor (a printer, a LAN
//! service), like tsocks' `local =` networks.
//!
//! Every entry must lie entirely inside a private or link-local range. Anything else is refused
//! with its own reason and fix: a typo such as `19.168.0.0/16` or `0.0.0.0/0` would otherwise
//! send traffic to the internet without Tor, which is exactly what torify exists to prevent.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::cidr::{bits, mask, overlap, show, within, within_any};
use crate::raw::{BadEntry, Raw};

/// A network that may be reached directly, in CIDR form (`192.168.1.0/24`, `fd00::/8`); a bare
/// address is a network of one (`/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectNet {
    base: IpAddr,
    prefix: u8,
}

/// The ranges an entry must lie inside: RFC 1918, link-local, shared address space (RFC 6598,
/// carrier-grade NAT), unique local IPv6 and link-local IPv6.
const PRIVATE: [(IpAddr, u8); 7] = [
    (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
    (IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(169, 254, 0, 0)), 16),
    (IpAddr::V4(Ipv4Addr::new(100, 64, 0, 0)), 10),
    (IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
    (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0)), 10),
];

/// The private ranges as the fix of a refusal lists them.
const PRIVATE_LIST: &str =
    "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 100.64.0.0/10, fc00::/7, fe80::/10";

const LOOPBACK: [(IpAddr, u8); 2] = [
    (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
    (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
];

const MULTICAST: [(IpAddr, u8); 2] = [
    (IpAddr::V4(Ipv4Addr::new(224, 0, 0, 0)), 4),
    (IpAddr::V6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0)), 8),
];

/// 0.0.0.0/8 ("this network", which Linux connects to the local host) and `::`.
const UNSPECIFIED: [(IpAddr, u8); 2] = [
    (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8),
    (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 128),
];

/// `::ffff:0:0/96`, IPv4 addresses in IPv6 form.
const MAPPED: (IpAddr, u8) = (IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0)), 96);

impl DirectNet {
    /// The first address.
    pub fn base(&self) -> IpAddr {
        self.base
    }

    /// The prefix length (32 or 128 for a single host).
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True when `ip` is inside the network. An IPv4-mapped IPv6 address is judged as the IPv4
    /// address it carries, as the kernel delivers it.
    pub fn contains(&self, ip: IpAddr) -> bool {
        within(
            ip.to_canonical(),
            bits(ip.to_canonical()).1,
            (self.base, self.prefix),
        )
    }

    /// True when the network shares an address with the IPv4 block `base/prefix`.
    pub fn overlaps(&self, base: IpAddr, prefix: u8) -> bool {
        overlap((self.base, self.prefix), (base, prefix))
    }

    /// Parses and checks one entry.
    fn parse(text: &str) -> Result<DirectNet, BadEntry> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr_text.parse().map_err(|_| {
            BadEntry::new(
                format!("{text:?} is not an IP address or network"),
                "write a network in CIDR form such as 192.168.1.0/24 or fd00::/8, or one address (host names are not accepted)",
            )
        })?;
        let width = bits(ip).1;
        let prefix = match prefix_text {
            None => width,
            Some(p) => p
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| p.parse::<u8>().ok())
                .flatten()
                .filter(|n| *n <= width)
                .ok_or_else(|| {
                    BadEntry::new(
                        format!("{text:?} has prefix length {p:?}, not a number from 0 to {width}"),
                        format!(
                            "write the prefix length as /0 to /{width}, such as 192.168.1.0/24"
                        ),
                    )
                })?,
        };
        let (n, _) = bits(ip);
        let aligned = n & mask(width, prefix);
        if aligned != n {
            // 192.168.1.5/24: the network or the host? Guessing either could open more (or
            // other) addresses than meant, so the entry is refused with both readings.
            let network = match ip {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(aligned as u32)),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(aligned)),
            };
            return Err(BadEntry::new(
                format!("{text:?} has host bits set"),
                format!(
                    "write {} for the network, or {ip} alone for the one host",
                    show(network, prefix)
                ),
            ));
        }
        Self::check(text, ip, prefix)?;
        Ok(DirectNet { base: ip, prefix })
    }

    /// Refuses everything that is not entirely private, each kind with its own fix.
    fn check(text: &str, ip: IpAddr, prefix: u8) -> Result<(), BadEntry> {
        if within_any(ip, prefix, &PRIVATE) {
            return Ok(());
        }
        let refuse = |what: &str, fix: String| Err(BadEntry::new(format!("{text:?} {what}"), fix));
        if let IpAddr::V6(v6) = ip
            && within(ip, prefix, MAPPED)
            && let Some(v4) = v6.to_ipv4_mapped()
        {
            // Judged as the IPv4 network it is, so that a public one says so at once.
            Self::check(text, IpAddr::V4(v4), prefix - 96)?;
            return refuse(
                "is an IPv4-mapped IPv6 network",
                format!(
                    "write it as IPv4, {} (IPv4-mapped destinations are matched as IPv4)",
                    show(IpAddr::V4(v4), prefix - 96)
                ),
            );
        }
        if within_any(ip, prefix, &LOOPBACK) {
            return refuse(
                "is loopback",
                "loopback is allow.outbound_localhost's job: remove it and set allow.outbound_localhost = 1".into(),
            );
        }
        if within_any(ip, prefix, &MULTICAST) || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return refuse(
                "is multicast or broadcast",
                "remove it: allow.direct lets TCP connections through, which have one unicast destination".into(),
            );
        }
        if within_any(ip, prefix, &UNSPECIFIED) {
            return refuse(
                "is the unspecified address (Linux connects it to this host)",
                "remove it: torify always refuses it".into(),
            );
        }
        if prefix == 0 {
            return refuse(
                "is every address, public ones included",
                format!("list only private networks ({PRIVATE_LIST})"),
            );
        }
        if let Some(private) = PRIVATE.iter().find(|r| overlap((ip, prefix), **r)) {
            return refuse(
                &format!(
                    "reaches beyond the private range {} into public addresses",
                    show(private.0, private.1)
                ),
                format!(
                    "narrow it to {} or a network inside it",
                    show(private.0, private.1)
                ),
            );
        }
        refuse(
            "is public address space, which must go through Tor",
            format!("remove it; only private networks may bypass Tor ({PRIVATE_LIST})"),
        )
    }
}

impl FromStr for DirectNet {
    type Err = String;

    /// One entry; the error is the problem and its fix on one line.
    fn from_str(s: &str) -> Result<Self, String> {
        DirectNet::parse(s).map_err(|e| match e.fix {
            Some(fix) => format!("{}; {fix}", e.problem),
            None => e.problem,
        })
    }
}

impl fmt::Display for DirectNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&show(self.base, self.prefix))
    }
}

/// What allow.direct expects, for the fix of a value of the wrong type.
pub(crate) const EXPECTS: &str = "a list of private networks such as [\"192.168.1.0/24\", \"fd00::/8\"] (comma-separated in TORIFY_DIRECT)";

fn type_name(raw: Raw<'_>) -> String {
    match raw {
        Raw::Text(s) | Raw::TomlStr(s) => format!("{s:?} is a string"),
        Raw::Int(n) => format!("{n} is a number"),
        Raw::Bool(b) => format!("{b} is a boolean"),
        Raw::Other(t) => format!("a {t}"),
        Raw::List(_) => "a list".to_owned(),
    }
}

/// Reads the whole setting: comma-separated text (the environment) or a TOML list of strings.
pub(crate) fn read(raw: Raw<'_>) -> Result<Vec<DirectNet>, BadEntry> {
    let entry = |index: usize, raw: Raw<'_>| {
        let at = |e: BadEntry| e.at(index);
        match raw {
            Raw::Text(s) | Raw::TomlStr(s) => DirectNet::parse(s).map_err(at),
            other => Err(at(BadEntry::new(
                format!("entry {}: {}, not a network", index + 1, type_name(other)),
                "write each network as a string, such as \"192.168.1.0/24\"",
            ))),
        }
    };
    match raw {
        Raw::Text(s) => s
            .split(',')
            .map(str::trim)
            .enumerate()
            .map(|(i, part)| {
                if part.is_empty() {
                    Err(BadEntry::new(
                        format!("{s:?} has an empty entry"),
                        "separate networks with single commas, such as 192.168.1.0/24,fd00::/8",
                    )
                    .at(i))
                } else {
                    entry(i, Raw::Text(part))
                }
            })
            .collect(),
        Raw::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, (raw, _))| entry(i, *raw))
            .collect(),
        // A single string in torify.toml: refused rather than guessed, so that the file has one
        // way to say it.
        other => Err(BadEntry::new(
            format!("{}, not a list", type_name(other)),
            format!("write it as {EXPECTS}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One row per entry: accepted (as shown), or refused with words of the problem and fix.
    #[test]
    fn entries_are_accepted_only_inside_private_ranges() {
        let ok: &[(&str, &str)] = &[
            ("192.168.0.0/16", "192.168.0.0/16"),
            ("192.168.1.0/24", "192.168.1.0/24"),
            ("10.1.2.0/24", "10.1.2.0/24"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("172.16.0.0/12", "172.16.0.0/12"),
            ("172.31.255.0/24", "172.31.255.0/24"),
            ("169.254.0.0/16", "169.254.0.0/16"),
            ("100.64.0.0/10", "100.64.0.0/10"),
            ("192.168.1.5", "192.168.1.5/32"),
            ("192.168.1.5/32", "192.168.1.5/32"),
            ("fd00::/8", "fd00::/8"),
            ("fc00::/7", "fc00::/7"),
            ("fe80::/10", "fe80::/10"),
            ("fd12:3456::1", "fd12:3456::1/128"),
        ];
        for (input, shown) in ok {
            let net: DirectNet = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(net.to_string(), *shown);
        }
        let bad: &[(&str, &str, &str)] = &[
            (
                "8.8.8.0/24",
                "is public address space",
                "only private networks",
            ),
            (
                "0.0.0.0/0",
                "is every address",
                "list only private networks",
            ),
            ("::/0", "is every address", "list only private networks"),
            (
                "10.0.0.0/7",
                "reaches beyond the private range 10.0.0.0/8",
                "narrow it to 10.0.0.0/8",
            ),
            (
                "172.0.0.0/8",
                "reaches beyond the private range 172.16.0.0/12",
                "narrow it",
            ),
            ("192.168.0.0/15", "reaches beyond", "192.168.0.0/16"),
            (
                "100.0.0.0/8",
                "reaches beyond the private range 100.64.0.0/10",
                "narrow",
            ),
            (
                "fc00::/6",
                "reaches beyond the private range fc00::/7",
                "narrow",
            ),
            ("2001:db8::/32", "is public address space", "remove it"),
            ("127.0.0.0/8", "is loopback", "allow.outbound_localhost"),
            ("127.0.0.1", "is loopback", "allow.outbound_localhost = 1"),
            ("::1", "is loopback", "allow.outbound_localhost"),
            ("224.0.0.0/4", "multicast or broadcast", "remove it"),
            ("239.1.2.3", "multicast or broadcast", "remove it"),
            ("ff02::/16", "multicast or broadcast", "remove it"),
            ("255.255.255.255", "multicast or broadcast", "remove it"),
            ("0.0.0.0", "unspecified", "always refuses"),
            ("::", "unspecified", "always refuses"),
            (
                "::ffff:192.168.1.0/120",
                "IPv4-mapped",
                "write it as IPv4, 192.168.1.0/24",
            ),
            (
                "192.168.1.5/24",
                "has host bits set",
                "write 192.168.1.0/24 for the network, or 192.168.1.5 alone",
            ),
            ("fd00::1/8", "has host bits set", "write fd00::/8"),
            ("192.168.1.0/33", "not a number from 0 to 32", "/0 to /32"),
            ("fd00::/129", "not a number from 0 to 128", "/0 to /128"),
            ("192.168.1.0/", "prefix length \"\"", "/0 to /32"),
            ("192.168.1.0/+24", "prefix length \"+24\"", "/0 to /32"),
            ("192.168.1.0/24/8", "prefix length \"24/8\"", "/0 to /32"),
            (
                "192.168.1.0/255.255.255.0",
                "prefix length",
                "such as 192.168.1.0/24",
            ),
            (
                "printer.lan",
                "is not an IP address or network",
                "host names are not accepted",
            ),
            ("192.168.1", "is not an IP address", "CIDR"),
            ("fe80::1%eth0", "is not an IP address", "CIDR"),
            ("", "is not an IP address", "CIDR"),
        ];
        for (input, problem, fix) in bad {
            let e = DirectNet::parse(input).expect_err(input);
            assert!(e.problem.contains(problem), "{input}: {e:?}");
            assert!(
                e.fix.as_deref().is_some_and(|f| f.contains(fix)),
                "{input}: {e:?}"
            );
            assert!(
                !e.problem.contains('\n') && !e.fix.as_deref().unwrap_or_default().contains('\n')
            );
        }
    }

    #[test]
    fn membership_is_by_prefix_and_ipv4_mapped_counts_as_ipv4() {
        let lan: DirectNet = "192.168.77.0/24".parse().unwrap();
        let ula: DirectNet = "fd00::/8".parse().unwrap();
        let host: DirectNet = "10.1.2.3".parse().unwrap();
        let rows: &[(&DirectNet, &str, bool)] = &[
            (&lan, "192.168.77.1", true),
            (&lan, "192.168.77.255", true),
            (&lan, "192.168.78.1", false),
            (&lan, "::ffff:192.168.77.9", true),
            (&lan, "::ffff:192.168.78.9", false),
            (&lan, "fd00::1", false),
            (&ula, "fd12::1", true),
            (&ula, "fe80::1", false),
            (&ula, "192.168.77.1", false),
            (&host, "10.1.2.3", true),
            (&host, "10.1.2.4", false),
        ];
        for (net, ip, inside) in rows {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(net.contains(ip), *inside, "{net} {ip}");
        }
    }

    #[test]
    fn lists_from_text_and_toml() {
        let nets = read(Raw::Text(" 192.168.0.0/16, fd00::/8 ,10.1.2.3")).unwrap();
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["192.168.0.0/16", "fd00::/8", "10.1.2.3/32"]);
        let e = read(Raw::Text("192.168.0.0/16,8.8.8.0/24")).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(e.problem.starts_with("\"8.8.8.0/24\" is public"), "{e:?}");
        let e = read(Raw::Text("192.168.0.0/16,,fd00::/8")).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(e.problem.contains("empty entry"), "{e:?}");
        let e = read(Raw::TomlStr("192.168.0.0/16")).unwrap_err();
        assert_eq!(e.index, None);
        assert!(e.problem.contains("is a string, not a list"), "{e:?}");
        let items = [
            (Raw::TomlStr("192.168.0.0/16"), crate::Origin::Default),
            (Raw::Int(5), crate::Origin::Default),
        ];
        let e = read(Raw::List(&items)).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert!(e.problem.contains("entry 2: 5 is a number"), "{e:?}");
        assert_eq!(read(Raw::List(&[])).unwrap(), vec![]);
    }

    #[test]
    fn overlap_with_another_block() {
        let lan: DirectNet = "10.0.0.0/8".parse().unwrap();
        let onion = IpAddr::V4(Ipv4Addr::new(10, 192, 0, 0));
        assert!(lan.overlaps(onion, 10));
        assert!(!lan.overlaps(IpAddr::V4(Ipv4Addr::new(127, 42, 42, 0)), 24));
    }
}
