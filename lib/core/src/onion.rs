//! `.onion` names. A program that looks up `<56 chars>.onion` gets a stand-in address from a
//! configured block (OnionAddrRange, 127.42.42.0/24 by default; see `pool`); connecting to that
//! address sends the name in the SOCKS CONNECT, so Tor reaches the onion service and nothing
//! ever resolves the name.

use std::fmt;

use sha3::{Digest, Sha3_256};

/// Why a `.onion` name is not a valid v3 onion address (rend-spec-v3 §6, "Encoding onion
/// addresses": base32(PUBKEY | CHECKSUM | VERSION) + ".onion").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnionError {
    /// The label before `.onion` is not 56 characters (v2 addresses, 16 characters, are no
    /// longer served by Tor).
    Length(usize),
    /// A character outside base32 (a-z, 2-7).
    Charset,
    /// The version byte is not 3.
    Version(u8),
    /// The checksum does not match: a typo.
    Checksum,
}

impl fmt::Display for OnionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnionError::Length(16) => {
                f.write_str("a v2 onion address (16 characters), which Tor no longer supports")
            }
            OnionError::Length(n) => {
                write!(f, "{n} characters before .onion where a v3 address has 56")
            }
            OnionError::Charset => f.write_str("characters outside base32 (a-z, 2-7)"),
            OnionError::Version(v) => write!(f, "version {v} where v3 addresses have 3"),
            OnionError::Checksum => f.write_str("a wrong checksum (a mistyped address)"),
        }
    }
}

/// Strips one trailing dot, as DNS allows for a fully qualified name.
fn without_root_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// True for names under `.onion` (any case, with or without the root dot).
pub fn is_onion(name: &str) -> bool {
    let n = without_root_dot(name);
    n.len() > 6
        && n.get(n.len() - 6..)
            .is_some_and(|s| s.eq_ignore_ascii_case(".onion"))
}

/// True for names under `.exit`, Tor's exit-selection notation, which an application must not
/// be able to use to choose the exit.
pub fn is_exit_notation(name: &str) -> bool {
    let n = without_root_dot(name);
    n.len() > 5
        && n.get(n.len() - 5..)
            .is_some_and(|s| s.eq_ignore_ascii_case(".exit"))
}

fn base32_value(c: u8) -> Option<u8> {
    match c {
        b'a'..=b'z' => Some(c - b'a'),
        b'2'..=b'7' => Some(c - b'2' + 26),
        _ => None,
    }
}

/// Checks a v3 onion name (subdomains allowed: `www.<56>.onion`) and returns it lowercased
/// without the root dot.
pub fn validate(name: &str) -> Result<String, OnionError> {
    let lower = without_root_dot(name).to_ascii_lowercase();
    let base = lower.strip_suffix(".onion").unwrap_or(&lower);
    let label = base.rsplit('.').next().unwrap_or(base);
    if label.len() != 56 {
        return Err(OnionError::Length(label.len()));
    }
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut bytes = [0u8; 35];
    let mut n = 0;
    for c in label.bytes() {
        bits = bits << 5 | u64::from(base32_value(c).ok_or(OnionError::Charset)?);
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            if let Some(slot) = bytes.get_mut(n) {
                *slot = (bits >> nbits) as u8;
            }
            n += 1;
        }
    }
    let (pubkey, rest) = bytes.split_at(32);
    let (checksum, version) = rest.split_at(2);
    if version[0] != 3 {
        return Err(OnionError::Version(version[0]));
    }
    let mut h = Sha3_256::new();
    h.update(b".onion checksum");
    h.update(pubkey);
    h.update(version);
    if h.finalize()[..2] != *checksum {
        return Err(OnionError::Checksum);
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The address of the Tor Project's website, a real v3 address with a valid checksum.
    const REAL: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

    #[test]
    fn onion_names_are_validated() {
        let rows: &[(&str, Result<&str, OnionError>)] = &[
            (REAL, Ok(REAL)),
            (
                "2GZYXA5IHM7NSGGFXNU52RCK2VV4RVMDLKIU3ZZUI5DU4XYCLEN53WID.ONION.",
                Ok(REAL),
            ),
            (
                "www.2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
                Ok("www.2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion"),
            ),
            ("expyuzz4wqqyqhjn.onion", Err(OnionError::Length(16))),
            ("short.onion", Err(OnionError::Length(5))),
            (
                "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wi1.onion",
                Err(OnionError::Charset),
            ),
            (
                "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wie.onion",
                Err(OnionError::Version(4)),
            ),
            (
                "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclfn53wid.onion",
                Err(OnionError::Checksum),
            ),
            (
                "3gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
                Err(OnionError::Checksum),
            ),
            (
                "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wia.onion",
                Err(OnionError::Version(0)),
            ),
        ];
        for (name, want) in rows {
            assert_eq!(validate(name).as_deref().map_err(|e| *e), *want, "{name}");
        }
    }

    #[test]
    fn suffixes() {
        assert!(
            is_onion("x.onion")
                && is_onion("X.ONION.")
                && !is_onion(".onion")
                && !is_onion("onion.com")
        );
        assert!(
            is_exit_notation("example.com.relay.exit")
                && is_exit_notation("a.EXIT.")
                && !is_exit_notation("exit")
        );
    }
}
