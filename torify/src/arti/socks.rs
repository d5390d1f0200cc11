//! The SOCKS server the embedded client offers the command: what tor's SocksPort offers, with
//! tor-socksproto parsing the protocol. SOCKS5 and SOCKS4/4a; CONNECT to names, IPv4 and IPv6;
//! Tor's RESOLVE and RESOLVE_PTR; username/password (and SOCKS4 user ids) as the isolation
//! key, as tor's IsolateSOCKSAuth does; arti's errors as the reply codes tor would send,
//! ExtendedErrors included.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arti_client::{ErrorKind, HasKind, IsolationToken, StreamPrefs, TorClient};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tor_proto::client::stream::ClientStreamCtrl as _;
use tor_rtcompat::PreferredRuntime;
use tor_socksproto::{
    Buffer, Handshake as _, NextStep, SocksAddr, SocksAuth, SocksCmd, SocksRequest, SocksStatus,
};
use zeroize::Zeroizing;

type Client = Arc<TorClient<PreferredRuntime>>;

/// Credentials as a map key, wiped from memory when dropped (they are the library's
/// isolation tokens).
#[derive(PartialEq, Eq)]
struct Credentials(Zeroizing<Vec<u8>>);

impl std::hash::Hash for Credentials {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state);
    }
}

/// How long a token is kept after its credentials were last seen. A long-lived service would
/// otherwise keep one per process it ever served (`-i` makes one per process). Forgetting is
/// safe: credentials seen again get a new token, so at worst new circuits; and an hour is far
/// past the ten minutes after which Tor stops putting new streams on a circuit anyway.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Isolation tokens by the credentials that asked for them, with when they were last used.
#[derive(Default)]
pub(crate) struct Isolation {
    tokens: Mutex<HashMap<Credentials, (IsolationToken, Instant)>>,
}

impl Isolation {
    /// The token for `auth`: the same credentials always the same token, different ones never.
    fn token(&self, auth: &SocksAuth) -> Option<IsolationToken> {
        self.token_at(auth, Instant::now())
    }

    fn token_at(&self, auth: &SocksAuth, now: Instant) -> Option<IsolationToken> {
        // Sized up front: a reallocation would leave an unwiped copy behind.
        let mut key = Zeroizing::new(Vec::with_capacity(600));
        match auth {
            SocksAuth::Username(user, pass) => {
                key.push(b'u');
                key.extend_from_slice(&(user.len() as u32).to_be_bytes());
                key.extend_from_slice(user);
                key.extend_from_slice(pass);
            }
            SocksAuth::Socks4(id) if !id.is_empty() => {
                key.push(b'4');
                key.extend_from_slice(id);
            }
            _ => return None,
        }
        let key = Credentials(key);
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tokens.len() >= 1024 {
            tokens.retain(|_, (_, used)| now.saturating_duration_since(*used) < FORGET_AFTER);
        }
        let entry = tokens
            .entry(key)
            .or_insert_with(|| (IsolationToken::new(), now));
        entry.1 = now;
        Some(entry.0)
    }
}

/// Whether an error on the way to `target` concerns an onion service.
fn is_onion(req: &SocksRequest) -> bool {
    matches!(req.addr(), SocksAddr::Hostname(h) if h.as_ref().to_ascii_lowercase().trim_end_matches('.').ends_with(".onion"))
}

/// The reply code tor would send for an error (tor's reasons.c mapping, and its
/// ExtendedErrors for onion services).
fn status_for(err: &arti_client::Error, onion: bool) -> SocksStatus {
    match err.kind() {
        ErrorKind::OnionServiceNotFound => SocksStatus::HS_DESC_NOT_FOUND,
        ErrorKind::OnionServiceProtocolViolation => SocksStatus::HS_DESC_INVALID,
        ErrorKind::OnionServiceConnectionFailed => SocksStatus::HS_INTRO_FAILED,
        ErrorKind::OnionServiceMissingClientAuth => SocksStatus::HS_MISSING_CLIENT_AUTH,
        ErrorKind::OnionServiceWrongClientAuth => SocksStatus::HS_WRONG_CLIENT_AUTH,
        ErrorKind::InvalidStreamTarget if onion => SocksStatus::HS_BAD_ADDRESS,
        ErrorKind::TorNetworkTimeout | ErrorKind::RemoteNetworkTimeout if onion => {
            SocksStatus::HS_INTRO_TIMEOUT
        }
        ErrorKind::RemoteConnectionRefused => SocksStatus::CONNECTION_REFUSED,
        ErrorKind::ExitPolicyRejected | ErrorKind::ForbiddenStreamTarget => {
            SocksStatus::NOT_ALLOWED
        }
        ErrorKind::ExitTimeout | ErrorKind::RemoteNetworkTimeout | ErrorKind::TorNetworkTimeout => {
            SocksStatus::TTL_EXPIRED
        }
        ErrorKind::RemoteNetworkFailed => SocksStatus::NETWORK_UNREACHABLE,
        ErrorKind::RemoteHostNotFound | ErrorKind::RemoteHostResolutionFailed => {
            SocksStatus::HOST_UNREACHABLE
        }
        _ if onion => SocksStatus::HS_REND_FAILED,
        _ => SocksStatus::GENERAL_FAILURE,
    }
}

/// An error with its causes, for the debug log: arti's top-level messages are generic.
/// The reply for a stream that was not open in time: Tor's own codes (0x06 TTL expired, the
/// code tor gives when SocksTimeout passes; 0xF7 for an onion service).
fn timed_out(onion: bool) -> SocksStatus {
    if onion {
        SocksStatus::HS_INTRO_TIMEOUT
    } else {
        SocksStatus::TTL_EXPIRED
    }
}

/// Bounds on what a SOCKS request may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Opening a stream (arti.connect_timeout).
    pub(crate) connect: Duration,
}

impl Limits {
    /// The limits of `settings`.
    pub(crate) fn of(settings: &torify_conf::ArtiSettings) -> Self {
        Limits {
            connect: Duration::from_secs(settings.connect_timeout),
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

async fn reply<S: AsyncWrite + Unpin>(
    sock: &mut S,
    req: &SocksRequest,
    status: SocksStatus,
    addr: Option<&SocksAddr>,
) -> std::io::Result<()> {
    let bytes = req.reply(status, addr).map_err(std::io::Error::other)?;
    sock.write_all(&bytes).await
}

/// The refusal tor sends for a command it does not serve, written by hand: tor-socksproto
/// ends the handshake with an error before a request exists to reply to.
async fn not_supported<S: AsyncWrite + Unpin>(
    sock: &mut S,
    first_byte: Option<u8>,
) -> std::io::Result<()> {
    let bytes: &[u8] = match first_byte {
        Some(4) => &[0, 0x5B, 0, 0, 0, 0, 0, 0],
        _ => &[5, 7, 0, 1, 0, 0, 0, 0, 0, 0],
    };
    sock.write_all(bytes).await
}

/// Serves one SOCKS connection; `first` is its first byte when the caller already read it
/// (the service reads it to tell SOCKS from a line to itself).
pub(crate) async fn handle<S: AsyncRead + AsyncWrite + Unpin>(
    mut sock: S,
    mut first: Option<u8>,
    client: &Client,
    isolation: &Isolation,
    limits: Limits,
) -> std::io::Result<()> {
    let mut hs = tor_socksproto::SocksProxyHandshake::new();
    let mut buf = Buffer::new();
    let mut first_byte = first;
    let (req, early) = loop {
        match hs.step(&mut buf) {
            Ok(NextStep::Send(data)) => sock.write_all(&data).await?,
            Ok(NextStep::Recv(mut recv)) => {
                let n = match (first, recv.buf().first_mut()) {
                    (Some(byte), Some(slot)) => {
                        *slot = byte;
                        first = None;
                        1
                    }
                    _ => sock.read(recv.buf()).await?,
                };
                if first_byte.is_none() && n > 0 {
                    first_byte = recv.buf().first().copied();
                }
                recv.note_received(n).map_err(std::io::Error::other)?;
            }
            Ok(NextStep::Finished(done)) => break done.into_output_and_vec(),
            Err(e) => {
                if matches!(e, tor_socksproto::Error::NotImplemented(_)) {
                    not_supported(&mut sock, first_byte).await?;
                }
                return Err(std::io::Error::other(e));
            }
        }
    };
    let mut prefs = StreamPrefs::new();
    if let Some(token) = isolation.token(req.auth()) {
        prefs.set_isolation(token);
    }
    let port = req.port();
    let host = match req.addr() {
        SocksAddr::Hostname(h) => h.as_ref().to_owned(),
        SocksAddr::Ip(ip) => ip.to_string(),
    };
    let cmd = req.command();
    if cmd == SocksCmd::CONNECT {
        let onion = is_onion(&req);
        // Optimistic (tor-spec, "Opening streams and transferring data"): the stream is
        // handed over once its BEGIN is sent, so the reply below goes out as soon as the
        // circuit is ready and the program's first bytes follow BEGIN without waiting for
        // CONNECTED: one circuit round trip sooner. The price: a refusal at the exit ends
        // the stream at its first read instead of failing the connect.
        prefs.optimistic();
        let opened = tokio::time::timeout(
            limits.connect,
            client.connect_with_prefs((host.as_str(), port), &prefs),
        )
        .await;
        match opened {
            Ok(Ok(mut stream)) => {
                let circuit = stream
                    .client_stream_ctrl()
                    .and_then(|c| c.tunnel())
                    .map(|t| t.unique_id().to_string())
                    .unwrap_or_default();
                tracing::debug!(target: "torify", "stream to {host}:{port} on {circuit}");
                reply(&mut sock, &req, SocksStatus::SUCCEEDED, None).await?;
                if !early.is_empty() {
                    stream.write_all(&early).await?;
                    stream.flush().await?;
                }
                // The program's side ending abruptly is its business; the stream's failing (an
                // exit that refused or could not resolve, after the optimistic reply) is said.
                if let Err(e) = tokio::io::copy_bidirectional(&mut sock, &mut stream).await {
                    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
                    if matches!(e.kind(), BrokenPipe | ConnectionReset) {
                        tracing::debug!(target: "torify", "stream to {host}:{port} ended: {e}");
                    } else {
                        tracing::warn!(target: "torify", "the stream to {host}:{port} failed: {}", chain(&e));
                    }
                }
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::debug!(target: "torify", "stream to {host}:{port} failed: {}", chain(&e));
                reply(&mut sock, &req, status_for(&e, onion), None).await
            }
            Err(_) => {
                tracing::warn!(target: "torify", "the stream to {host}:{port} was not open after {} s (arti.connect_timeout); it failed", limits.connect.as_secs());
                reply(&mut sock, &req, timed_out(onion), None).await
            }
        }
    } else if cmd == SocksCmd::RESOLVE {
        match client.resolve_with_prefs(&host, &prefs).await {
            Ok(addrs) => match addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()) {
                Some(ip) => {
                    reply(
                        &mut sock,
                        &req,
                        SocksStatus::SUCCEEDED,
                        Some(&SocksAddr::Ip(*ip)),
                    )
                    .await
                }
                None => reply(&mut sock, &req, SocksStatus::HOST_UNREACHABLE, None).await,
            },
            // tor answers every failed RESOLVE with 0x04.
            Err(_) => reply(&mut sock, &req, SocksStatus::HOST_UNREACHABLE, None).await,
        }
    } else if cmd == SocksCmd::RESOLVE_PTR {
        let ip: Option<IpAddr> = host.parse().ok();
        let name = match ip {
            Some(ip) => client
                .resolve_ptr_with_prefs(ip, &prefs)
                .await
                .ok()
                .and_then(|n| n.into_iter().next()),
            None => None,
        };
        match name.and_then(|n| n.try_into().ok()) {
            Some(h) => {
                reply(
                    &mut sock,
                    &req,
                    SocksStatus::SUCCEEDED,
                    Some(&SocksAddr::Hostname(h)),
                )
                .await
            }
            None => reply(&mut sock, &req, SocksStatus::HOST_UNREACHABLE, None).await,
        }
    } else {
        reply(&mut sock, &req, SocksStatus::COMMAND_NOT_SUPPORTED, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &[u8], pass: &[u8]) -> SocksAuth {
        SocksAuth::Username(name.to_vec(), pass.to_vec())
    }

    #[test]
    fn a_stream_not_open_in_time_gets_tors_own_codes() {
        assert_eq!(timed_out(false), SocksStatus::TTL_EXPIRED);
        assert_eq!(timed_out(true), SocksStatus::HS_INTRO_TIMEOUT);
        let settings = torify_conf::ArtiSettings {
            connect_timeout: 7,
            ..Default::default()
        };
        assert_eq!(Limits::of(&settings).connect, Duration::from_secs(7));
        assert_eq!(
            Limits::of(&torify_conf::ArtiSettings::default()).connect,
            Duration::from_secs(120)
        );
    }

    #[test]
    fn same_credentials_same_token_different_never() {
        let iso = Isolation::default();
        let a = iso.token(&user(b"torify-1", b"process")).unwrap();
        assert_eq!(iso.token(&user(b"torify-1", b"process")), Some(a));
        assert_ne!(iso.token(&user(b"torify-2", b"process")), Some(a));
        // The length prefix keeps ("ab", "c") apart from ("a", "bc").
        let ab = iso.token(&user(b"ab", b"c")).unwrap();
        assert_ne!(iso.token(&user(b"a", b"bc")), Some(ab));
        let four = iso.token(&SocksAuth::Socks4(b"torify-1process".to_vec()));
        assert!(four.is_some() && four != Some(a));
        assert_eq!(iso.token(&SocksAuth::NoAuth), None);
        assert_eq!(iso.token(&SocksAuth::Socks4(Vec::new())), None);
    }

    #[test]
    fn long_unused_tokens_are_forgotten_and_never_handed_to_others() {
        let iso = Isolation::default();
        let start = Instant::now();
        let old = iso.token_at(&user(b"old", b"x"), start).unwrap();
        let kept = iso.token_at(&user(b"kept", b"x"), start).unwrap();
        let later = start + FORGET_AFTER;
        assert_eq!(iso.token_at(&user(b"kept", b"x"), later), Some(kept));
        // Fill the map past its sweep mark, an hour on: `old` is forgotten, `kept` is not.
        for i in 0..1100u32 {
            iso.token_at(
                &user(&i.to_be_bytes(), b"x"),
                later + Duration::from_secs(1),
            );
        }
        let after = later + Duration::from_secs(2);
        assert_eq!(iso.token_at(&user(b"kept", b"x"), after), Some(kept));
        let again = iso.token_at(&user(b"old", b"x"), after).unwrap();
        assert_ne!(again, old, "a forgotten token comes back as a new one");
    }
}
