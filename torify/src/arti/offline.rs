//! Telling a user early that the embedded client cannot reach Tor, instead of after the whole
//! bootstrap timeout: no route off the machine at all (read from the kernel's routing tables,
//! no packet sent); none of a sample of the relays the client bootstraps from answering Tor's
//! link handshake (a few seconds: a connection refused, unreachable, reset, or answered by
//! something that is not Tor, such as a filtering proxy that terminates TLS itself and
//! answers HTTP; this probe is the connection arti makes to those relays anyway, abandoned
//! after the first cell); or arti's own verdict that it is
//! offline or filtered (arti decides that only after its first minute of failed connections,
//! tor-chanmgr's `event.rs`, which is why the probe exists).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arti_client::TorClient;
use arti_client::status::BlockageKind;
use tor_rtcompat::PreferredRuntime;

/// True when the routing tables (/proc/net/route, /proc/net/ipv6_route) have a default route
/// that is up.
pub(crate) fn has_default_route(v4: &str, v6: &str) -> bool {
    const RTF_UP: u32 = 0x1;
    let v4_default = v4.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 7
            && f[1] == "00000000"
            && f[7] == "00000000"
            && u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & RTF_UP != 0)
    });
    let v6_default = v6.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 9
            && f[0].bytes().all(|b| b == b'0')
            && f[1] == "00"
            && f[9] != "lo"
            && u32::from_str_radix(f[8], 16).is_ok_and(|flags| flags & RTF_UP != 0)
    });
    v4_default || v6_default
}

/// Resolves when arti reports that it cannot reach Tor (offline, filtered, unreachable),
/// with the line to print; never otherwise.
pub(crate) async fn blocked(client: &TorClient<PreferredRuntime>) -> String {
    loop {
        if let Some(b) = client.bootstrap_status().blocked() {
            match b.kind() {
                BlockageKind::Offline | BlockageKind::Filtering | BlockageKind::CantReachTor => {
                    return format!(
                        "the embedded Tor client cannot reach Tor: {b}; nothing was run. Check the network (a bridge or a proxy may be needed), or point torify at a tor daemon (--backend tor, -P PORT)"
                    );
                }
                // The clock and the directory can still come right; the timeout decides.
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// How many bootstrap relays the probe tries at once.
const PROBED: usize = 12;
/// How long one probe may wait for each step (connect, then each answer).
const PROBE_STEP: Duration = Duration::from_secs(5);

/// What one relay address did when probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// It answered Tor's link handshake: Tor may well be reachable.
    Tor,
    /// Connecting failed (refused, unreachable, no route).
    NoConnection,
    /// Something answered, but not Tor: no TLS, or TLS and then no VERSIONS cell (a
    /// filtering proxy that terminates TLS itself answers HTTP there).
    NotTor,
    /// Nothing within the time allowed.
    Silent,
}

/// A VERSIONS cell offering link protocols 3, 4 and 5 (tor-spec §4.1): the first thing a Tor
/// client says inside TLS; a relay answers with a VERSIONS cell of its own.
const VERSIONS: [u8; 11] = [0, 0, 7, 0, 6, 0, 3, 0, 4, 0, 5];

/// Whether the first bytes of an answer begin a VERSIONS cell.
fn is_versions(answer: &[u8]) -> bool {
    answer.starts_with(&[0, 0, 7])
}

/// Accepts any certificate: relays present self-signed ones, and the probe only asks whether
/// a Tor relay answers; nothing it sends or learns is secret.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An io error as a probe result: a timeout is silence, anything else is not Tor.
fn io_probe(e: &std::io::Error) -> Probe {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Probe::Silent,
        _ => Probe::NotTor,
    }
}

/// Probes one relay address: TCP, TLS, a VERSIONS cell, its answer (blocking).
fn probe(addr: SocketAddr) -> Probe {
    use std::io::{Read, Write};
    let tcp = match std::net::TcpStream::connect_timeout(&addr, PROBE_STEP) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Probe::Silent,
        Err(_) => return Probe::NoConnection,
    };
    if tcp.set_read_timeout(Some(PROBE_STEP)).is_err()
        || tcp.set_write_timeout(Some(PROBE_STEP)).is_err()
    {
        return Probe::NotTor;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(config) = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        })
    else {
        return Probe::NotTor;
    };
    // An address as the server name: rustls then sends no SNI, as Tor clients do not.
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let Ok(conn) = rustls::ClientConnection::new(Arc::new(config), name) else {
        return Probe::NotTor;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    if let Err(e) = tls.write_all(&VERSIONS).and_then(|()| tls.flush()) {
        return io_probe(&e);
    }
    let mut answer = [0u8; 3];
    match tls.read_exact(&mut answer) {
        Ok(()) if is_versions(&answer) => Probe::Tor,
        Ok(()) => Probe::NotTor,
        Err(e) => io_probe(&e),
    }
}

/// Up to [`PROBED`] of `addrs`, picked at random (the public list has hundreds).
pub(crate) fn sample(mut addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut seed = [0u8; 8];
    let _ = getrandom::fill(&mut seed);
    let mut x = u64::from_le_bytes(seed) | 1;
    for i in (1..addrs.len()).rev() {
        // xorshift: a shuffle, not a secret.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        addrs.swap(i, (x % (i as u64 + 1)) as usize);
    }
    addrs.truncate(PROBED);
    addrs
}

/// The sentence for probes that all failed, or `None` when one found a TLS server.
fn verdict(results: &[Probe]) -> Option<String> {
    if results.is_empty() || results.contains(&Probe::Tor) {
        return None;
    }
    let count = |p: Probe| results.iter().filter(|r| **r == p).count();
    let mut parts = Vec::new();
    for (p, words) in [
        (Probe::NoConnection, "refused or unreachable"),
        (Probe::NotTor, "answered by something that is not Tor"),
        (Probe::Silent, "silent"),
    ] {
        if count(p) > 0 {
            parts.push(format!("{} {words}", count(p)));
        }
    }
    Some(format!(
        "the embedded Tor client cannot reach any Tor relay: of {} it bootstraps from, {}; nothing was run. Check the network (a bridge or a proxy may be needed), or point torify at a tor daemon (--backend tor, -P PORT)",
        results.len(),
        parts.join(", ")
    ))
}

/// Resolves, with the line to print, when no relay of `addrs` answers Tor's link handshake;
/// never when one does (the bootstrap then takes its course).
pub(crate) async fn unreachable(addrs: Vec<SocketAddr>) -> String {
    let mut probes: futures::stream::FuturesUnordered<_> = addrs
        .into_iter()
        .map(|a| tokio::task::spawn_blocking(move || probe(a)))
        .collect();
    let mut results = Vec::new();
    use futures::StreamExt;
    while let Some(result) = probes.next().await {
        let result = result.unwrap_or(Probe::Silent);
        if result == Probe::Tor {
            break;
        }
        results.push(result);
    }
    if !probes.is_empty() || results.is_empty() {
        std::future::pending::<()>().await;
    }
    match verdict(&results) {
        Some(line) => line,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_fail_only_when_no_relay_spoke_tor() {
        use Probe::*;
        assert_eq!(verdict(&[]), None);
        assert_eq!(verdict(&[NoConnection, Tor, Silent]), None);
        let line = verdict(&[NoConnection, NotTor, NotTor, Silent]).unwrap();
        assert!(line.contains("cannot reach any Tor relay: of 4 it bootstraps from, 1 refused or unreachable, 2 answered by something that is not Tor, 1 silent; nothing was run"), "{line}");
        assert!(is_versions(&[0, 0, 7, 0, 4]) && !is_versions(b"HTTP/1.1 400"));
    }

    #[test]
    fn a_refused_relay_is_no_connection_and_a_plain_server_is_not_tor() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert_eq!(probe(addr), Probe::NoConnection);
        // A server that answers the TLS hello with HTTP, as a filtering proxy does.
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = http.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = http.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        assert_eq!(probe(addr), Probe::NotTor);
        server.join().unwrap();
    }

    #[test]
    fn samples_are_bounded_and_drawn_from_the_list() {
        let all: Vec<SocketAddr> = (0..300u16)
            .map(|p| SocketAddr::from(([192, 0, 2, 1], p)))
            .collect();
        let s = sample(all.clone());
        assert_eq!(s.len(), PROBED);
        assert!(s.iter().all(|a| all.contains(a)));
        assert_eq!(sample(all[..3].to_vec()).len(), 3);
    }

    const V4_HEADER: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn default_routes_are_found_in_the_kernel_tables() {
        let v4 = format!("{V4_HEADER}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        let lan_only =
            format!("{V4_HEADER}eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n";
        let v6_unreachable_lo = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert!(has_default_route(&v4, ""));
        assert!(!has_default_route(&lan_only, ""));
        assert!(has_default_route(V4_HEADER, v6));
        assert!(!has_default_route(V4_HEADER, v6_unreachable_lo));
        assert!(!has_default_route("", ""));
    }
}
