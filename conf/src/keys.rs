//! Every setting, by the names it has in each source, and how its value is read.
//!
//! This table is the single list of settings: the TOML reader, the torsocks.conf reader, the
//! environment reader, `torify show` and the documentation tests all walk it.

use std::path::PathBuf;

use crate::direct::DirectNet;
use crate::model::{Backend, DnsMode, Ipv4Net, Isolation, Localhost, LogLevel, TorAddress};
use crate::raw::{BadEntry, Raw};
use crate::secret::Secret;

/// A setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// Tor's SOCKS address.
    TorAddress,
    /// Tor's SOCKS port.
    TorPort,
    /// SOCKS5 username.
    Username,
    /// SOCKS5 password.
    Password,
    /// Isolation mode.
    Isolation,
    /// torsocks' IsolatePID switch: `1` is isolation mode `process`, `0` is `none`.
    IsolatePid,
    /// The `.onion` stand-in address block.
    OnionRange,
    /// Where ordinary names are resolved: resolve or exit.
    DnsMode,
    /// The stand-in address block of names resolved at the exit.
    ExitRange,
    /// listen()/accept() on internet sockets.
    AllowInbound,
    /// Loopback that may bypass Tor: 0, 1 (TCP) or 2 (TCP and UDP).
    AllowOutboundLocalhost,
    /// Private networks whose TCP destinations bypass Tor (allow.direct).
    AllowDirect,
    /// Log level, 1 to 5.
    LogLevel,
    /// Timestamps on log lines.
    LogTime,
    /// Log file.
    LogFile,
    /// torsocks' EnableIPv6: accepted and ignored, IPv6 always goes through Tor.
    EnableIpv6,
    /// Run setuid/setgid/capability programs although they escape the library (unsafe).
    AllowPrivilegedExec,
    /// allow.unproxied_exec
    AllowUnproxiedExec,
    /// tor, arti or auto.
    Backend,
    /// tor.strict: run commands in the kernel cage.
    Strict,
    /// system.exempt_users: users `torify system enable` exempts besides the tor daemon's.
    SystemExemptUsers,
    /// system.exempt_programs: programs `torify system enable` exempts besides its own.
    SystemExemptPrograms,
}

impl Key {
    /// Takes a list: a TOML array (its entries each checked, with their own position).
    pub(crate) fn is_list(self) -> bool {
        matches!(
            self,
            Key::AllowDirect | Key::SystemExemptUsers | Key::SystemExemptPrograms
        )
    }
}

/// A setting's names and documentation.
#[derive(Clone, Copy, Debug)]
pub struct KeyInfo {
    /// The setting.
    pub key: Key,
    /// Dotted name in torify.toml.
    pub toml: Option<&'static str>,
    /// Directive in a legacy torsocks.conf.
    pub legacy: Option<&'static str>,
    /// Environment variable.
    pub env: Option<&'static str>,
    /// Shown masked, zeroized on drop.
    pub secret: bool,
    /// What a valid value looks like, for error messages.
    pub expects: &'static str,
}

const fn info(
    key: Key,
    toml: Option<&'static str>,
    legacy: Option<&'static str>,
    env: Option<&'static str>,
    expects: &'static str,
) -> KeyInfo {
    KeyInfo {
        key,
        toml,
        legacy,
        env,
        secret: matches!(key, Key::Username | Key::Password),
        expects,
    }
}

/// The variable of tor.address, which the launcher sets itself to hand a command the embedded
/// client's socket.
pub const ADDRESS_VARIABLE: &str = "TORSOCKS_TOR_ADDRESS";
/// The variable of log.level, which the launcher sets for the children it only probes.
pub const LOG_LEVEL_VARIABLE: &str = "TORSOCKS_LOG_LEVEL";

/// Every setting.
pub const KEYS: &[KeyInfo] = &[
    info(
        Key::TorAddress,
        Some("tor.address"),
        Some("TorAddress"),
        Some(ADDRESS_VARIABLE),
        "an IPv4 or IPv6 address, or unix:/absolute/path",
    ),
    info(
        Key::TorPort,
        Some("tor.port"),
        Some("TorPort"),
        Some("TORSOCKS_TOR_PORT"),
        "a port from 1 to 65535 (Tor's SocksPort, 9050 for a tor daemon)",
    ),
    info(
        Key::Username,
        Some("tor.username"),
        Some("SOCKS5Username"),
        Some("TORSOCKS_USERNAME"),
        "1 to 255 bytes, together with a password",
    ),
    info(
        Key::Password,
        Some("tor.password"),
        Some("SOCKS5Password"),
        Some("TORSOCKS_PASSWORD"),
        "1 to 255 bytes, together with a username",
    ),
    info(
        Key::Backend,
        Some("tor.backend"),
        None,
        Some("TORIFY_BACKEND"),
        "tor, arti or auto",
    ),
    info(
        Key::Strict,
        Some("tor.strict"),
        None,
        Some("TORIFY_STRICT"),
        "0 or 1 (true or false in torify.toml)",
    ),
    info(
        Key::Isolation,
        Some("tor.isolation"),
        None,
        Some("TORIFY_ISOLATION"),
        "one of none, session, process, destination, connection",
    ),
    info(
        Key::IsolatePid,
        None,
        Some("IsolatePID"),
        Some("TORSOCKS_ISOLATE_PID"),
        "0 or 1",
    ),
    info(
        Key::OnionRange,
        Some("dns.onion_range"),
        Some("OnionAddrRange"),
        Some("TORIFY_ONION_RANGE"),
        "an IPv4 block such as 127.42.42.0/24 (prefix /8 to /32, host bits zero)",
    ),
    info(
        Key::DnsMode,
        Some("dns.mode"),
        None,
        Some("TORIFY_DNS"),
        "resolve (a RESOLVE round trip at lookup, as torsocks) or exit (the exit resolves at connect)",
    ),
    info(
        Key::ExitRange,
        Some("dns.exit_range"),
        None,
        Some("TORIFY_EXIT_RANGE"),
        "an IPv4 block such as 127.192.0.0/10 (prefix /8 to /32, host bits zero)",
    ),
    info(
        Key::AllowInbound,
        Some("allow.inbound"),
        Some("AllowInbound"),
        Some("TORSOCKS_ALLOW_INBOUND"),
        "0 or 1 (true or false in torify.toml)",
    ),
    info(
        Key::AllowOutboundLocalhost,
        Some("allow.outbound_localhost"),
        Some("AllowOutboundLocalhost"),
        Some("TORIFY_ALLOW_OUTBOUND_LOCALHOST"),
        "0 (refuse), 1 (TCP) or 2 (TCP and UDP)",
    ),
    info(
        Key::LogLevel,
        Some("log.level"),
        None,
        Some(LOG_LEVEL_VARIABLE),
        "1 to 5, or none, error, warn, notice, debug",
    ),
    info(
        Key::LogTime,
        Some("log.time"),
        None,
        Some("TORSOCKS_LOG_TIME"),
        "0 or 1 (true or false in torify.toml)",
    ),
    info(
        Key::LogFile,
        Some("log.file"),
        None,
        Some("TORSOCKS_LOG_FILE_PATH"),
        "an absolute file path",
    ),
    info(
        Key::AllowDirect,
        Some("allow.direct"),
        // torsocks has no such directive (tsocks' `local =` is the idea, not the syntax).
        None,
        Some("TORIFY_DIRECT"),
        crate::direct::EXPECTS,
    ),
    info(
        Key::AllowPrivilegedExec,
        Some("allow.privileged_exec"),
        None,
        Some("TORIFY_ALLOW_PRIVILEGED_EXEC"),
        "0 or 1 (true or false in torify.toml); 1 is unsafe",
    ),
    info(
        Key::AllowUnproxiedExec,
        Some("allow.unproxied_exec"),
        None,
        Some("TORIFY_ALLOW_UNPROXIED_EXEC"),
        "0 or 1 (true or false in torify.toml); 1 is unsafe",
    ),
    info(
        Key::EnableIpv6,
        None,
        Some("EnableIPv6"),
        Some("TORSOCKS_ENABLE_IPV6"),
        "0 or 1",
    ),
    // The system-wide mode's exemptions: from a settings file only (no variable, so that no
    // program can exempt itself), read by `torify system enable`.
    info(
        Key::SystemExemptUsers,
        Some("system.exempt_users"),
        None,
        None,
        "a list of user names or numeric ids, such as [\"debian-tor\", \"1001\"]",
    ),
    info(
        Key::SystemExemptPrograms,
        Some("system.exempt_programs"),
        None,
        None,
        "a list of absolute program paths, such as [\"/usr/sbin/dhclient\"]",
    ),
];

/// The table row of `key`.
pub fn key_info(key: Key) -> &'static KeyInfo {
    KEYS.iter().find(|i| i.key == key).unwrap_or(&KEYS[0])
}

/// A checked value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Address(TorAddress),
    Port(u16),
    Secret(Secret),
    Isolation(Isolation),
    Backend(Backend),
    Dns(DnsMode),
    Flag(bool),
    Range(Ipv4Net),
    Localhost(Localhost),
    Nets(Vec<DirectNet>),
    Level(LogLevel),
    Path(PathBuf),
    Names(Vec<String>),
    Paths(Vec<PathBuf>),
}

/// The entries of a list of strings, each checked by `entry`.
fn strings<T>(raw: Raw<'_>, entry: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, BadEntry> {
    match raw {
        Raw::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, (item, _))| {
                text_of(*item)
                    .and_then(&entry)
                    .map_err(|e| BadEntry::from(format!("entry {}: {e}", i + 1)).at(i))
            })
            .collect(),
        other => Err(format!(
            "{}, not a list",
            text_of(other).map_or_else(|e| e, |s| format!("{s:?} is a string"))
        )
        .into()),
    }
}

fn int_of(raw: Raw<'_>) -> Result<i64, String> {
    match raw {
        Raw::Int(n) => Ok(n),
        Raw::Text(s) => s
            .parse::<i64>()
            .map_err(|_| format!("{s:?} is not a number")),
        Raw::TomlStr(s) => Err(format!("{s:?} is a string, not a number")),
        Raw::Bool(b) => Err(format!("{b} is a boolean, not a number")),
        Raw::Other(t) => Err(format!("a {t} is not a number")),
        Raw::List(_) => Err("a list is not a number".to_owned()),
    }
}

fn text_of(raw: Raw<'_>) -> Result<&str, String> {
    match raw {
        Raw::Text(s) | Raw::TomlStr(s) => Ok(s),
        Raw::Int(n) => Err(format!("{n} is a number, not a string")),
        Raw::Bool(b) => Err(format!("{b} is a boolean, not a string")),
        Raw::Other(t) => Err(format!("a {t} is not a string")),
        Raw::List(_) => Err("a list is not a string".to_owned()),
    }
}

fn bool_of(raw: Raw<'_>) -> Result<bool, String> {
    match raw {
        Raw::Bool(b) => Ok(b),
        Raw::Text("0") => Ok(false),
        Raw::Text("1") => Ok(true),
        Raw::Text(s) => Err(format!("{s:?} is neither 0 nor 1")),
        Raw::TomlStr(s) => Err(format!("{s:?} is a string, not true or false")),
        Raw::Int(n) => Err(format!("{n} is a number, not true or false")),
        Raw::Other(t) => Err(format!("a {t} is not true or false")),
        Raw::List(_) => Err("a list is not true or false".to_owned()),
    }
}

fn credential(raw: Raw<'_>) -> Result<Value, String> {
    let s = text_of(raw)?;
    // RFC 1929 gives each field one length byte; an empty field is how Tor spells "no
    // credentials", which would silently undo the isolation the user asked for.
    if s.is_empty() || s.len() > 255 {
        return Err(format!("is {} bytes long", s.len()));
    }
    Ok(Value::Secret(Secret::new(s.to_owned())))
}

/// Checks `raw` as a value of `key`: the refusal names the entry of a list it is about, and
/// carries a fix of its own where the key's `expects` would not say enough.
pub(crate) fn parse_value(key: Key, raw: Raw<'_>) -> Result<Value, BadEntry> {
    match key {
        Key::AllowDirect => crate::direct::read(raw).map(Value::Nets),
        Key::SystemExemptUsers => strings(raw, |s| {
            if s.is_empty() || s.contains([':', '\n', ' ']) {
                Err(format!("{s:?} is not a user name"))
            } else {
                Ok(s.to_owned())
            }
        })
        .map(Value::Names),
        Key::SystemExemptPrograms => strings(raw, |s| {
            if s.starts_with('/') {
                Ok(PathBuf::from(s))
            } else {
                Err(format!("{s:?} is not an absolute path"))
            }
        })
        .map(Value::Paths),
        single => parse_single(single, raw).map_err(BadEntry::from),
    }
}

/// The keys of one value, whose refusal is its problem alone.
fn parse_single(key: Key, raw: Raw<'_>) -> Result<Value, String> {
    match key {
        Key::TorAddress => text_of(raw)?.parse().map(Value::Address),
        Key::TorPort => {
            let n = int_of(raw)?;
            u16::try_from(n)
                .ok()
                .filter(|p| *p != 0)
                .map(Value::Port)
                .ok_or_else(|| format!("{n} is out of range 1-65535"))
        }
        Key::Username | Key::Password => credential(raw),
        Key::Isolation => text_of(raw)?.parse().map(Value::Isolation),
        Key::Backend => text_of(raw)?.parse().map(Value::Backend),
        Key::IsolatePid
        | Key::AllowInbound
        | Key::LogTime
        | Key::EnableIpv6
        | Key::AllowPrivilegedExec
        | Key::AllowUnproxiedExec
        | Key::Strict => bool_of(raw).map(Value::Flag),
        Key::OnionRange | Key::ExitRange => text_of(raw)?.parse().map(Value::Range),
        Key::DnsMode => text_of(raw)?.parse().map(Value::Dns),
        Key::AllowOutboundLocalhost => {
            let n = int_of(raw)?;
            Localhost::from_level(n)
                .map(Value::Localhost)
                .ok_or_else(|| format!("{n} is not 0, 1 or 2"))
        }
        Key::LogLevel => {
            let level = match raw {
                Raw::Int(n) => LogLevel::from_number(n),
                other => LogLevel::parse(text_of(other)?),
            };
            level
                .map(Value::Level)
                .ok_or_else(|| "is not a log level".to_owned())
        }
        Key::LogFile => {
            let s = text_of(raw)?;
            if !s.starts_with('/') {
                return Err(format!("log file {s:?} is not an absolute path"));
            }
            Ok(Value::Path(PathBuf::from(s)))
        }
        // Lists: read by parse_value itself.
        Key::AllowDirect | Key::SystemExemptUsers | Key::SystemExemptPrograms => {
            Err("is a list".to_owned())
        }
    }
}

/// The known name nearest to `name` (for "did you mean" hints), if one is close.
pub(crate) fn nearest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| {
            (
                edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_row_and_a_name_somewhere() {
        for info in KEYS {
            assert_eq!(KEYS.iter().filter(|i| i.key == info.key).count(), 1);
            assert!(info.toml.is_some() || info.legacy.is_some() || info.env.is_some());
        }
    }

    #[test]
    fn values_are_checked_per_key() {
        use Raw::*;
        let ok: &[(Key, Raw<'_>)] = &[
            (Key::TorPort, Int(9050)),
            (Key::TorPort, Text("9150")),
            (Key::TorAddress, Text("::1")),
            (Key::AllowInbound, Bool(true)),
            (Key::AllowInbound, Text("0")),
            (Key::AllowOutboundLocalhost, Text("2")),
            (Key::LogLevel, TomlStr("debug")),
            (Key::LogLevel, Int(5)),
            (Key::Isolation, TomlStr("connection")),
            (Key::Username, Text("alice")),
            (Key::LogFile, Text("/tmp/torify.log")),
        ];
        for (key, raw) in ok {
            assert!(parse_value(*key, *raw).is_ok(), "{key:?} {raw:?}");
        }
        let bad: &[(Key, Raw<'_>, &str)] = &[
            (Key::TorPort, Int(70000), "70000 is out of range 1-65535"),
            (Key::TorPort, Int(0), "0 is out of range 1-65535"),
            (
                Key::TorPort,
                TomlStr("9050"),
                "\"9050\" is a string, not a number",
            ),
            (Key::TorPort, Text("ninety"), "\"ninety\" is not a number"),
            (
                Key::TorAddress,
                Text("tor.example"),
                "\"tor.example\" is not an IP address (host names are not accepted)",
            ),
            (Key::AllowInbound, Text("yes"), "\"yes\" is neither 0 nor 1"),
            (
                Key::AllowInbound,
                TomlStr("true"),
                "\"true\" is a string, not true or false",
            ),
            (Key::AllowOutboundLocalhost, Int(3), "3 is not 0, 1 or 2"),
            (Key::LogLevel, Int(9), "is not a log level"),
            (
                Key::Isolation,
                TomlStr("pid"),
                "\"pid\" is not an isolation mode",
            ),
            (Key::Username, Text(""), "is 0 bytes long"),
            (
                Key::LogFile,
                Text("torify.log"),
                "log file \"torify.log\" is not an absolute path",
            ),
            (Key::OnionRange, Other("array"), "a array is not a string"),
        ];
        for (key, raw, problem) in bad {
            assert_eq!(
                parse_value(*key, *raw).err().map(|e| e.problem).as_deref(),
                Some(*problem),
                "{key:?}"
            );
        }
    }

    #[test]
    fn suggestions_find_near_misses_only() {
        let known = ["tor.address", "tor.port", "allow.inbound"];
        assert_eq!(
            nearest("tor.adress", known.into_iter()),
            Some("tor.address")
        );
        assert_eq!(nearest("tor.prot", known.into_iter()), Some("tor.port"));
        assert_eq!(nearest("completely.else", known.into_iter()), None);
    }
}
