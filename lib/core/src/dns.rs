//! How each name is looked up: parsed locally, answered locally, handed an onion stand-in,
//! asked of Tor, or refused. Never asked of the system resolver.

pub mod message;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::onion::{self, OnionError};

/// What to do with a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An address written as text: parsed locally (libc may parse it again, numerically).
    Numeric,
    /// A name of this machine: these addresses, without asking anyone.
    Local(Vec<IpAddr>),
    /// A valid `.onion` name (normalized): gets a stand-in address from the pool.
    Onion(String),
    /// Ask Tor (SOCKS RESOLVE).
    Tor,
    /// Refuse, for this reason.
    Refuse(NameRefusal),
}

/// Why a name is not looked up at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameRefusal {
    /// `.exit` notation would let the program pick the exit relay.
    ExitNotation,
    /// A `.onion` name that is not a valid v3 address.
    BadOnion(OnionError),
    /// This machine's own name, which is not in /etc/hosts: asking Tor would tell the exit.
    OwnHostname,
    /// Empty, too long, or with characters no host name has.
    Malformed,
}

impl fmt::Display for NameRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameRefusal::ExitNotation => f.write_str(".exit names choose the exit relay and are not accepted from programs"),
            NameRefusal::BadOnion(e) => write!(f, "not a valid onion address: {e}"),
            NameRefusal::OwnHostname => f.write_str(
                "it is this machine's own host name, which asking Tor would reveal to the exit; add it to /etc/hosts to have it answered locally",
            ),
            NameRefusal::Malformed => f.write_str("not a valid host name"),
        }
    }
}

/// The names this machine answers itself: loopback names, /etc/hosts entries pointing at
/// loopback, and the host's own name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalNames {
    entries: Vec<(String, IpAddr)>,
    hostname: Option<String>,
}

/// Names that are loopback by definition (RFC 6761 §6.3, and Debian's /etc/hosts defaults).
const LOOPBACK_NAMES: [(&str, &[IpAddr]); 6] = [
    (
        "localhost",
        &[
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
    ),
    ("localhost.localdomain", &[IpAddr::V4(Ipv4Addr::LOCALHOST)]),
    ("localhost6", &[IpAddr::V6(Ipv6Addr::LOCALHOST)]),
    (
        "localhost6.localdomain6",
        &[IpAddr::V6(Ipv6Addr::LOCALHOST)],
    ),
    ("ip6-localhost", &[IpAddr::V6(Ipv6Addr::LOCALHOST)]),
    ("ip6-loopback", &[IpAddr::V6(Ipv6Addr::LOCALHOST)]),
];

impl LocalNames {
    /// From the text of /etc/hosts (only loopback entries are kept: anything else would send
    /// the program to the local network around Tor) and the machine's host name.
    pub fn new(hosts: &str, hostname: Option<&str>) -> Self {
        let mut entries = Vec::new();
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(addr) = words.next().and_then(|a| a.parse::<IpAddr>().ok()) else {
                continue;
            };
            if !addr.is_loopback() {
                continue;
            }
            for name in words {
                entries.push((name.to_ascii_lowercase(), addr));
            }
        }
        LocalNames {
            entries,
            hostname: hostname
                .filter(|h| !h.is_empty())
                .map(str::to_ascii_lowercase),
        }
    }

    /// The loopback addresses of `name`, if it is a local name.
    pub fn get(&self, name: &str) -> Option<Vec<IpAddr>> {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        let from_hosts: Vec<IpAddr> = self
            .entries
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .collect();
        if !from_hosts.is_empty() {
            return Some(from_hosts);
        }
        if let Some((_, addrs)) = LOOPBACK_NAMES.iter().find(|(n, _)| *n == name) {
            return Some(addrs.to_vec());
        }
        if name.ends_with(".localhost") {
            return Some(vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]);
        }
        None
    }

    /// True for this machine's own name (with or without its domain).
    fn is_own(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        self.hostname.as_ref().is_some_and(|h| {
            *h == name
                || h.split('.').next() == Some(name.as_str())
                || name.split('.').next() == Some(h.as_str())
        })
    }

    /// A name for a loopback address (reverse lookups of loopback never leave the machine).
    pub fn name_for(&self, addr: IpAddr) -> Option<String> {
        if let Some((name, _)) = self.entries.iter().find(|(_, a)| *a == addr) {
            return Some(name.clone());
        }
        addr.is_loopback().then(|| "localhost".to_owned())
    }
}

/// Parses an IPv4 address as inet_aton(3) does, exactly (as glibc's getaddrinfo does since
/// 2.32): one to four parts, each decimal, octal (leading 0) or hex (0x), the last filling the
/// remaining bytes: "127.1" is 127.0.0.1.
pub fn parse_inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let v = if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        values.push(v);
    }
    let last = *values.last()?;
    let head = &values[..values.len() - 1];
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if last_bits < 32 && last >> last_bits != 0 {
        return None;
    }
    let mut addr = 0u32;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(addr | last))
}

/// True when `name` is an address in text (IPv4 as inet_aton takes it, IPv6 with an optional
/// `%scope`).
pub fn is_numeric(name: &str) -> bool {
    if parse_inet_aton(name).is_some() {
        return true;
    }
    let bare = name.split('%').next().unwrap_or(name);
    name.contains(':') && bare.parse::<Ipv6Addr>().is_ok()
}

fn plausible_host_name(name: &str) -> bool {
    let n = name.strip_suffix('.').unwrap_or(name);
    !n.is_empty() && n.len() <= 253 && n.bytes().all(|c| c.is_ascii_graphic()) && !n.contains("..")
}

/// Decides how `name` is looked up.
pub fn classify(name: &str, local: &LocalNames) -> Lookup {
    if is_numeric(name) {
        return Lookup::Numeric;
    }
    if !plausible_host_name(name) {
        return Lookup::Refuse(NameRefusal::Malformed);
    }
    if let Some(addrs) = local.get(name) {
        return Lookup::Local(addrs);
    }
    if onion::is_exit_notation(name) {
        return Lookup::Refuse(NameRefusal::ExitNotation);
    }
    if onion::is_onion(name) {
        return match onion::validate(name) {
            Ok(n) => Lookup::Onion(n),
            Err(e) => Lookup::Refuse(NameRefusal::BadOnion(e)),
        };
    }
    if local.is_own(name) {
        return Lookup::Refuse(NameRefusal::OwnHostname);
    }
    Lookup::Tor
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

    fn local() -> LocalNames {
        LocalNames::new(
            "127.0.0.1 localhost\n127.0.1.1 box.example.org box # the host\n::1 ip6-localhost\n192.168.1.9 printer\n",
            Some("box.example.org"),
        )
    }

    #[test]
    fn classification_table() {
        let l = local();
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        let rows: Vec<(&str, Lookup)> = vec![
            ("198.51.100.7", Lookup::Numeric),
            ("127.1", Lookup::Numeric),
            ("0x7f.1", Lookup::Numeric),
            ("2001:db8::7", Lookup::Numeric),
            ("fe80::1%eth0", Lookup::Numeric),
            ("localhost", Lookup::Local(vec![v4("127.0.0.1")])),
            ("LOCALHOST.", Lookup::Local(vec![v4("127.0.0.1")])),
            ("box", Lookup::Local(vec![v4("127.0.1.1")])),
            ("box.example.org", Lookup::Local(vec![v4("127.0.1.1")])),
            (
                "ip6-loopback",
                Lookup::Local(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]),
            ),
            (
                "app.localhost",
                Lookup::Local(vec![v4("127.0.0.1"), IpAddr::V6(Ipv6Addr::LOCALHOST)]),
            ),
            ("printer", Lookup::Tor),
            ("web.test", Lookup::Tor),
            ("example.com.", Lookup::Tor),
            (ONION, Lookup::Onion(ONION.to_owned())),
            (
                "expyuzz4wqqyqhjn.onion",
                Lookup::Refuse(NameRefusal::BadOnion(OnionError::Length(16))),
            ),
            (
                "www.example.com.$fp.exit",
                Lookup::Refuse(NameRefusal::ExitNotation),
            ),
            ("", Lookup::Refuse(NameRefusal::Malformed)),
            ("a b", Lookup::Refuse(NameRefusal::Malformed)),
            ("a..b", Lookup::Refuse(NameRefusal::Malformed)),
        ];
        for (name, want) in rows {
            assert_eq!(classify(name, &l), want, "{name}");
        }
    }

    #[test]
    fn own_hostname_never_goes_to_tor() {
        let l = LocalNames::new("127.0.0.1 localhost\n", Some("secret-laptop.home"));
        assert_eq!(
            classify("secret-laptop", &l),
            Lookup::Refuse(NameRefusal::OwnHostname)
        );
        assert_eq!(
            classify("secret-laptop.home", &l),
            Lookup::Refuse(NameRefusal::OwnHostname)
        );
        assert_eq!(classify("other.home", &l), Lookup::Tor);
    }

    #[test]
    fn inet_aton_forms() {
        let rows: &[(&str, Option<[u8; 4]>)] = &[
            ("1.2.3.4", Some([1, 2, 3, 4])),
            ("127.1", Some([127, 0, 0, 1])),
            ("10.1.257", Some([10, 1, 1, 1])),
            ("0x7f000001", Some([127, 0, 0, 1])),
            ("2130706433", Some([127, 0, 0, 1])),
            ("017.0.0.1", Some([15, 0, 0, 1])),
            ("0", Some([0, 0, 0, 0])),
            ("1.2.3.256", None),
            ("256.1.1.1", None),
            ("1.2.3.4.5", None),
            ("08.1.1.1", None),
            ("1.2.3.", None),
            ("1.2.3.4 ", None),
            ("web.test", None),
            ("", None),
        ];
        for (s, want) in rows {
            assert_eq!(parse_inet_aton(s).map(|a| a.octets()), *want, "{s:?}");
        }
    }

    #[test]
    fn local_reverse_names() {
        let l = local();
        assert_eq!(
            l.name_for("127.0.1.1".parse().unwrap()).as_deref(),
            Some("box.example.org")
        );
        assert_eq!(
            l.name_for("127.9.9.9".parse().unwrap()).as_deref(),
            Some("localhost")
        );
        assert_eq!(l.name_for("192.168.1.9".parse().unwrap()), None);
    }
}
