//! The launcher's side of the cage's TUN device: packets in, Tor streams out.
//!
//! ipstack (a userspace TCP/IP stack on tokio, the core of tun2proxy) terminates every TCP flow
//! the cage opens; each becomes a Tor stream to the address it went to, or to the *name* when
//! the address is one the cage's resolver handed out. UDP never reaches the stack: queries to
//! the cage's resolver are answered here, every other datagram (and every ping) gets an ICMP
//! error at once. Chosen over smoltcp (which needs a listening socket per destination port and
//! a hand-written poll loop) and over tun2proxy as a whole (one SOCKS credential for all flows,
//! no way to hand flows to arti directly, and 150 crates): see the closing note of issue 13.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use ipstack::{IpStack, IpStackConfig, IpStackStream, IpStackTcpStream, TcpConfig};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use torify_conf::{Isolation, Settings};
use torify_core::dns::LocalNames;
use torify_core::policy::{self, ConnectVerdict, Destination, SocketKind};

use super::connector::{self, Dest, Key, Tor};
use super::dns::{self, Answer};
use super::names::{self, VirtualNames};
use super::netconf::MTU;
use super::packet::{self, Inbound};
use crate::ui;

/// Everything a flow needs.
pub(crate) struct Cage {
    /// The Tor streams come from.
    pub(crate) tor: Tor,
    /// The settings (allow.direct, isolation, credentials).
    pub(crate) settings: Settings,
    /// Names handed out by the cage's resolver.
    pub(crate) names: Mutex<VirtualNames>,
    /// What /etc/hosts answers (the resolver answers those names as the library does).
    pub(crate) local: LocalNames,
    /// Isolation keys of destinations (tor.isolation = destination).
    destinations: Mutex<std::collections::HashMap<Dest, u64>>,
    /// The next key handed out.
    next_key: AtomicU64,
    /// Lines said per kind, so a program retrying in a loop does not flood the terminal.
    said: [AtomicU32; 4],
    /// Quiet (-q).
    quiet: bool,
}

/// Kinds of line the cage says.
#[derive(Clone, Copy)]
enum Said {
    Datagram = 0,
    Refused = 1,
    Failed = 2,
    Direct = 3,
}

impl Cage {
    /// The cage's state.
    pub(crate) fn new(tor: Tor, settings: Settings, local: LocalNames, quiet: bool) -> Self {
        Cage {
            tor,
            settings,
            names: Mutex::new(VirtualNames::new()),
            local,
            destinations: Mutex::new(std::collections::HashMap::new()),
            next_key: AtomicU64::new(1),
            said: [const { AtomicU32::new(0) }; 4],
            quiet,
        }
    }

    fn say(&self, kind: Said, line: impl FnOnce() -> String) {
        // A connection around Tor is said once, as the library says it; the rest a few times.
        let loud = match kind {
            Said::Direct => 1,
            Said::Datagram | Said::Refused | Said::Failed => 5,
        };
        if !self.quiet && self.said[kind as usize].fetch_add(1, Ordering::Relaxed) < loud {
            ui::error(line());
        }
    }

    /// The circuits a flow to `dest` may share. The TUN device shows no process, so
    /// `process` isolation gives each such flow circuits of its own, like `connection`.
    fn key(&self, dest: &Dest) -> Key {
        if let Some(c) = &self.settings.credentials {
            return Key::Explicit(
                c.username.expose().to_owned(),
                c.password.expose().to_owned(),
            );
        }
        match self.settings.isolation {
            Isolation::None => Key::Shared,
            Isolation::Session => Key::Own(0),
            Isolation::Destination => {
                let mut d = self
                    .destinations
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let next = &self.next_key;
                Key::Own(
                    *d.entry(dest.clone())
                        .or_insert_with(|| next.fetch_add(1, Ordering::Relaxed)),
                )
            }
            Isolation::Process | Isolation::Connection => {
                Key::Own(self.next_key.fetch_add(1, Ordering::Relaxed))
            }
        }
    }

    fn name_of(&self, addr: SocketAddr) -> Option<String> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .name_of(addr.ip())
            .map(str::to_owned)
    }
}

/// The TUN device as ipstack's device: UDP and pings are answered before ipstack sees them.
struct TunIo {
    fd: Arc<AsyncFd<OwnedFd>>,
    cage: Arc<Cage>,
}

/// Writes one packet to the TUN device.
async fn send_packet(fd: &AsyncFd<OwnedFd>, packet: &[u8]) -> io::Result<()> {
    loop {
        let mut guard = fd.writable().await?;
        match guard.try_io(|f| write_packet(f.get_ref(), packet)) {
            Ok(result) => return result.map(|_| ()),
            Err(_would_block) => continue,
        }
    }
}

fn write_packet(fd: &OwnedFd, packet: &[u8]) -> io::Result<usize> {
    // SAFETY: packet is valid for its length; one write is one packet on a TUN device.
    let n = unsafe { libc::write(fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

impl TunIo {
    /// Handles a packet the stack does not see; true when it was one.
    fn intercept(&self, packet: &[u8]) -> bool {
        match packet::classify(packet) {
            Inbound::Stack => false,
            Inbound::Dns { from, to, query } => {
                let (fd, cage, query) = (self.fd.clone(), self.cage.clone(), query.to_vec());
                tokio::spawn(async move {
                    if let Some(resp) = resolve(&cage, &query).await
                        && let Some(reply) = packet::udp(to, from, &resp)
                    {
                        let _ = send_packet(&fd, &reply).await;
                    }
                });
                true
            }
            Inbound::Datagram { to } => {
                self.cage.say(Said::Datagram, || {
                    format!("refused a datagram to {to} from the cage: Tor carries only TCP (the cage's resolver, {}:53, answers DNS)", names::RESOLVER_V4)
                });
                self.reject(packet);
                true
            }
            Inbound::Ping { to } => {
                self.cage.say(Said::Datagram, || {
                    format!("refused a ping to {to} from the cage: Tor carries only TCP")
                });
                self.reject(packet);
                true
            }
        }
    }

    fn reject(&self, packet: &[u8]) {
        if let Some(icmp) = packet::unreachable(packet) {
            // One packet, written at once; if the device is full the program times out instead.
            let _ = write_packet(self.fd.get_ref(), &icmp);
        }
    }
}

impl AsyncRead for TunIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|f| {
                // SAFETY: unfilled is writable for its length.
                let n = unsafe {
                    libc::read(
                        f.get_ref().as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                    )
                };
                usize::try_from(n).map_err(|_| io::Error::last_os_error())
            });
            match result {
                // A zero-length read would make the stack spin on an empty packet.
                Ok(Ok(0)) => continue,
                Ok(Ok(n)) => {
                    if self.intercept(&buf.initialize_unfilled()[..n]) {
                        continue;
                    }
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for TunIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        packet: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match guard.try_io(|f| write_packet(f.get_ref(), packet)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The resolver's answer to one query (asking Tor for PTR of addresses it did not hand out).
async fn resolve(cage: &Cage, query: &[u8]) -> Option<Vec<u8>> {
    let answer = {
        let mut names = cage
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        dns::answer(query, &mut names, &cage.local)
    };
    match answer {
        Answer::Ready(resp) => Some(resp),
        Answer::Refused(line, resp) => {
            cage.say(Said::Refused, || line);
            Some(resp)
        }
        Answer::AskTor(q, ip) => Some(dns::ptr_answer(&q, cage.tor.resolve_ptr(ip).await)),
        Answer::Nothing => None,
    }
}

/// DNS over TCP to the cage's resolver: two-byte length, message, as long as the client asks.
async fn resolve_tcp(cage: &Cage, mut s: IpStackTcpStream) {
    loop {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(resp) = resolve(cage, &query).await else {
            return;
        };
        let mut out = (resp.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&resp);
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// One TCP flow of the cage, carried to its end.
async fn flow(cage: Arc<Cage>, mut s: IpStackTcpStream) {
    let to = s.peer_addr();
    if names::is_resolver(to) {
        return resolve_tcp(&cage, s).await;
    }
    let dest = match cage.name_of(to) {
        Some(name) => Dest::Name(name, to.port()),
        None => Dest::Addr(to),
    };
    let tcp = SocketKind {
        family: if to.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        },
        ty: libc::SOCK_STREAM,
    };
    let upstream = match (
        &dest,
        policy::connect(tcp, Destination::Inet(to), &cage.settings),
    ) {
        (Dest::Name(..), _) | (_, ConnectVerdict::Proxy(_) | ConnectVerdict::ProxyOnion(..)) => {
            cage.tor.connect(&dest, &cage.key(&dest)).await
        }
        (_, ConnectVerdict::Direct(addr)) => {
            cage.say(Said::Direct, || {
                format!(
                    "warning: the cage connects to {addr} directly, not through Tor (allow.direct)"
                )
            });
            connector::direct(addr).await
        }
        (_, ConnectVerdict::Refuse(refusal)) => {
            cage.say(Said::Refused, || format!("{refusal} (in the cage)"));
            return;
        }
        // Loopback and local families never reach the TUN device.
        (_, ConnectVerdict::Libc) => return,
    };
    match upstream {
        Ok(mut up) => {
            let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
        }
        Err(e) => {
            cage.say(Said::Failed, || {
                format!("connection to {dest} from the cage through Tor failed: {e}")
            });
            // Dropping the flow resets it: the program sees its connection fail.
        }
    }
}

/// The stack's settings: the TUN device's MTU, generous buffers (Tor's latency wants many bytes
/// in flight), and idle timeouts long enough for an idle ssh session.
fn config() -> IpStackConfig {
    let mut tcp = TcpConfig::default();
    tcp.timeout = Duration::from_secs(2 * 60 * 60);
    tcp.read_buffer_size = 256 * 1024;
    tcp.max_unacked_bytes = 256 * 1024;
    let mut c = IpStackConfig::default();
    c.mtu_unchecked(MTU)
        .with_tcp_config(tcp)
        .packet_information(false);
    c
}

/// Serves the cage's TUN device until the cage ends (the task is dropped).
pub(crate) async fn serve(tun: OwnedFd, cage: Arc<Cage>) -> io::Result<()> {
    // SAFETY: the TUN device's descriptor is owned by the AsyncFd and stays open as long.
    let fd = Arc::new(unsafe { AsyncFd::register(tun) }.map_err(|e| e.into_parts().1)?);
    let io = TunIo {
        fd,
        cage: cage.clone(),
    };
    let mut stack = IpStack::new(config(), io);
    loop {
        match stack.accept().await {
            Ok(IpStackStream::Tcp(s)) => {
                tokio::spawn(flow(cage.clone(), s));
            }
            // UDP was answered before the stack; other protocols have nowhere to go.
            Ok(
                IpStackStream::Udp(_)
                | IpStackStream::UnknownTransport(_)
                | IpStackStream::UnknownNetwork(_),
            ) => {}
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
}
