//! Serves the TUN device `tun0` with one userspace TCP/IP stack, turning every TCP flow into a
//! SOCKS5 CONNECT to the mock server (which echoes), so `run` can time the same kernel client
//! against each stack on identical set-ups.
//!
//!   stacks serve ipstack   --socks ADDR --mtu N [--mss N] [--buf BYTES]
//!   stacks serve netstack  --socks ADDR --mtu N [--win BYTES] [--chan N] [--stackbuf N]
//!   stacks serve tun2proxy --socks ADDR --mtu N [--mss N]
//!   stacks serve smoltcp   --socks ADDR --mtu N [--win BYTES] [--rxwin BYTES] [--ackdelay MS]
//!
//! Prints `ready` on stdout once attached to the device, then `flow SRC -> DST` on stderr for
//! the first flow (to show the stack reports the original destination), and runs until killed.

mod smol;
mod tun;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tun::TunIo;

/// Command-line settings; every size has the default the brief gave or the crate's own.
struct Opts {
    stack: String,
    pub(crate) socks: SocketAddr,
    dev: String,
    pub(crate) mtu: u16,
    /// MSS announced in the SYN-ACK (ipstack, tun2proxy); default MTU - 60 (IPv6 + TCP headers).
    mss: Option<u16>,
    /// ipstack: read_buffer_size and max_unacked_bytes.
    buf: usize,
    /// netstack-smoltcp and smoltcp: per-socket TCP rx/tx buffer (window).
    pub(crate) win: u32,
    /// smoltcp: receive buffer alone (default: --win).
    pub(crate) rxwin: Option<u32>,
    /// smoltcp: delayed-ACK time in ms (0: none; default smoltcp's 10).
    pub(crate) ack_delay_ms: Option<u64>,
    /// netstack-smoltcp: depth of the packet channel into the TCP runner (`tcp_buffer_size`).
    chan: usize,
    /// netstack-smoltcp: depth of the packet channel out of the stack (`stack_buffer_size`).
    stackbuf: usize,
}

fn parse() -> Result<Opts, String> {
    let mut a = std::env::args().skip(1);
    if a.next().as_deref() != Some("serve") {
        return Err("usage: stacks serve STACK --socks ADDR --mtu N [options]".into());
    }
    let stack = a.next().ok_or("which stack?")?;
    let mut o = Opts {
        stack,
        socks: "127.0.0.1:1080".parse().map_err(|_| "?")?,
        dev: "tun0".into(),
        mtu: 1500,
        mss: None,
        buf: 256 * 1024,
        win: 0x3FFF * 20,
        ack_delay_ms: None,
        rxwin: None,
        chan: 512,
        stackbuf: 1024,
    };
    while let Some(k) = a.next() {
        let v = a.next().ok_or(format!("{k} needs a value"))?;
        let bad = |_| format!("bad value for {k}: {v}");
        match k.as_str() {
            "--socks" => o.socks = v.parse().map_err(|_| format!("bad address {v}"))?,
            "--dev" => o.dev = v.clone(),
            "--mtu" => o.mtu = v.parse().map_err(bad)?,
            "--mss" => o.mss = Some(v.parse().map_err(bad)?),
            "--buf" => o.buf = v.parse().map_err(bad)?,
            "--win" => o.win = v.parse().map_err(bad)?,
            "--rxwin" => o.rxwin = Some(v.parse().map_err(bad)?),
            "--ackdelay" => o.ack_delay_ms = Some(v.parse().map_err(bad)?),
            "--chan" => o.chan = v.parse().map_err(bad)?,
            "--stackbuf" => o.stackbuf = v.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(o)
}

/// STACKS_LOG=trace|debug|info prints the stacks' own log lines on stderr (for debugging a stall).
struct StderrLog;
impl log::Log for StderrLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        eprintln!("{} {}: {}", r.level(), r.target(), r.args());
    }
    fn flush(&self) {}
}

#[tokio::main]
async fn main() {
    if let Some(level) = std::env::var("STACKS_LOG").ok().and_then(|l| l.parse().ok()) {
        log::set_max_level(level);
        let _ = log::set_logger(&StderrLog);
    }
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("stacks: {e}");
            std::process::exit(2);
        }
    };
    let result = async {
        let tun = TunIo::new(tun::open(&o.dev)?)?;
        println!("ready");
        match o.stack.as_str() {
            "ipstack" => serve_ipstack(&o, tun).await,
            "netstack" => serve_netstack(&o, tun).await,
            "tun2proxy" => serve_tun2proxy(&o, tun).await,
            "smoltcp" => smol::serve(&o, tun).await,
            s => Err(io::Error::other(format!("unknown stack {s}"))),
        }
    }
    .await;
    if let Err(e) = result {
        eprintln!("stacks: {e}");
        std::process::exit(1);
    }
}

/// Says where the first flow went, once.
pub(crate) fn note_first_flow(src: SocketAddr, dst: SocketAddr) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| eprintln!("flow {src} -> {dst}"));
}

/// A SOCKS5 CONNECT to `dst` through the mock: greeting and request in one write (as torify's
/// connector does), then the 2-byte method reply and the reply with its bound address.
pub(crate) async fn socks_connect(socks: SocketAddr, dst: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(socks).await?;
    s.set_nodelay(true)?;
    let mut req = vec![5, 1, 0, 5, 1, 0];
    match dst {
        SocketAddr::V4(a) => {
            req.push(1);
            req.extend_from_slice(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            req.push(4);
            req.extend_from_slice(&a.ip().octets());
        }
    }
    req.extend_from_slice(&dst.port().to_be_bytes());
    s.write_all(&req).await?;
    let mut head = [0u8; 6];
    s.read_exact(&mut head).await?;
    if head[0] != 5 || head[1] != 0 || head[3] != 0 {
        return Err(io::Error::other("SOCKS refused"));
    }
    // The rest of the bound address (we have read its type byte and nothing of it yet).
    let rest = match head[5] {
        1 => 4 + 2,
        4 => 16 + 2,
        _ => return Err(io::Error::other("SOCKS reply type")),
    };
    let mut skip = [0u8; 18];
    s.read_exact(&mut skip[..rest]).await?;
    Ok(s)
}

/// One flow: SOCKS to the mock, then bytes both ways until both sides are done.
async fn relay<S: AsyncRead + AsyncWrite + Unpin>(mut flow: S, socks: SocketAddr, dst: SocketAddr) {
    if let Ok(mut up) = socks_connect(socks, dst).await {
        let _ = tokio::io::copy_bidirectional_with_sizes(&mut flow, &mut up, 1 << 16, 1 << 16).await;
    }
}

/// ipstack configured exactly as torify's cage does (stack.rs `config()`).
async fn serve_ipstack(o: &Opts, tun: TunIo) -> io::Result<()> {
    use ipstack::{IpStack, IpStackConfig, IpStackStream, TcpConfig, TcpOptions};
    let mut tcp = TcpConfig::default();
    tcp.timeout = Duration::from_secs(2 * 60 * 60);
    tcp.read_buffer_size = o.buf;
    tcp.max_unacked_bytes = o.buf as u32;
    // Without an MSS option the kernel assumes 536 bytes.
    tcp.options = Some(vec![TcpOptions::MaximumSegmentSize(o.mss.unwrap_or(o.mtu - 60))]);
    let mut c = IpStackConfig::default();
    c.mtu_unchecked(o.mtu).with_tcp_config(tcp).packet_information(false);
    let mut stack = IpStack::new(c, tun);
    loop {
        match stack.accept().await {
            Ok(IpStackStream::Tcp(s)) => {
                let (src, dst) = (s.local_addr(), s.peer_addr());
                note_first_flow(src, dst);
                tokio::spawn(relay(s, o.socks, dst));
            }
            Ok(_) => {} // UDP and the rest: torify intercepts them before the stack.
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
}

/// netstack-smoltcp: the stack is a Sink (packets in) and a Stream (packets out); a runner
/// future drives smoltcp's poll loop; the listener yields each new flow at its SYN.
async fn serve_netstack(o: &Opts, tun: TunIo) -> io::Result<()> {
    let (stack, runner, _udp, listener) = netstack_smoltcp::StackBuilder::default()
        .enable_tcp(true)
        .mtu(usize::from(o.mtu))
        .tcp_buffer_size(o.chan)
        .stack_buffer_size(o.stackbuf)
        .tcp_recv_buffer_size(o.win)
        .tcp_send_buffer_size(o.win)
        .build()?;
    let runner = runner.ok_or_else(|| io::Error::other("no runner"))?;
    let mut listener = listener.ok_or_else(|| io::Error::other("no listener"))?;
    tokio::spawn(async move {
        if let Err(e) = runner.await {
            eprintln!("stacks: netstack runner: {e}");
        }
    });
    let (mut sink, mut out) = stack.split();
    // Device -> stack. Each packet is its own Vec (AnyIpPktFrame is Vec<u8>), copied out of one
    // reused MTU-sized buffer so a large MTU does not cost a large allocation per packet.
    let rx = tun.clone();
    let mut buf = vec![0u8; usize::from(o.mtu)];
    tokio::spawn(async move {
        loop {
            let Ok(n) = rx.recv(&mut buf).await else { return };
            // Only an unparsable packet is an error here; the stack drops it, so do we.
            if let Err(e) = sink.send(buf[..n].to_vec()).await {
                if e.kind() != io::ErrorKind::InvalidInput {
                    eprintln!("stacks: netstack sink: {e}");
                    return;
                }
            }
        }
    });
    // Stack -> device.
    let tx = tun;
    tokio::spawn(async move {
        while let Some(Ok(pkt)) = out.next().await {
            let _ = tx.send(&pkt).await;
        }
    });
    // The listener yields (stream, local, remote): local is the program's address (the flow's
    // source), remote the address it connected to.
    while let Some((s, src, dst)) = listener.next().await {
        note_first_flow(src, dst);
        tokio::spawn(relay(s, o.socks, dst));
    }
    Ok(())
}

/// tun2proxy as a whole program (its own ipstack config and SOCKS client), on the same device.
async fn serve_tun2proxy(o: &Opts, tun: TunIo) -> io::Result<()> {
    let mut args = tun2proxy::Args::default();
    let proxy = tun2proxy::ProxyParameters::try_from(format!("socks5://{}", o.socks).as_str())
        .map_err(|e| io::Error::other(e.to_string()))?;
    args.proxy(proxy);
    args.tcp_mss = Some(o.mss.unwrap_or(o.mtu - 60));
    // Its default of 200 sessions would refuse flows during the 200-connect runs, as closed
    // sessions linger a few seconds in ipstack.
    args.max_sessions = 100_000;
    args.mtu = o.mtu;
    tun2proxy::run(tun, o.mtu, args, tun2proxy::CancellationToken::new())
        .await
        .map(|_| ())
        .map_err(|e| io::Error::other(e.to_string()))
}
