//! The settings model: what torify needs to know, with its defaults.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::secret::Secret;

/// Where Tor's SOCKS port listens: an IP address (with [`Settings::tor_port`]) or a unix socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TorAddress {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A unix socket path (`unix:/path`), as tor's `SocksPort unix:/path` offers.
    Unix(PathBuf),
}

impl FromStr for TorAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if !path.starts_with('/') {
                return Err(format!("unix socket path {path:?} is not absolute"));
            }
            return Ok(TorAddress::Unix(PathBuf::from(path)));
        }
        let bare = s
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(s);
        bare.parse::<IpAddr>()
            .map(TorAddress::Ip)
            .map_err(|_| format!("{s:?} is not an IP address (host names are not accepted)"))
    }
}

impl fmt::Display for TorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TorAddress::Ip(ip) => write!(f, "{ip}"),
            TorAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The SOCKS endpoint to dial: address and port joined, or a unix socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocksEndpoint<'a> {
    /// TCP to this address.
    Inet(SocketAddr),
    /// A unix stream socket at this path.
    Unix(&'a Path),
}

impl fmt::Display for SocksEndpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksEndpoint::Inet(a) => write!(f, "{a}"),
            SocksEndpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// A block of IPv4 addresses in CIDR notation, such as `127.42.42.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    base: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// The smallest prefix accepted: a larger block would swallow real destinations.
    pub const MIN_PREFIX: u8 = 8;

    /// A block; `None` when `prefix` is over 32 or `base` has host bits set.
    pub const fn new(base: Ipv4Addr, prefix: u8) -> Option<Self> {
        if prefix > 32 || base.to_bits() & !Self::mask(prefix) != 0 {
            return None;
        }
        Some(Ipv4Net { base, prefix })
    }

    const fn mask(prefix: u8) -> u32 {
        crate::cidr::mask(32, prefix) as u32
    }

    /// The first address.
    pub fn base(&self) -> Ipv4Addr {
        self.base
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// How many addresses the block holds.
    pub fn len(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Never true: a block holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        crate::cidr::within(IpAddr::V4(ip), 32, (IpAddr::V4(self.base), self.prefix))
    }

    /// The `index`th address of the block, if there is one.
    pub fn nth(&self, index: u64) -> Option<Ipv4Addr> {
        if index >= self.len() {
            return None;
        }
        let offset = u32::try_from(index).ok()?;
        Some(Ipv4Addr::from(u32::from(self.base) + offset))
    }

    /// The position of `ip` in the block, if it is inside.
    pub fn index_of(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip)
            .then(|| u64::from(u32::from(ip) - u32::from(self.base)))
    }
}

impl FromStr for Ipv4Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not of the form a.b.c.d/prefix"))?;
        let base: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} in {s:?} is not an IPv4 address"))?;
        let prefix: u8 =
            prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
                format!("prefix {prefix:?} in {s:?} is not a number from 0 to 32")
            })?;
        if prefix < Self::MIN_PREFIX {
            return Err(format!(
                "{s:?} is too large a block (prefix under /{})",
                Self::MIN_PREFIX
            ));
        }
        Ipv4Net::new(base, prefix).ok_or_else(|| {
            let aligned = Ipv4Addr::from(u32::from(base) & Self::mask(prefix));
            format!("{s:?} has host bits set (the block starts at {aligned}/{prefix})")
        })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::cidr::show(IpAddr::V4(self.base), self.prefix))
    }
}

/// Which Tor the launcher uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// A tor daemon's SocksPort (tor.address, tor.port).
    Tor,
    /// The Tor client embedded in the launcher (arti), serving SOCKS to the command only.
    Arti,
    /// The tor daemon when its SocksPort answers, the embedded client otherwise.
    #[default]
    Auto,
}

impl Backend {
    /// The name used in files, the environment and flags.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Tor => "tor",
            Backend::Arti => "arti",
            Backend::Auto => "auto",
        }
    }
}

impl FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Backend::Tor, Backend::Arti, Backend::Auto]
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("{s:?} is not a backend"))
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where ordinary names are resolved (`dns.mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DnsMode {
    /// A SOCKS RESOLVE round trip through Tor at lookup time, as torsocks does: the program
    /// gets the real address, and a name that does not exist fails at the lookup.
    Resolve,
    /// The lookup answers a stand-in address from `dns.exit_range` at once, and the connect
    /// sends the name in the SOCKS CONNECT, so the exit resolves it on the way: one circuit
    /// round trip fewer per new name.
    #[default]
    Exit,
}

impl DnsMode {
    /// The name used in files, the environment and flags.
    pub fn name(self) -> &'static str {
        match self {
            DnsMode::Resolve => "resolve",
            DnsMode::Exit => "exit",
        }
    }
}

impl FromStr for DnsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [DnsMode::Resolve, DnsMode::Exit]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("{s:?} is not resolve or exit"))
    }
}

impl fmt::Display for DnsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How streams are kept apart on Tor circuits (Tor's IsolateSOCKSAuth: different SOCKS
/// credentials never share a circuit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    /// No credentials: Tor's own default isolation only.
    #[default]
    None,
    /// One token for the whole torify invocation and its children.
    Session,
    /// A new token for every process, re-keyed in a child after fork (torsocks' IsolatePID).
    Process,
    /// One token per destination host and port.
    Destination,
    /// Every connection on its own circuit.
    Connection,
}

impl Isolation {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [Isolation; 5] = [
        Isolation::None,
        Isolation::Session,
        Isolation::Process,
        Isolation::Destination,
        Isolation::Connection,
    ];

    /// The name used in files, the environment and flags.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::None => "none",
            Isolation::Session => "session",
            Isolation::Process => "process",
            Isolation::Destination => "destination",
            Isolation::Connection => "connection",
        }
    }
}

impl FromStr for Isolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Isolation::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("{s:?} is not an isolation mode"))
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What may bypass Tor to reach the loopback interface (torsocks' AllowOutboundLocalhost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum Localhost {
    /// 0: nothing; loopback destinations are refused.
    #[default]
    Deny,
    /// 1: TCP connections to loopback go directly.
    Tcp,
    /// 2: TCP and UDP to loopback go directly.
    TcpUdp,
}

impl Localhost {
    /// The torsocks number for this level.
    pub fn level(self) -> u8 {
        match self {
            Localhost::Deny => 0,
            Localhost::Tcp => 1,
            Localhost::TcpUdp => 2,
        }
    }

    /// The level for a torsocks number.
    pub fn from_level(n: i64) -> Option<Self> {
        match n {
            0 => Some(Localhost::Deny),
            1 => Some(Localhost::Tcp),
            2 => Some(Localhost::TcpUdp),
            _ => None,
        }
    }
}

/// How much the library logs (torsocks' TORSOCKS_LOG_LEVEL, 1 to 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// 1: nothing at all.
    None,
    /// 2: errors, including every refusal (the default).
    Error,
    /// 3: warnings too.
    Warn,
    /// 4: notices too.
    Notice,
    /// 5: every decision each hook makes.
    Debug,
}

impl LogLevel {
    const NAMES: [(LogLevel, &'static str); 5] = [
        (LogLevel::None, "none"),
        (LogLevel::Error, "error"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Notice, "notice"),
        (LogLevel::Debug, "debug"),
    ];

    /// The torsocks number (1 to 5).
    pub fn number(self) -> u8 {
        match self {
            LogLevel::None => 1,
            LogLevel::Error => 2,
            LogLevel::Warn => 3,
            LogLevel::Notice => 4,
            LogLevel::Debug => 5,
        }
    }

    /// The level for a torsocks number.
    pub fn from_number(n: i64) -> Option<Self> {
        Self::NAMES
            .iter()
            .map(|(l, _)| *l)
            .find(|l| i64::from(l.number()) == n)
    }

    /// The level's name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("error", |(_, n)| n)
    }

    /// A level from a number (`"3"`) or a name (`"warn"`).
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_number(n);
        }
        Self::NAMES.iter().find(|(_, n)| *n == s).map(|(l, _)| *l)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.name())
    }
}

/// SOCKS5 username and password (RFC 1929); with Tor's IsolateSOCKSAuth they pick the circuit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The username.
    pub username: Secret,
    /// The password.
    pub password: Secret,
}

/// Where log lines go and how they look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// The most detailed level written.
    pub level: LogLevel,
    /// Prefix each line with the time.
    pub time: bool,
    /// Append to this file instead of stderr.
    pub file: Option<PathBuf>,
}

/// The effective settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Tor's SOCKS address (TorAddress).
    pub tor_address: TorAddress,
    /// Tor's SOCKS port (TorPort); unused for a unix socket address.
    pub tor_port: u16,
    /// Explicit SOCKS5 credentials (SOCKS5Username/SOCKS5Password).
    pub credentials: Option<Credentials>,
    /// Isolation mode.
    pub isolation: Isolation,
    /// The block that `.onion` names get their stand-in addresses from (OnionAddrRange).
    pub onion_range: Ipv4Net,
    /// Where ordinary names are resolved: by RESOLVE at lookup, or by the exit at connect.
    pub dns_mode: DnsMode,
    /// The block that ordinary names get their stand-in addresses from with `dns.mode = exit`
    /// (Tor's own VirtualAddrNetworkIPv4 default, 127.192.0.0/10).
    pub exit_range: Ipv4Net,
    /// listen()/accept() on internet sockets (AllowInbound).
    pub allow_inbound: bool,
    /// Loopback traffic that may bypass Tor (AllowOutboundLocalhost).
    pub allow_outbound_localhost: Localhost,
    /// Private networks that TCP connections reach directly, bypassing Tor (allow.direct);
    /// empty by default.
    pub allow_direct: Vec<crate::direct::DirectNet>,
    /// Run setuid, setgid and file-capability programs, which the loader starts without the
    /// library (unsafe: they run outside Tor).
    pub allow_privileged_exec: bool,
    /// Run programs the library cannot enter (static, Go, another libc or architecture),
    /// which would run without it (unsafe: they run outside Tor).
    pub allow_unproxied_exec: bool,
    /// Logging.
    pub log: LogSettings,
    /// Which Tor the launcher uses.
    pub backend: Backend,
    /// Run commands in the kernel cage (`--strict`).
    pub strict: bool,
    /// The embedded Tor client's settings.
    pub arti: crate::arti::ArtiSettings,
    /// What `torify system enable` exempts besides the tor daemon's users and programs and
    /// torify's own.
    pub system: SystemSettings,
}

/// The system-wide mode's exemptions, as the settings file lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemSettings {
    /// Users (names or numeric ids) whose processes run without torify.
    pub exempt_users: Vec<String>,
    /// Programs that run without torify.
    pub exempt_programs: Vec<PathBuf>,
}

impl Settings {
    /// The default Tor SOCKS port of a tor daemon.
    pub const DEFAULT_PORT: u16 = 9050;

    /// The endpoint to dial for SOCKS.
    pub fn socks_endpoint(&self) -> SocksEndpoint<'_> {
        match &self.tor_address {
            TorAddress::Ip(ip) => SocksEndpoint::Inet(SocketAddr::new(*ip, self.tor_port)),
            TorAddress::Unix(path) => SocksEndpoint::Unix(path),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tor_address: TorAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            tor_port: Self::DEFAULT_PORT,
            credentials: None,
            isolation: Isolation::None,
            onion_range: Ipv4Net {
                base: Ipv4Addr::new(127, 42, 42, 0),
                prefix: 24,
            },
            dns_mode: DnsMode::default(),
            exit_range: Ipv4Net {
                base: Ipv4Addr::new(127, 192, 0, 0),
                prefix: 10,
            },
            allow_inbound: false,
            allow_outbound_localhost: Localhost::Deny,
            allow_direct: Vec::new(),
            allow_privileged_exec: false,
            allow_unproxied_exec: false,
            log: LogSettings {
                level: LogLevel::Error,
                time: false,
                file: None,
            },
            strict: false,
            backend: Backend::Auto,
            arti: crate::arti::ArtiSettings::default(),
            system: SystemSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tor_address_accepts_ips_and_unix_paths_only() {
        let cases: &[(&str, Result<TorAddress, ()>)] = &[
            (
                "127.0.0.1",
                Ok(TorAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))),
            ),
            (
                "::1",
                Ok(TorAddress::Ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))),
            ),
            (
                "[::1]",
                Ok(TorAddress::Ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))),
            ),
            (
                "unix:/run/tor/socks",
                Ok(TorAddress::Unix("/run/tor/socks".into())),
            ),
            ("unix:relative", Err(())),
            ("localhost", Err(())),
            ("tor.example", Err(())),
            ("", Err(())),
            ("127.0.0.1:9050", Err(())),
        ];
        for (input, want) in cases {
            let got = input.parse::<TorAddress>().map_err(|_| ());
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn ipv4_net_parses_and_rejects() {
        let cases: &[(&str, Option<(Ipv4Addr, u8)>)] = &[
            ("127.42.42.0/24", Some((Ipv4Addr::new(127, 42, 42, 0), 24))),
            ("10.0.0.0/8", Some((Ipv4Addr::new(10, 0, 0, 0), 8))),
            ("127.42.42.7/32", Some((Ipv4Addr::new(127, 42, 42, 7), 32))),
            ("127.42.42.1/24", None),
            ("127.42.42.0", None),
            ("127.42.42.0/33", None),
            ("127.42.42.0/-1", None),
            ("0.0.0.0/0", None),
            ("127.42.42/24", None),
            ("x/24", None),
        ];
        for (input, want) in cases {
            let got = input
                .parse::<Ipv4Net>()
                .ok()
                .map(|n| (n.base(), n.prefix()));
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn ipv4_net_membership_and_indexing() {
        let net: Ipv4Net = "127.42.42.0/24".parse().unwrap();
        assert_eq!(net.len(), 256);
        assert!(net.contains(Ipv4Addr::new(127, 42, 42, 255)));
        assert!(!net.contains(Ipv4Addr::new(127, 42, 43, 0)));
        assert_eq!(net.nth(0), Some(Ipv4Addr::new(127, 42, 42, 0)));
        assert_eq!(net.nth(255), Some(Ipv4Addr::new(127, 42, 42, 255)));
        assert_eq!(net.nth(256), None);
        assert_eq!(net.index_of(Ipv4Addr::new(127, 42, 42, 9)), Some(9));
        assert_eq!(net.index_of(Ipv4Addr::new(127, 0, 0, 1)), None);
    }

    #[test]
    fn log_levels_by_number_and_name() {
        for (input, want) in [
            ("1", Some(LogLevel::None)),
            ("2", Some(LogLevel::Error)),
            ("5", Some(LogLevel::Debug)),
            ("debug", Some(LogLevel::Debug)),
            ("warn", Some(LogLevel::Warn)),
            ("0", None),
            ("6", None),
            ("loud", None),
        ] {
            assert_eq!(LogLevel::parse(input), want, "{input}");
        }
    }

    #[test]
    fn defaults_match_torsocks_except_logging() {
        let s = Settings::default();
        assert_eq!(s.socks_endpoint().to_string(), "127.0.0.1:9050");
        assert_eq!(s.onion_range.to_string(), "127.42.42.0/24");
        assert_eq!(s.allow_outbound_localhost, Localhost::Deny);
        assert!(!s.allow_inbound);
        assert!(s.allow_direct.is_empty());
        assert_eq!(s.log.level, LogLevel::Error);
    }
}
