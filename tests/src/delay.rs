//! A TCP forwarder that gives a loopback link real latency: every chunk it reads is written
//! on `delay` after it arrived, in each direction, in order, byte for byte. This kernel has no
//! sch_netem, so this is how the private Tor network gets per-hop latency (shared/TESTNET.md):
//! each relay advertises the forwarder's port and listens behind it.
//!
//! One connection costs four threads: per direction a reader, which stamps each chunk with its
//! due time the moment it arrives, and a writer, which sleeps until that time and writes. A
//! reader never waits for the delay, so the link's throughput is the loopback's (a window of
//! `QUEUE` chunks in flight), and the only jitter is the writer's wake-up (tens of µs).
//! A FIN is passed on as a half-close after the same delay; a read error or a failed write
//! closes both sides.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

/// The largest chunk read at once.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight per direction before the reader waits (backpressure: 16 MiB at most).
const QUEUE: usize = 256;

/// What a reader hands to its writer.
enum Segment {
    /// Bytes, due at the instant given.
    Data(Instant, Vec<u8>),
    /// The sender half-closed, due at the instant given.
    Fin(Instant),
    /// The read failed (a reset): close the other side too.
    Reset,
}

/// A listening forwarder; it stops accepting when dropped (open connections run on until
/// their ends close).
pub struct DelayedPort {
    listen: SocketAddr,
    stop: Arc<AtomicBool>,
    /// The accept loop's listener, to wake it when dropped.
    listener: TcpListener,
}

impl DelayedPort {
    /// Listens on `listen` and forwards every connection to `target`, `delay` late each way.
    /// Threads are started from the calling thread, so they share its network namespace.
    pub fn start(
        listen: SocketAddr,
        target: SocketAddr,
        delay: Duration,
    ) -> std::io::Result<DelayedPort> {
        let listener = TcpListener::bind(listen)?;
        let listen = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let kept = listener.try_clone()?;
        thread::Builder::new()
            .name(format!("delay {listen}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    // A failed accept or connect drops this connection only: the peer sees
                    // it closed, as it would a relay that refused.
                    if let Ok(inbound) = conn {
                        let _ = forward(inbound, target, delay);
                    }
                }
            })?;
        Ok(DelayedPort {
            listen,
            stop,
            listener: kept,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }
}

impl Drop for DelayedPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // shutdown(2) on a listening socket makes a blocked accept(2) return (EINVAL) on
        // Linux, so the loop sees the flag; connecting to it instead would need the right
        // network namespace, and a drop may run on any thread.
        // SAFETY: the descriptor belongs to `self.listener`, open until after this call.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}

/// Connects to `target` and starts the two directions of one connection.
fn forward(inbound: TcpStream, target: SocketAddr, delay: Duration) -> std::io::Result<()> {
    let outbound = TcpStream::connect(target)?;
    // Without TCP_NODELAY, Nagle's algorithm holds a small write back until the previous one
    // is acknowledged, and the peer's delayed ACK can make that 40 ms: latency of its own.
    inbound.set_nodelay(true)?;
    outbound.set_nodelay(true)?;
    direction(inbound.try_clone()?, outbound.try_clone()?, delay)?;
    direction(outbound, inbound, delay)
}

/// Starts the reader and the writer of one direction, `from` → `to`.
fn direction(from: TcpStream, to: TcpStream, delay: Duration) -> std::io::Result<()> {
    let (tx, rx) = sync_channel(QUEUE);
    // The writer closes `from` when `to` fails, which ends the reader.
    let from_for_writer = from.try_clone()?;
    thread::Builder::new()
        .name("delay read".into())
        .spawn(move || read_side(from, &tx, delay))?;
    thread::Builder::new()
        .name("delay write".into())
        .spawn(move || write_side(&rx, to, &from_for_writer))?;
    Ok(())
}

fn read_side(mut from: TcpStream, tx: &SyncSender<Segment>, delay: Duration) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let segment = match from.read(&mut buf) {
            Ok(0) => Segment::Fin(Instant::now() + delay),
            Ok(n) => Segment::Data(Instant::now() + delay, buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => Segment::Reset,
        };
        let last = !matches!(segment, Segment::Data(..));
        if tx.send(segment).is_err() || last {
            return;
        }
    }
}

fn write_side(rx: &Receiver<Segment>, mut to: TcpStream, from: &TcpStream) {
    let wait = |due: Instant| {
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
    };
    loop {
        match rx.recv() {
            Ok(Segment::Data(due, bytes)) => {
                wait(due);
                if to.write_all(&bytes).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
            Ok(Segment::Fin(due)) => {
                wait(due);
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(Segment::Reset) | Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on an ephemeral port that half-closes after the peer does.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for c in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut w = c.try_clone().unwrap();
                    let mut r = c;
                    let _ = std::io::copy(&mut r, &mut w);
                    let _ = w.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    fn through(delay_ms: u64) -> (TcpStream, DelayedPort) {
        let port = DelayedPort::start(
            "127.0.0.1:0".parse().unwrap(),
            echo(),
            Duration::from_millis(delay_ms),
        )
        .unwrap();
        let s = TcpStream::connect(port.addr()).unwrap();
        s.set_nodelay(true).unwrap();
        (s, port)
    }

    #[test]
    fn one_round_trip_costs_twice_the_delay() {
        let (mut s, _port) = through(30);
        let mut byte = [0u8; 1];
        for _ in 0..3 {
            let t = Instant::now();
            s.write_all(b"x").unwrap();
            s.read_exact(&mut byte).unwrap();
            let rtt = t.elapsed();
            assert!(
                rtt >= Duration::from_millis(60) && rtt < Duration::from_millis(75),
                "round trip {rtt:?}, expected 60 ms"
            );
        }
    }

    #[test]
    fn bytes_arrive_in_order_and_half_close_passes_through() {
        let (s, _port) = through(5);
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = s.try_clone().unwrap();
        let sent = data.clone();
        let writer = thread::spawn(move || {
            w.write_all(&sent).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        let t = Instant::now();
        (&s).read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert!(
            back == data,
            "echo differs ({} of {} bytes)",
            back.len(),
            data.len()
        );
        // 4 MB must not take long: the delay is latency, not a throughput cap.
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn zero_delay_forwards_too() {
        let (mut s, _port) = through(0);
        s.write_all(b"ping").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = String::new();
        s.read_to_string(&mut back).unwrap();
        assert_eq!(back, "ping");
    }
}
