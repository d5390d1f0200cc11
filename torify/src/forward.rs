//! `torify forward`: a local port whose every connection is carried through Tor to one
//! destination (socat's `TCP-L:port,fork SOCKS4A:tor:host:port`, the Tor way). It is the way
//! through Tor for programs a preload library cannot reach: static binaries, Go, JVMs with
//! their own resolver. The name goes to the exit (or the onion service) as a name; nothing is
//! resolved here.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use torify_conf::{Isolation, Settings, SocksEndpoint};
use torify_core::onion;
use torify_core::socks5::{Credentials, Target};
use zeroize::Zeroizing;

use crate::socks_client;
use crate::ui::{self, Verbosity};

/// Where to send every connection: a host (a name, an .onion name or an address) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Destination {
    host: String,
    port: u16,
}

impl Destination {
    /// Parses `HOST:PORT` (`[v6]:PORT` for an IPv6 address); checks onion names early.
    pub(crate) fn parse(text: &str) -> Result<Destination, String> {
        let bad = |why: &str| format!("forward destination {text:?}: {why}; write HOST:PORT");
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        // An IPv6 address without brackets is ambiguous (is the last group the port?).
        if bracketed.is_none() && host.contains(':') {
            return Err(bad("an IPv6 address goes in brackets, [2001:db8::1]:22"));
        }
        let host = bracketed.unwrap_or(host);
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        if host.is_empty() || host.contains(':') && host.parse::<IpAddr>().is_err() {
            return Err(bad("no host"));
        }
        if onion::is_onion(host) {
            onion::validate(host).map_err(|e| bad(&format!("not an onion address: {e}")))?;
        }
        if onion::is_exit_notation(host) {
            return Err(bad(
                ".exit names choose the exit relay, which torify does not allow",
            ));
        }
        Ok(Destination {
            host: host.to_owned(),
            port,
        })
    }

    fn target(&self) -> Target<'_> {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => Target::Addr(SocketAddr::new(ip, self.port)),
            Err(_) => Target::Name(&self.host, self.port),
        }
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The listen address: `PORT` (on 127.0.0.1) or `ADDR:PORT`. A non-loopback address lets
/// anyone who reaches it use this Tor client, so it needs `expose`; the warning is returned.
pub(crate) fn listen_address(
    text: &str,
    expose: bool,
) -> Result<(SocketAddr, Option<String>), String> {
    let addr = match text.parse::<u16>() {
        Ok(port) => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        Err(_) => text.parse::<SocketAddr>().map_err(|_| {
            format!("--listen {text:?} is not PORT or ADDRESS:PORT (127.0.0.1:8080, [::1]:8080)")
        })?,
    };
    if addr.ip().is_loopback() {
        return Ok((addr, None));
    }
    if !expose {
        return Err(format!(
            "refused to listen on {addr}: it is not a loopback address, so other machines could use your Tor through it; add --expose if that is what you want"
        ));
    }
    Ok((
        addr,
        Some(format!(
            "warning: listening on {addr}: anyone who can reach it can use your Tor circuits (--expose)"
        )),
    ))
}

/// SOCKS credentials per connection: the settings' own, one token for the whole forwarder, or
/// a new token per connection (Tor's IsolateSOCKSAuth keeps them on separate circuits).
enum Auth {
    None,
    Fixed(Zeroizing<String>, Zeroizing<String>),
    PerConnection,
}

impl Auth {
    fn from(settings: &Settings, isolate: bool) -> io::Result<Auth> {
        if isolate || settings.isolation == Isolation::Connection {
            return Ok(Auth::PerConnection);
        }
        if let Some(c) = &settings.credentials {
            return Ok(Auth::Fixed(
                Zeroizing::new(c.username.expose().to_owned()),
                Zeroizing::new(c.password.expose().to_owned()),
            ));
        }
        Ok(match settings.isolation {
            Isolation::None => Auth::None,
            // One forwarder, one destination: session, process and destination isolation all
            // come to one token of its own.
            _ => Auth::Fixed(
                Zeroizing::new("torify-forward".to_owned()),
                crate::random::hex::<16>()?,
            ),
        })
    }
}

fn install_stop() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // signal-hook's handler only stores to the flag. poll(2) is never restarted after a
        // handler ran, so the accept loop sees it at once.
        if let Err(e) = signal_hook::flag::register(sig, stop()) {
            ui::error(format!(
                "the forwarder will not stop cleanly on signal {sig}: {e}"
            ));
        }
    }
}

/// Set by SIGINT/SIGTERM/SIGHUP: stop accepting and exit.
fn stop() -> std::sync::Arc<AtomicBool> {
    static SHARED: std::sync::OnceLock<std::sync::Arc<AtomicBool>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| std::sync::Arc::new(AtomicBool::new(false)))
        .clone()
}

/// Waits up to `ms` for a connection to accept (false: none yet, or a signal came).
fn readable(listener: &TcpListener, ms: i32) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: i64::from(ms / 1000),
        tv_nsec: i64::from(ms % 1000) * 1_000_000,
    };
    poll(&mut fds, Some(&timeout)).is_ok_and(|n| n > 0)
}

/// Copies `from` to `to` until end of stream (or an error); the caller then passes the end on.
fn pump(mut from: impl Read, mut to: impl Write) -> u64 {
    let mut total = 0;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    total
}

/// What one connection needs, shared by every connection thread.
struct Shared {
    endpoint: OwnedEndpoint,
    destination: Destination,
    auth: Auth,
    carried: AtomicU64,
    quiet: bool,
    debug: bool,
}

impl Shared {
    fn error(&self, message: String) {
        if !self.quiet {
            ui::error(message);
        }
    }

    fn debug(&self, message: String) {
        if self.debug {
            ui::error(message);
        }
    }
}

/// The SOCKS endpoint, owned so connection threads can hold it.
enum OwnedEndpoint {
    Inet(SocketAddr),
    Unix(std::path::PathBuf),
}

impl OwnedEndpoint {
    fn borrow(&self) -> SocksEndpoint<'_> {
        match self {
            OwnedEndpoint::Inet(a) => SocksEndpoint::Inet(*a),
            OwnedEndpoint::Unix(p) => SocksEndpoint::Unix(p),
        }
    }
}

fn carry(shared: &Shared, client: TcpStream, peer: SocketAddr) {
    let fresh: Zeroizing<String>;
    let creds = match &shared.auth {
        Auth::None => None,
        Auth::Fixed(u, p) => Some(Credentials {
            username: u.as_bytes(),
            password: p.as_bytes(),
        }),
        Auth::PerConnection => match crate::random::hex::<16>() {
            Ok(t) => {
                fresh = t;
                Some(Credentials {
                    username: b"torify-forward",
                    password: fresh.as_bytes(),
                })
            }
            Err(e) => {
                shared.error(format!(
                    "forward: no isolation token for {peer}: {e}; connection closed"
                ));
                return;
            }
        },
    };
    let dest = &shared.destination;
    let tor = match socks_client::connect_through(
        shared.endpoint.borrow(),
        &dest.target(),
        creds.as_ref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            shared.error(format!(
                "forward: connection from {peer} closed: Tor could not reach {dest}: {}",
                e.explain(shared.endpoint.borrow())
            ));
            return;
        }
    };
    // Counted once Tor carries it, not when it ends: the client may see its whole answer
    // before this thread has finished, and a stop then must not miss it.
    shared.carried.fetch_add(1, Ordering::Relaxed);
    shared.debug(format!("forward: {peer} -> {dest}: through Tor"));
    let (Ok(mut tor_w), Ok(client_w)) = (tor.try_clone(), client.try_clone()) else {
        return;
    };
    // A Tor stream has no half-close: tor answers an application's EOF with RELAY_END, which
    // ends the stream both ways (tor-spec, "Closing streams"), and the reply would be lost. So
    // a client's EOF is not passed on: it still gets the whole answer, and the stream ends
    // when the destination ends it. Then the client's side is closed both ways, since nothing
    // it sends could go anywhere.
    let up = std::thread::spawn(move || pump(&client, &mut tor_w));
    let down = pump(tor, &client_w);
    let _ = client_w.shutdown(Shutdown::Both);
    let up = up.join().unwrap_or(0);
    shared.debug(format!(
        "forward: {peer} -> {dest}: closed ({up} bytes up, {down} down)"
    ));
}

/// Listens on `listen` and carries every connection to `destination` through the SOCKS
/// server at `endpoint`, until SIGINT/SIGTERM/SIGHUP. Returns the exit status.
pub(crate) fn serve(
    settings: &Settings,
    endpoint: SocksEndpoint<'_>,
    listen: SocketAddr,
    destination: Destination,
    isolate: bool,
    verbosity: Verbosity,
) -> Result<u8, String> {
    let (quiet, debug) = (verbosity.quiet(), verbosity.debug());
    let endpoint = match endpoint {
        SocksEndpoint::Inet(a) => OwnedEndpoint::Inet(a),
        SocksEndpoint::Unix(p) => OwnedEndpoint::Unix(p.to_owned()),
    };
    let listener = TcpListener::bind(listen).map_err(|e| {
        format!("cannot listen on {listen}: {e}; choose another with --listen ADDRESS:PORT")
    })?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let auth = Auth::from(settings, isolate).map_err(|e| format!("no isolation token: {e}"))?;
    let shared = Arc::new(Shared {
        endpoint,
        destination,
        auth,
        carried: AtomicU64::new(0),
        quiet,
        debug,
    });
    install_stop();
    if !quiet {
        ui::error(format!(
            "forwarding {bound} to {} through Tor{}; Ctrl-C stops",
            shared.destination,
            if isolate {
                " (each connection on its own circuit)"
            } else {
                ""
            }
        ));
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {bound}: {e}"))?;
    let stopping = stop();
    while !stopping.load(Ordering::Relaxed) {
        if !readable(&listener, 500) {
            continue;
        }
        match listener.accept() {
            Ok((client, peer)) => {
                let _ = client.set_nonblocking(false);
                let _ = client.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name("forward".into())
                    .spawn(move || carry(&shared, client, peer));
                if let Err(e) = spawned {
                    ui::error(format!("forward: connection from {peer} dropped: {e}"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => shared.error(format!("forward: accept failed: {e}")),
        }
    }
    if !quiet {
        ui::error(stopped_after(shared.carried.load(Ordering::Relaxed)));
    }
    Ok(0)
}

/// The last line of `forward`: how many connections it carried.
fn stopped_after(n: u64) -> String {
    let noun = if n == 1 { "connection" } else { "connections" };
    format!("forward stopped after {n} {noun}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_counts_in_good_english() {
        assert_eq!(stopped_after(0), "forward stopped after 0 connections");
        assert_eq!(stopped_after(1), "forward stopped after 1 connection");
        assert_eq!(stopped_after(6), "forward stopped after 6 connections");
    }

    #[test]
    fn destinations_parse_names_addresses_and_onions() {
        let d = Destination::parse("example.org:443").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("example.org", 443));
        assert!(matches!(d.target(), Target::Name("example.org", 443)));
        let d = Destination::parse("[2001:db8::1]:22").unwrap();
        assert!(matches!(d.target(), Target::Addr(a) if a.port() == 22 && a.is_ipv6()));
        assert_eq!(d.to_string(), "[2001:db8::1]:22");
        let onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion:80";
        assert!(Destination::parse(onion).is_ok());
        for bad in [
            "example.org",
            "example.org:0",
            "example.org:x",
            ":80",
            "2001:db8::1:22",
            "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wiX.onion:80",
            "abcdefghijklmnop.onion:80",
            "host.relay.exit:80",
        ] {
            let err = Destination::parse(bad).unwrap_err();
            assert!(err.contains("write HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn listening_beyond_loopback_needs_expose_and_warns() {
        let (a, warn) = listen_address("8080", false).unwrap();
        assert_eq!(a.to_string(), "127.0.0.1:8080");
        assert!(warn.is_none());
        assert!(listen_address("[::1]:9", false).unwrap().1.is_none());
        let err = listen_address("0.0.0.0:8080", false).unwrap_err();
        assert!(err.contains("--expose"), "{err}");
        let (_, warn) = listen_address("0.0.0.0:8080", true).unwrap();
        assert!(warn.unwrap().contains("anyone"));
        assert!(listen_address("localhost:80", false).is_err());
    }

    #[test]
    fn pump_copies_to_the_end() {
        let mut out = Vec::new();
        let n = pump(&b"hello"[..], &mut out);
        assert_eq!((n, out.as_slice()), (5, &b"hello"[..]));
    }
}
