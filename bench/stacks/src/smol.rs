//! Plain smoltcp 0.14 with a hand-written loop: the fewest copies a smoltcp design allows.
//!
//! One future owns the interface, the sockets and every flow's upstream TcpStream. Bytes move
//! straight between smoltcp's socket buffers and the upstream sockets (`try_read` into the
//! socket's send buffer, `try_write` out of its receive buffer), and packets straight between
//! the TUN descriptor and smoltcp — no channel, no second ring buffer per flow, which is where
//! netstack-smoltcp spends its copies and its per-flow memory. A socket is created, listening on
//! the destination (smoltcp's AnyIP), when a flow's first SYN is read; a retransmitted SYN
//! finds the flow in `by_tuple` and gets no second socket.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet, TcpPacket};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::tun::TunIo;
use crate::{Opts, note_first_flow, socks_connect};

/// The TUN device as smoltcp sees it: packets read this round, and writes straight to the fd.
struct Dev {
    rx: VecDeque<Vec<u8>>,
    fd: RawFd,
    tx: Vec<u8>,
    mtu: usize,
}

struct Rx(Vec<u8>);
struct Tx<'a> {
    fd: RawFd,
    buf: &'a mut Vec<u8>,
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.buf.resize(len, 0);
        let r = f(&mut self.buf[..len]);
        // SAFETY: buf is valid for len bytes; one write(2) is one packet. A full device queue
        // drops the packet, as a NIC would; TCP retransmits.
        unsafe { libc::write(self.fd, self.buf.as_ptr().cast(), len) };
        r
    }
}

impl Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx { fd: self.fd, buf: &mut self.tx }))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx { fd: self.fd, buf: &mut self.tx })
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu;
        c
    }
}

/// One TCP flow: its smoltcp socket and, once SOCKS succeeded, its upstream.
struct Flow {
    handle: SocketHandle,
    tuple: (SocketAddr, SocketAddr),
    up: Option<TcpStream>,
    /// The upstream said EOF (we closed the socket: FIN to the program).
    up_eof: bool,
    /// The program said FIN and all its bytes went upstream (we shut the upstream's write side).
    up_shut: bool,
    /// Waiting for the upstream to become readable / writable.
    want_read: bool,
    want_write: bool,
}

struct State {
    tun: TunIo,
    dev: Dev,
    iface: Interface,
    sockets: SocketSet<'static>,
    flows: HashMap<u64, Flow>,
    by_tuple: HashMap<(SocketAddr, SocketAddr), u64>,
    next_id: u64,
    connected_tx: mpsc::UnboundedSender<(u64, io::Result<TcpStream>)>,
    connected_rx: mpsc::UnboundedReceiver<(u64, io::Result<TcpStream>)>,
    timer: Pin<Box<tokio::time::Sleep>>,
    buf: Vec<u8>,
    socks: SocketAddr,
    win: usize,
    rxwin: usize,
    ack_delay: Option<Duration>,
}

pub async fn serve(o: &Opts, tun: TunIo) -> io::Result<()> {
    let mut dev = Dev { rx: VecDeque::new(), fd: tun.raw_fd(), tx: Vec::new(), mtu: usize::from(o.mtu) };
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut dev, Instant::now());
    // AnyIP: accept packets to every address, routed through the interface's own addresses.
    iface.set_any_ip(true);
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(0, 0, 0, 1), 0));
        let _ = a.push(IpCidr::new(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1), 0));
    });
    iface.routes_mut().add_default_ipv4_route(Ipv4Address::new(0, 0, 0, 1)).map_err(io::Error::other)?;
    iface.routes_mut().add_default_ipv6_route(Ipv6Address::new(0, 0, 0, 0, 0, 0, 0, 1)).map_err(io::Error::other)?;
    let (connected_tx, connected_rx) = mpsc::unbounded_channel();
    let mut st = State {
        buf: vec![0; dev.mtu],
        tun,
        dev,
        iface,
        sockets: SocketSet::new(vec![]),
        flows: HashMap::new(),
        by_tuple: HashMap::new(),
        next_id: 0,
        connected_tx,
        connected_rx,
        timer: Box::pin(tokio::time::sleep(std::time::Duration::from_secs(1))),
        socks: o.socks,
        win: o.win as usize,
        rxwin: o.rxwin.unwrap_or(o.win) as usize,
        ack_delay: match o.ack_delay_ms {
            None => Some(Duration::from_millis(10)),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        },
    };
    std::future::poll_fn(move |cx| st.poll(cx)).await
}

/// The 4-tuple of a packet that opens a TCP flow (SYN without ACK), if it is one.
fn syn_tuple(p: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let (src, dst, payload): (IpAddr, IpAddr, &[u8]) = match p.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(p).ok()?;
            if ip.next_header() != IpProtocol::Tcp {
                return None;
            }
            (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()), &p[usize::from(ip.header_len())..usize::from(ip.total_len())])
        }
        6 => {
            let ip = Ipv6Packet::new_checked(p).ok()?;
            // Extension headers before TCP are not handled here (no kernel TCP sends them).
            if ip.next_header() != IpProtocol::Tcp {
                return None;
            }
            (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()), &p[40..40 + usize::from(ip.payload_len())])
        }
        _ => return None,
    };
    let tcp = TcpPacket::new_checked(payload).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| (SocketAddr::new(src, tcp.src_port()), SocketAddr::new(dst, tcp.dst_port())))
}

impl State {
    /// A new flow for a first SYN: a socket listening on its destination, and its SOCKS connect.
    fn open(&mut self, (src, dst): (SocketAddr, SocketAddr)) {
        let mut s = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; self.rxwin]), tcp::SocketBuffer::new(vec![0; self.win]));
        s.set_nagle_enabled(false); // the relay writes what it has; no waiting for ACKs
        s.set_ack_delay(self.ack_delay);
        s.set_timeout(Some(Duration::from_secs(2 * 60 * 60)));
        if s.listen(dst).is_err() {
            return;
        }
        note_first_flow(src, dst);
        let id = self.next_id;
        self.next_id += 1;
        let handle = self.sockets.add(s);
        self.flows.insert(id, Flow { handle, tuple: (src, dst), up: None, up_eof: false, up_shut: false, want_read: false, want_write: false });
        self.by_tuple.insert((src, dst), id);
        let (tx, socks) = (self.connected_tx.clone(), self.socks);
        tokio::spawn(async move {
            let _ = tx.send((id, socks_connect(socks, dst).await));
        });
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut progress = false;
            // Upstreams whose SOCKS exchange finished; a failure resets the program's connection.
            while let Poll::Ready(Some((id, r))) = self.connected_rx.poll_recv(cx) {
                if let Some(f) = self.flows.get_mut(&id) {
                    match r {
                        Ok(up) => f.up = Some(up),
                        Err(e) => {
                            eprintln!("smoltcp: SOCKS to {} failed: {e}; resetting", f.tuple.1);
                            self.sockets.get_mut::<tcp::Socket>(f.handle).abort()
                        }
                    }
                    progress = true;
                }
            }
            // Packets from the program, a batch at a time.
            for _ in 0..256 {
                let mut guard = match self.tun.async_fd().poll_read_ready(cx) {
                    Poll::Ready(g) => g?,
                    Poll::Pending => break,
                };
                let buf = &mut self.buf;
                // SAFETY: buf is writable for its length.
                match guard.try_io(|f| crate::tun::check(unsafe { libc::read(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })) {
                    Ok(Ok(n)) if n > 0 => {
                        let pkt = self.buf[..n].to_vec();
                        if let Some(t) = syn_tuple(&pkt) {
                            if !self.by_tuple.contains_key(&t) {
                                self.open(t);
                            }
                        }
                        self.dev.rx.push_back(pkt);
                        progress = true;
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Poll::Ready(Err(e)),
                    Err(_would_block) => {} // readiness cleared; the next poll registers
                }
            }
            if matches!(self.iface.poll(Instant::now(), &mut self.dev, &mut self.sockets), PollResult::SocketStateChanged) {
                progress = true;
            }
            progress |= self.pump();
            if progress {
                continue;
            }
            // Nothing moved: register for everything that can move something, then sleep.
            let mut ready = false;
            for f in self.flows.values_mut() {
                let Some(up) = &f.up else { continue };
                if f.want_read && up.poll_read_ready(cx).is_ready() {
                    ready = true;
                }
                if f.want_write && up.poll_write_ready(cx).is_ready() {
                    ready = true;
                }
            }
            let delay = self.iface.poll_delay(Instant::now(), &self.sockets).unwrap_or(Duration::from_secs(1));
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_micros(delay.total_micros());
            self.timer.as_mut().reset(deadline);
            if self.timer.as_mut().poll(cx).is_ready() {
                ready = true;
            }
            if !ready {
                return Poll::Pending;
            }
        }
    }

    /// Moves bytes between every flow's socket and its upstream; true if any moved.
    fn pump(&mut self) -> bool {
        let mut progress = false;
        let mut gone = Vec::new();
        for (id, f) in &mut self.flows {
            let s = self.sockets.get_mut::<tcp::Socket>(f.handle);
            if s.state() == tcp::State::Closed {
                gone.push(*id);
                continue;
            }
            let Some(up) = &f.up else { continue };
            // Program -> upstream.
            f.want_write = false;
            while s.can_recv() {
                match s.recv(|b| match up.try_write(b) {
                    Ok(n) => (n, Ok(n)),
                    Err(e) => (0, Err(e)),
                }) {
                    Ok(Ok(n)) if n > 0 => progress = true,
                    Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        f.want_write = true;
                        break;
                    }
                    r => {
                        eprintln!("smoltcp: upstream write for {} failed: {r:?}; resetting", f.tuple.0);
                        s.abort();
                        break;
                    }
                }
            }
            // The program's FIN, after its last byte: pass it on. (Not `!may_recv()`: that is
            // also true before the handshake completes, which would shut the upstream early.)
            let fin_in = matches!(s.state(), tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait);
            if !f.up_shut && fin_in && s.recv_queue() == 0 && !f.want_write {
                // SAFETY: shutdown(2) on a socket we own.
                unsafe { libc::shutdown(up.as_raw_fd(), libc::SHUT_WR) };
                f.up_shut = true;
                progress = true;
            }
            // Upstream -> program.
            f.want_read = false;
            while !f.up_eof && s.can_send() {
                match s.send(|b| match up.try_read(b) {
                    Ok(n) => (n, Ok(n)),
                    Err(e) => (0, Err(e)),
                }) {
                    Ok(Ok(0)) => {
                        f.up_eof = true;
                        s.close(); // FIN once the send buffer has drained
                        progress = true;
                    }
                    Ok(Ok(_)) => progress = true,
                    Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        f.want_read = true;
                        break;
                    }
                    r => {
                        eprintln!("smoltcp: upstream read for {} failed: {r:?}; resetting", f.tuple.0);
                        s.abort();
                        break;
                    }
                }
            }
        }
        for id in gone {
            if let Some(f) = self.flows.remove(&id) {
                self.sockets.remove(f.handle);
                self.by_tuple.remove(&f.tuple);
            }
        }
        progress
    }
}
