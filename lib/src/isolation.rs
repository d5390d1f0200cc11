//! SOCKS credentials per isolation mode. With tor's IsolateSOCKSAuth (on by default), streams
//! with different credentials never share a circuit, so the credentials are the isolation.
//!
//! Tokens are 128 random bits from getrandom, never logged, and zeroized when dropped.

use std::hash::Hasher as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use torify_conf::{Isolation, Settings};
use torify_core::socks5::{Credentials, Target};
use zeroize::Zeroize;

use crate::sys;

/// A random isolation token.
#[derive(Clone)]
pub(crate) struct Token([u8; 16]);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl Token {
    /// A fresh random token; `None` if the kernel's random source fails (callers fail closed).
    pub(crate) fn random() -> Option<Self> {
        let mut t = [0u8; 16];
        getrandom::fill(&mut t).ok()?;
        Some(Token(t))
    }

    /// A token from 32 hex digits (as the launcher passes the session token).
    pub(crate) fn from_hex(s: &str) -> Option<Self> {
        torify_core::hex::decode(s).map(Token)
    }

    /// The token as 32 hex digits (how the session token travels to children).
    pub(crate) fn hex(&self) -> String {
        torify_core::hex::encode(&self.0)
    }

    fn keys(&self) -> (u64, u64) {
        let (a, b) = self.0.split_at(8);
        let k = |s: &[u8]| s.iter().fold(0u64, |acc, x| acc << 8 | u64::from(*x));
        (k(a), k(b))
    }
}

/// The username/password to send, in buffers zeroized on drop.
pub(crate) struct SocksAuth {
    user: String,
    pass: String,
}

impl Drop for SocksAuth {
    fn drop(&mut self) {
        self.user.zeroize();
        self.pass.zeroize();
    }
}

impl SocksAuth {
    fn token(token: &[u8; 16], mode: Isolation) -> Self {
        let mut user = String::with_capacity(40);
        user.push_str("torify-");
        torify_core::hex::encode_into(token, &mut user);
        SocksAuth {
            user,
            pass: mode.name().to_owned(),
        }
    }

    /// As the codec takes them.
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            username: self.user.as_bytes(),
            password: self.pass.as_bytes(),
        }
    }
}

/// The per-process token and the pid it belongs to; a forked child sees another pid and makes
/// its own.
static PROCESS_PID: AtomicU32 = AtomicU32::new(0);
static PROCESS_TOKEN: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

fn process_token() -> Option<[u8; 16]> {
    let pid = sys::pid();
    if PROCESS_PID.load(Ordering::Acquire) != pid {
        let fresh = Token::random()?;
        let (a, b) = fresh.keys();
        PROCESS_TOKEN[0].store(a, Ordering::Relaxed);
        PROCESS_TOKEN[1].store(b, Ordering::Relaxed);
        PROCESS_PID.store(pid, Ordering::Release);
    }
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&PROCESS_TOKEN[0].load(Ordering::Relaxed).to_be_bytes());
    t[8..].copy_from_slice(&PROCESS_TOKEN[1].load(Ordering::Relaxed).to_be_bytes());
    Some(t)
}

/// A token per destination under `key`: the same host and port always get the same circuit
/// family, different ones never share.
fn destination_token(key: &[u8; 16], target: &Target<'_>) -> [u8; 16] {
    let (k0, k1) = Token(*key).keys();
    let half = |salt: u8| {
        // SipHash-2-4 keyed with the session's secret: a keyed PRF, not a table hash.
        let mut h = siphasher::sip::SipHasher24::new_with_keys(k0 ^ u64::from(salt), k1);
        match target {
            Target::Addr(a) => {
                h.write(a.ip().to_string().as_bytes());
                h.write_u16(a.port());
            }
            Target::Name(n, port) => {
                h.write(n.to_ascii_lowercase().as_bytes());
                h.write_u16(*port);
            }
        }
        h.finish().to_be_bytes()
    };
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&half(0));
    t[8..].copy_from_slice(&half(1));
    t
}

/// The credentials for one connection to `target`. `Err(())` when a token cannot be made:
/// the caller refuses rather than connect without the isolation that was asked for.
pub(crate) fn auth_for(
    settings: &Settings,
    session: Option<&Token>,
    target: &Target<'_>,
) -> Result<Option<SocksAuth>, ()> {
    if let Some(c) = &settings.credentials {
        return Ok(Some(SocksAuth {
            user: c.username.expose().to_owned(),
            pass: c.password.expose().to_owned(),
        }));
    }
    let mode = settings.isolation;
    let token = match mode {
        Isolation::None => return Ok(None),
        Isolation::Session => match session {
            Some(t) => t.0,
            None => process_token().ok_or(())?,
        },
        Isolation::Process => process_token().ok_or(())?,
        Isolation::Destination => {
            let key = match session {
                Some(t) => t.0,
                None => process_token().ok_or(())?,
            };
            destination_token(&key, target)
        }
        _ => Token::random().ok_or(())?.0,
    };
    Ok(Some(SocksAuth::token(&token, mode)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(mode: Isolation) -> Settings {
        Settings {
            isolation: mode,
            ..Settings::default()
        }
    }

    fn user(s: &Settings, session: Option<&Token>, t: &Target<'_>) -> Option<String> {
        auth_for(s, session, t).unwrap().map(|a| a.user.clone())
    }

    #[test]
    fn modes_give_the_promised_sameness() {
        let a = Target::Name("a.test", 80);
        let b = Target::Name("b.test", 80);
        let session = Token::from_hex("00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(user(&with(Isolation::None), None, &a), None);
        let s = with(Isolation::Session);
        assert_eq!(
            user(&s, Some(&session), &a).unwrap(),
            "torify-00112233445566778899aabbccddeeff"
        );
        assert_eq!(user(&s, Some(&session), &a), user(&s, Some(&session), &b));
        let p = with(Isolation::Process);
        assert_eq!(user(&p, None, &a), user(&p, None, &b));
        let d = with(Isolation::Destination);
        assert_eq!(user(&d, Some(&session), &a), user(&d, Some(&session), &a));
        assert_ne!(user(&d, Some(&session), &a), user(&d, Some(&session), &b));
        assert_ne!(
            user(&d, Some(&session), &a),
            user(&d, Some(&session), &Target::Name("a.test", 81))
        );
        let c = with(Isolation::Connection);
        assert_ne!(user(&c, None, &a), user(&c, None, &a));
    }

    #[test]
    fn explicit_credentials_are_used_as_given() {
        let mut s = with(Isolation::None);
        s.credentials = Some(torify_conf::Credentials {
            username: torify_conf::Secret::new("u".into()),
            password: pass_placeholder(),
        });
        let auth = auth_for(&s, None, &Target::Name("a.test", 1))
            .unwrap()
            .unwrap();
        assert_eq!(auth.credentials().username, b"u");
        assert_eq!(auth.credentials().password, b"p");
    }

    fn pass_placeholder() -> torify_conf::Secret {
        torify_conf::Secret::new("p".into())
    }

    #[test]
    fn bad_session_tokens_are_rejected() {
        assert!(Token::from_hex("xyz").is_none());
        assert!(Token::from_hex("0011223344556677889900aabbccddeeg").is_none());
        assert!(Token::from_hex("00112233445566778899aabbccddeezz").is_none());
    }
}
