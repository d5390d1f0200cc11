//! The `[arti]` table of torify.toml: settings of the embedded Tor client (`--backend arti`).
//! File only: it holds lists (a private network's authorities and fallbacks) no environment
//! variable can carry.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use crate::error::{ConfError, Origin};

/// Settings of the embedded Tor client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArtiSettings {
    /// Where arti keeps its state (guards, keys); `None`: `$XDG_STATE_HOME/torify/arti`.
    pub state_dir: Option<PathBuf>,
    /// Where arti caches directory documents; `None`: `$XDG_CACHE_HOME/torify/arti`.
    pub cache_dir: Option<PathBuf>,
    /// How long bootstrapping may take before torify gives up, in seconds.
    pub bootstrap_timeout: u64,
    /// How long a service that a command started (`torify serve`, started on demand) stays
    /// after its last client left, in seconds: the next command finds its circuits ready.
    pub linger: u64,
    /// How long opening a stream may take (a circuit, an onion service's descriptor,
    /// introduction and rendezvous, the exit's answer) before it fails, in seconds: tor's
    /// SocksTimeout.
    pub connect_timeout: u64,
    /// A private Tor network to join instead of the public one.
    pub network: Option<PrivateNetwork>,
}

impl Default for ArtiSettings {
    fn default() -> Self {
        ArtiSettings {
            state_dir: None,
            cache_dir: None,
            bootstrap_timeout: 120,
            linger: 300,
            connect_timeout: 120,
            network: None,
        }
    }
}

/// A directory authority of a private network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    /// Its v3 identity (40 hex digits: the authority certificate's fingerprint).
    pub v3ident: String,
    /// Its directory address.
    pub address: SocketAddr,
}

/// A relay arti may fetch the first directory documents from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// RSA identity (40 hex digits: the relay fingerprint).
    pub rsa_identity: String,
    /// Ed25519 identity (43 characters of unpadded base64).
    pub ed_identity: String,
    /// Its OR ports.
    pub orports: Vec<SocketAddr>,
}

/// A private Tor network (a test network of one's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateNetwork {
    /// Its directory authorities.
    pub authorities: Vec<Authority>,
    /// Relays to bootstrap from.
    pub fallbacks: Vec<Fallback>,
    /// Let streams go to private and loopback addresses (a test network's destinations).
    pub allow_local_addrs: bool,
    /// Prefix length under which two IPv4 relays count as one family (32: only the same
    /// address; a network on one host needs relays of 127.0.0.1 in one circuit, so 33 turns
    /// the rule off).
    pub ipv4_subnet_family_prefix: u8,
    /// The same for IPv6 (129 turns it off).
    pub ipv6_subnet_family_prefix: u8,
}

/// Reads `[arti]`; `at` gives the origin of a byte offset.
pub(crate) fn read(
    table: &DeTable<'_>,
    at: &dyn Fn(usize) -> Origin,
) -> Result<ArtiSettings, ConfError> {
    let mut a = ArtiSettings::default();
    for (key, value) in table.iter() {
        let here = at(value.span().start);
        match (&**key.get_ref(), value.get_ref()) {
            ("state_dir", v) => a.state_dir = Some(abs_path("arti.state_dir", v, here)?),
            ("cache_dir", v) => a.cache_dir = Some(abs_path("arti.cache_dir", v, here)?),
            ("bootstrap_timeout", v) => {
                a.bootstrap_timeout = seconds(v, "bootstrap_timeout", 1..=3600, 120, here)?;
            }
            ("linger", v) => a.linger = seconds(v, "linger", 0..=86_400, 300, here)?,
            ("connect_timeout", v) => {
                a.connect_timeout = seconds(v, "connect_timeout", 1..=3600, 120, here)?;
            }
            ("network", DeValue::Table(t)) => a.network = Some(network(t, at, here)?),
            (other, _) => {
                return Err(ConfError::new(
                    at(key.span().start),
                    format!("unknown key arti.{other}"),
                    "use state_dir, cache_dir, bootstrap_timeout, linger, connect_timeout or [arti.network] (torify.toml(5))",
                ));
            }
        }
    }
    Ok(a)
}

/// `arti.NAME` as a number of seconds in `range`; the error names the range and `default`.
fn seconds(
    v: &DeValue<'_>,
    name: &str,
    range: std::ops::RangeInclusive<i64>,
    default: u64,
    here: Origin,
) -> Result<u64, ConfError> {
    integer(v)
        .filter(|n| range.contains(n))
        .map(|n| n as u64)
        .ok_or_else(|| {
            ConfError::new(
                here,
                format!(
                    "arti.{name} is not a number of seconds from {} to {}",
                    range.start(),
                    range.end()
                ),
                format!("set arti.{name} = {default}"),
            )
        })
}

fn integer(v: &DeValue<'_>) -> Option<i64> {
    match v {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    }
}

fn string<'a>(v: &'a DeValue<'_>) -> Option<&'a str> {
    match v {
        DeValue::String(s) => Some(s),
        _ => None,
    }
}

fn abs_path(name: &str, v: &DeValue<'_>, here: Origin) -> Result<PathBuf, ConfError> {
    string(v)
        .filter(|s| s.starts_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| {
            ConfError::new(
                here,
                format!("{name} is not an absolute path"),
                format!("set {name} to an absolute directory path"),
            )
        })
}

fn hex40(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn ed25519_base64(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

fn address(v: &DeValue<'_>, name: &str, here: &Origin) -> Result<SocketAddr, ConfError> {
    string(v).and_then(|s| s.parse().ok()).ok_or_else(|| {
        ConfError::new(
            here.clone(),
            format!("{name} is not an address:port"),
            format!("write {name} as \"127.0.0.1:5100\""),
        )
    })
}

fn entries<'a, 'i>(
    v: &'a DeValue<'i>,
    name: &str,
    here: &Origin,
) -> Result<Vec<&'a DeTable<'i>>, ConfError> {
    let DeValue::Array(items) = v else {
        return Err(ConfError::new(
            here.clone(),
            format!("arti.network.{name} is not a list"),
            format!("write {name} = [{{ … }}, …]"),
        ));
    };
    items
        .iter()
        .map(|item| match item.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(ConfError::new(
                here.clone(),
                format!("an entry of arti.network.{name} is not a table"),
                format!("write {name} = [{{ … }}, …]"),
            )),
        })
        .collect()
}

fn field<'a, 'i>(t: &'a DeTable<'i>, name: &str) -> Option<&'a DeValue<'i>> {
    t.iter()
        .find(|(k, _)| &**k.get_ref() == name)
        .map(|(_, v)| v.get_ref())
}

fn network(
    t: &DeTable<'_>,
    at: &dyn Fn(usize) -> Origin,
    table_at: Origin,
) -> Result<PrivateNetwork, ConfError> {
    let mut n = PrivateNetwork {
        authorities: Vec::new(),
        fallbacks: Vec::new(),
        allow_local_addrs: false,
        ipv4_subnet_family_prefix: 16,
        ipv6_subnet_family_prefix: 32,
    };
    for (key, value) in t.iter() {
        let here = at(value.span().start);
        let v = value.get_ref();
        match &**key.get_ref() {
            "authorities" => {
                for e in entries(v, "authorities", &here)? {
                    let v3ident = field(e, "v3ident")
                        .and_then(string)
                        .filter(|s| hex40(s))
                        .ok_or_else(|| {
                            ConfError::new(
                                here.clone(),
                                "an authority's v3ident is not 40 hex digits",
                                "copy the fingerprint line of its authority_certificate",
                            )
                        })?;
                    let address = address(
                        field(e, "address").unwrap_or(&DeValue::Boolean(false)),
                        "address",
                        &here,
                    )?;
                    n.authorities.push(Authority {
                        v3ident: v3ident.to_owned(),
                        address,
                    });
                }
            }
            "fallbacks" => {
                for e in entries(v, "fallbacks", &here)? {
                    let rsa = field(e, "rsa_identity")
                        .and_then(string)
                        .filter(|s| hex40(s))
                        .ok_or_else(|| {
                            ConfError::new(
                                here.clone(),
                                "a fallback's rsa_identity is not 40 hex digits",
                                "copy the relay's DataDirectory/fingerprint",
                            )
                        })?;
                    let ed = field(e, "ed_identity")
                        .and_then(string)
                        .filter(|s| ed25519_base64(s))
                        .ok_or_else(|| {
                            ConfError::new(
                                here.clone(),
                                "a fallback's ed_identity is not 43 characters of base64",
                                "copy the relay's DataDirectory/fingerprint-ed25519",
                            )
                        })?;
                    let orports = match field(e, "orports") {
                        Some(DeValue::Array(ports)) => ports
                            .iter()
                            .map(|p| address(p.get_ref(), "orports", &here))
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => {
                            return Err(ConfError::new(
                                here.clone(),
                                "a fallback has no orports list",
                                "write orports = [\"127.0.0.1:5100\"]",
                            ));
                        }
                    };
                    n.fallbacks.push(Fallback {
                        rsa_identity: rsa.to_owned(),
                        ed_identity: ed.to_owned(),
                        orports,
                    });
                }
            }
            "allow_local_addrs" => {
                n.allow_local_addrs = matches!(v, DeValue::Boolean(true));
                if !matches!(v, DeValue::Boolean(_)) {
                    return Err(ConfError::new(
                        here,
                        "arti.network.allow_local_addrs is not true or false",
                        "set it to true or false",
                    ));
                }
            }
            "ipv4_subnet_family_prefix" => {
                n.ipv4_subnet_family_prefix = integer(v)
                    .and_then(|p| u8::try_from(p).ok())
                    .filter(|p| *p <= 33)
                    .ok_or_else(|| {
                        ConfError::new(
                            here,
                            "arti.network.ipv4_subnet_family_prefix is not 0 to 33",
                            "use 16 (Tor's rule), 32, or 33 to turn the rule off",
                        )
                    })?;
            }
            "ipv6_subnet_family_prefix" => {
                n.ipv6_subnet_family_prefix = integer(v)
                    .and_then(|p| u8::try_from(p).ok())
                    .filter(|p| *p <= 129)
                    .ok_or_else(|| {
                        ConfError::new(
                            here,
                            "arti.network.ipv6_subnet_family_prefix is not 0 to 129",
                            "use 32 (Tor's rule), 128, or 129 to turn the rule off",
                        )
                    })?;
            }
            other => {
                return Err(ConfError::new(
                    at(key.span().start),
                    format!("unknown key arti.network.{other}"),
                    "use authorities, fallbacks, allow_local_addrs, ipv4_subnet_family_prefix, ipv6_subnet_family_prefix",
                ));
            }
        }
    }
    if n.authorities.is_empty() || n.fallbacks.is_empty() {
        return Err(ConfError::new(
            table_at,
            "[arti.network] needs at least one authority and one fallback",
            "list the private network's authorities and relays, or remove [arti.network] to use the public Tor network",
        ));
    }
    Ok(n)
}
