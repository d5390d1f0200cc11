//! The launcher's side of the cage's TUN device: packets in, Tor streams out.
//!
//! smoltcp (a userspace TCP/IP stack), driven by our own loop, terminates every TCP flow the
//! cage opens; each becomes a Tor stream to the address it went to, or to the *name* when the
//! address is one the cage's resolver handed out. UDP never reaches the stack: queries to the
//! cage's resolver are answered here, every other datagram (and every ping) gets an ICMP error
//! at once.
//!
//! Chosen by measurement (bench/stacks/run: 100 MB full-duplex echo through a TUN device to a
//! SOCKS5 server on loopback, 2 cores): this loop moved 600–650 MB/s at 4.9 MiB peak RSS,
//! 95 % of the program speaking SOCKS itself; ipstack 1.0 63 MB/s at MTU 1500 and 177 at
//! 9000 (it stalls when segments exceed 8192 bytes, and neither it nor tun2proxy 0.8 passes a
//! half-close on, or resets a flow whose upstream failed: the program hangs);
//! netstack-smoltcp 0.2 117–490 MB/s with 3–4 times the connect latency (a channel and a
//! second buffer per flow). tun2proxy as a whole also has one SOCKS credential for all flows
//! and no way to hand flows to arti directly.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv6Address};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use torify_conf::{Isolation, Settings};
use torify_core::dns::LocalNames;
use torify_core::policy::{self, ConnectVerdict, Destination, SocketKind};

use super::connector::{self, BoxedStream, Dest, Key, Tor};
use super::dns::{self, Answer};
use super::names::{self, VirtualNames};
use super::netconf::{MTU, VNET_HDR};
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
    destinations: Mutex<HashMap<Dest, u64>>,
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
            destinations: Mutex::new(HashMap::new()),
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
        if self.settings.credentials.is_some() {
            return Key::Explicit;
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

/// The virtio_net_hdr that goes before every packet we write (IFF_VNET_HDR): flags
/// VIRTIO_NET_HDR_F_DATA_VALID (2), no segmentation. Our packets' checksums are right (smoltcp
/// and etherparse compute them), so the kernel need not sum every byte again: perf showed
/// its csum_partial at 6 % of a transfer.
const VALID: [u8; VNET_HDR] = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// Writes one packet to the TUN device. A full device queue drops it, as a NIC would: TCP
/// retransmits, and a datagram's sender times out instead of failing at once.
fn write_packet(fd: &OwnedFd, packet: &[u8]) -> io::Result<usize> {
    // One write is one packet on a TUN device.
    Ok(rustix::io::writev(
        fd,
        &[io::IoSlice::new(&VALID), io::IoSlice::new(packet)],
    )?)
}

/// Reads one packet, its virtio_net_hdr first, from the TUN device into `buf`.
fn read_packet(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    Ok(rustix::io::read(fd, buf)?)
}

/// Writes one packet once the device takes it (the resolver's answers, from their own task).
async fn send_packet(fd: &AsyncFd<OwnedFd>, packet: &[u8]) -> io::Result<()> {
    loop {
        let mut guard = fd.writable().await?;
        if let Ok(result) = guard.try_io(|f| write_packet(f.get_ref(), packet)) {
            return result.map(|_| ());
        }
    }
}

/// The TUN device as smoltcp's device: the packets read this round, and writes straight to
/// the descriptor, one packet per write. Packet buffers are recycled: a fresh 64 KiB buffer per
/// packet costs page faults (measured with perf), a reused one nothing.
struct Device {
    fd: Arc<AsyncFd<OwnedFd>>,
    /// Packets and their lengths: buffers stay full-sized, so reusing one costs no memset.
    rx: VecDeque<(Vec<u8>, usize)>,
    free: Vec<Vec<u8>>,
    tx: Vec<u8>,
}

impl Device {
    /// A buffer for the next packet read.
    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.free.pop().unwrap_or_default();
        b.resize(b.len().max(VNET_HDR + usize::from(MTU)), 0);
        b
    }
}

/// A packet smoltcp takes (after its virtio_net_hdr); its buffer goes back to the device's
/// free list.
struct RxToken<'a> {
    packet: Vec<u8>,
    len: usize,
    free: &'a mut Vec<Vec<u8>>,
}

/// Room for a packet smoltcp sends.
struct TxToken<'a> {
    fd: &'a OwnedFd,
    buf: &'a mut [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.packet[VNET_HDR..self.len]);
        self.free.push(self.packet);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let packet = &mut self.buf[..len];
        let r = f(packet);
        let _ = write_packet(self.fd, packet);
        r
    }
}

impl phy::Device for Device {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let (packet, len) = self.rx.pop_front()?;
        let rx = RxToken {
            packet,
            len,
            free: &mut self.free,
        };
        let tx = TxToken {
            fd: self.fd.get_ref(),
            buf: &mut self.tx,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            fd: self.fd.get_ref(),
            buf: &mut self.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = usize::from(MTU);
        // The packets come from the kernel on the other side of the device, which sums them
        // (a TUN device has no wire to corrupt them); what we send, the kernel checks.
        c.checksum.ipv4 = Checksum::Tx;
        c.checksum.tcp = Checksum::Tx;
        c
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
async fn resolve_tcp(cage: &Cage, mut s: impl AsyncRead + AsyncWrite + Unpin) {
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
        if s.write_all(&out).await.is_err() || s.flush().await.is_err() {
            return;
        }
    }
}

/// Where a flow's bytes go.
struct Upstream {
    stream: BoxedStream,
    /// Whether the program's FIN is passed on. Tor streams have no half-close: tor answers an
    /// application's EOF by ending the stream both ways (RELAY_END), so the reply a program
    /// waits for after shutdown(SHUT_WR) would be lost. Its FIN is kept, and the stream ends
    /// when the destination ends it, as `torify forward` does. Direct connections and the
    /// resolver get it.
    half_close: bool,
}

/// Where a new flow to `to` goes: a Tor stream to its address, or to the *name* when the
/// address is one the cage's resolver handed out; the resolver itself for DNS over TCP. None
/// when it was refused or failed (the line is said here).
async fn upstream(cage: Arc<Cage>, to: SocketAddr) -> Option<Upstream> {
    if names::is_resolver(to) {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move { resolve_tcp(&cage, theirs).await });
        return Some(Upstream {
            stream: Box::pin(ours),
            half_close: true,
        });
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
    let (result, half_close) = match (
        &dest,
        policy::connect(tcp, Destination::Inet(to), &cage.settings),
    ) {
        (Dest::Name(..), _) | (_, ConnectVerdict::Proxy(_) | ConnectVerdict::ProxyName(..)) => {
            let explicit = cage.settings.credentials.as_ref();
            (
                cage.tor.connect(&dest, cage.key(&dest), explicit).await,
                false,
            )
        }
        (_, ConnectVerdict::Direct(addr)) => {
            cage.say(Said::Direct, || {
                format!(
                    "warning: the cage connects to {addr} directly, not through Tor (allow.direct)"
                )
            });
            (connector::direct(addr).await, true)
        }
        (_, ConnectVerdict::Refuse(refusal)) => {
            cage.say(Said::Refused, || format!("{refusal} (in the cage)"));
            return None;
        }
        // Loopback and local families never reach the TUN device.
        (_, ConnectVerdict::Libc) => return None,
    };
    match result {
        Ok(stream) => Some(Upstream { stream, half_close }),
        Err(e) => {
            cage.say(Said::Failed, || {
                format!("connection to {dest} from the cage through Tor failed: {e}")
            });
            None
        }
    }
}

/// The stack's buffers per flow and direction: Tor's latency wants many bytes in flight, and
/// 256 KiB measured as fast as 1 MiB (bench/stacks) at a quarter of the memory.
const BUFFER: usize = 256 * 1024;

/// One TCP flow of the cage.
struct Flow {
    /// Its smoltcp socket, once the Tor stream is open; until then the SYN waits in `syn`.
    socket: Option<SocketHandle>,
    /// The program's SYN, answered only when Tor has connected (or refused: then a reset).
    syn: Option<Vec<u8>>,
    /// The Tor stream; None again once both directions have ended.
    up: Option<BoxedStream>,
    /// The stream said EOF: the program gets a FIN once its bytes are sent.
    up_eof: bool,
    /// Bytes were written to the stream and not yet flushed (arti buffers until a flush).
    up_unflushed: bool,
    /// The program's FIN was passed on (the stream's write side is shut), or kept.
    up_shut: bool,
    /// Whether to pass the program's FIN on (see `Upstream`).
    half_close: bool,
}

/// A flow's 4-tuple: the program's address, where it connected.
type Tuple = (SocketAddr, SocketAddr);

/// The cage's TCP/IP stack: smoltcp's interface, its sockets and every flow, driven by one
/// future. Bytes move straight between smoltcp's socket buffers and the Tor streams, packets
/// straight between the TUN device and smoltcp: no channel, no second buffer per flow.
struct Stack {
    cage: Arc<Cage>,
    device: Device,
    iface: Interface,
    sockets: SocketSet<'static>,
    flows: HashMap<Tuple, Flow>,
    opened_tx: mpsc::UnboundedSender<(Tuple, Option<Upstream>)>,
    opened_rx: mpsc::UnboundedReceiver<(Tuple, Option<Upstream>)>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Stack {
    fn new(fd: Arc<AsyncFd<OwnedFd>>, cage: Arc<Cage>) -> io::Result<Self> {
        let mut device = Device {
            fd,
            rx: VecDeque::new(),
            free: Vec::new(),
            tx: vec![0; usize::from(MTU)],
        };
        let mut iface = Interface::new(
            Config::new(HardwareAddress::Ip),
            &mut device,
            Instant::now(),
        );
        // AnyIP: smoltcp takes packets to every address, as the routes of the interface's own
        // (catch-all) addresses allow, so each flow's socket listens on its destination.
        iface.set_any_ip(true);
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::v4(0, 0, 0, 1), 0));
            let _ = a.push(IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1), 0));
        });
        let routes = iface.routes_mut();
        routes
            .add_default_ipv4_route(Ipv4Address::new(0, 0, 0, 1))
            .map_err(io::Error::other)?;
        routes
            .add_default_ipv6_route(Ipv6Address::new(0, 0, 0, 0, 0, 0, 0, 1))
            .map_err(io::Error::other)?;
        let (opened_tx, opened_rx) = mpsc::unbounded_channel();
        Ok(Stack {
            cage,
            device,
            iface,
            sockets: SocketSet::new(vec![]),
            flows: HashMap::new(),
            opened_tx,
            opened_rx,
            timer: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(1))),
        })
    }

    /// Handles one packet from the cage.
    fn inbound(&mut self, packet: Vec<u8>, len: usize) {
        // The kernel's virtio_net_hdr says nothing we need: no segmentation is offered, and
        // checksums the kernel left partial (TUN_F_CSUM) are not checked on this side.
        let ip = &packet[VNET_HDR..len];
        let to_stack = match packet::classify(ip) {
            Inbound::Stack => true,
            Inbound::Syn { from, to } => match self.flows.get(&(from, to)) {
                // A retransmitted SYN of a flow still waiting for Tor: smoltcp, with no
                // socket listening yet, would reset it.
                Some(f) if f.socket.is_none() => false,
                Some(_) => true,
                None => {
                    self.open((from, to), &packet[..len]);
                    false
                }
            },
            Inbound::Dns { from, to, query } => {
                let (fd, cage, query) = (self.device.fd.clone(), self.cage.clone(), query.to_vec());
                tokio::spawn(async move {
                    if let Some(resp) = resolve(&cage, &query).await
                        && let Some(reply) = packet::udp(to, from, &resp)
                    {
                        let _ = send_packet(&fd, &reply).await;
                    }
                });
                false
            }
            Inbound::Datagram { to } => {
                self.cage.say(Said::Datagram, || {
                    format!("refused a datagram to {to} from the cage: Tor carries only TCP (the cage's resolver, {}:53, answers DNS)", names::RESOLVER_V4)
                });
                self.reject(ip);
                false
            }
            Inbound::Ping { to } => {
                self.cage.say(Said::Datagram, || {
                    format!("refused a ping to {to} from the cage: Tor carries only TCP")
                });
                self.reject(ip);
                false
            }
        };
        if to_stack {
            self.device.rx.push_back((packet, len));
        } else {
            self.device.free.push(packet);
        }
    }

    fn reject(&self, packet: &[u8]) {
        if let Some(icmp) = packet::unreachable(packet) {
            let _ = write_packet(self.device.fd.get_ref(), &icmp);
        }
    }

    /// A new flow: its SYN waits while Tor connects, so the program's connect() returns when
    /// the stream is open, or fails as a refused connection would, as outside the cage.
    fn open(&mut self, tuple: Tuple, syn: &[u8]) {
        self.flows.insert(
            tuple,
            Flow {
                socket: None,
                syn: Some(syn.to_vec()),
                up: None,
                up_eof: false,
                up_unflushed: false,
                up_shut: false,
                half_close: false,
            },
        );
        let (opened, cage) = (self.opened_tx.clone(), self.cage.clone());
        tokio::spawn(async move {
            let _ = opened.send((tuple, upstream(cage, tuple.1).await));
        });
    }

    /// The Tor stream of a waiting flow is open (or not): the SYN goes to a socket listening
    /// on its destination, or is answered with a reset.
    fn opened(&mut self, tuple: Tuple, up: Option<Upstream>) {
        let Some(f) = self.flows.get_mut(&tuple) else {
            return;
        };
        // Each flow's Tor stream is asked for once, so its SYN is still here.
        let Some(syn) = f.syn.take() else {
            return;
        };
        let Some(up) = up else {
            if let Some(rst) = syn.get(VNET_HDR..).and_then(packet::reset) {
                let _ = write_packet(self.device.fd.get_ref(), &rst);
            }
            self.flows.remove(&tuple);
            return;
        };
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; BUFFER]),
            tcp::SocketBuffer::new(vec![0; BUFFER]),
        );
        // The relay writes what it has; Tor packs cells itself.
        s.set_nagle_enabled(false);
        // A program that stops acknowledging for this long is gone.
        s.set_timeout(Some(Duration::from_secs(120)));
        if s.listen(tuple.1).is_err() {
            self.flows.remove(&tuple);
            return;
        }
        f.socket = Some(self.sockets.add(s));
        f.up = Some(up.stream);
        f.half_close = up.half_close;
        let len = syn.len();
        self.device.rx.push_back((syn, len));
        // Process the SYN before another flow's socket listens on the same destination, so
        // each SYN reaches its own flow's socket.
        self.iface
            .poll(Instant::now(), &mut self.device, &mut self.sockets);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut progress = false;
            while let Poll::Ready(Some((tuple, up))) = self.opened_rx.poll_recv(cx) {
                self.opened(tuple, up);
                progress = true;
            }
            // Packets from the cage, a batch at a time.
            let fd = self.device.fd.clone();
            for _ in 0..256 {
                let mut guard = match fd.poll_read_ready(cx) {
                    Poll::Ready(g) => g?,
                    Poll::Pending => break,
                };
                let mut packet = self.device.buffer();
                match guard.try_io(|f| read_packet(f.get_ref(), &mut packet)) {
                    Ok(Ok(n)) if n > VNET_HDR => {
                        self.inbound(packet, n);
                        progress = true;
                    }
                    // Nothing, or readiness cleared: poll again.
                    Ok(Ok(_)) | Err(_) => self.device.free.push(packet),
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                }
            }
            if self
                .iface
                .poll(Instant::now(), &mut self.device, &mut self.sockets)
                == PollResult::SocketStateChanged
            {
                progress = true;
            }
            progress |= self.pump(cx);
            if progress {
                continue;
            }
            // Nothing moved. Every Pending above registered its waker; the timer covers
            // smoltcp's own (retransmissions, delayed ACKs).
            let delay = self
                .iface
                .poll_delay(Instant::now(), &self.sockets)
                .unwrap_or(Duration::from_secs(1));
            let deadline = tokio::time::Instant::now()
                + std::time::Duration::from_micros(delay.total_micros());
            self.timer.as_mut().reset(deadline);
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Moves bytes between every flow's socket and its Tor stream; true if any moved.
    fn pump(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut gone = Vec::new();
        for (tuple, f) in &mut self.flows {
            let Some(handle) = f.socket else { continue };
            let s = self.sockets.get_mut::<tcp::Socket>(handle);
            if s.state() == tcp::State::Closed {
                gone.push(*tuple);
                continue;
            }
            match relay(s, f, cx) {
                Ok(moved) => progress |= moved,
                // The stream broke: the program's connection is reset, as Tor's END would.
                Err(_) => {
                    s.abort();
                    f.up = None;
                    progress = true;
                }
            }
            if f.up_eof && f.up_shut {
                f.up = None; // both directions done: the Tor stream is released now
            }
        }
        for tuple in gone {
            if let Some(handle) = self.flows.remove(&tuple).and_then(|f| f.socket) {
                self.sockets.remove(handle);
            }
        }
        progress
    }
}

/// One flow's bytes, both ways, as far as the buffers and the stream allow; whether any moved.
fn relay(s: &mut tcp::Socket<'_>, f: &mut Flow, cx: &mut Context<'_>) -> io::Result<bool> {
    let Some(up) = f.up.as_mut() else {
        return Ok(false);
    };
    let mut moved = false;
    // Program -> Tor.
    while s.can_recv() {
        let r = s.recv(|b| match up.as_mut().poll_write(cx, b) {
            Poll::Ready(Ok(0)) => (0, Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => (n, Ok(true)),
            Poll::Ready(Err(e)) => (0, Err(e)),
            Poll::Pending => (0, Ok(false)),
        });
        match r.map_err(io::Error::other)? {
            Ok(true) => {
                moved = true;
                f.up_unflushed = true;
            }
            Ok(false) => break,
            Err(e) => return Err(e),
        }
    }
    if f.up_unflushed && up.as_mut().poll_flush(cx)?.is_ready() {
        f.up_unflushed = false;
    }
    // The program's FIN, after its last byte: pass it on, or keep it (see `Upstream`). (Not
    // `!may_recv()`: that is true before the handshake completes too.)
    let fin_in = matches!(
        s.state(),
        tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait
    );
    if fin_in
        && !f.up_shut
        && s.recv_queue() == 0
        && !f.up_unflushed
        && (!f.half_close || up.as_mut().poll_shutdown(cx)?.is_ready())
    {
        f.up_shut = true;
        moved = true;
    }
    // Tor -> program.
    while !f.up_eof && s.can_send() {
        let r = s.send(|b| {
            let mut rb = ReadBuf::new(b);
            match up.as_mut().poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    (n, Ok(Some(n)))
                }
                Poll::Ready(Err(e)) => (0, Err(e)),
                Poll::Pending => (0, Ok(None)),
            }
        });
        match r.map_err(io::Error::other)? {
            Ok(Some(0)) => {
                f.up_eof = true;
                s.close(); // FIN once the send buffer has drained
                moved = true;
            }
            Ok(Some(_)) => moved = true,
            Ok(None) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}

/// Serves the cage's TUN device until the cage ends (the task is dropped).
pub(crate) async fn serve(tun: OwnedFd, cage: Arc<Cage>) -> io::Result<()> {
    let fd = Arc::new(torify_sys::async_fd::register(tun)?);
    let mut stack = Stack::new(fd, cage)?;
    std::future::poll_fn(move |cx| stack.poll(cx)).await
}
