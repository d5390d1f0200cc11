//! A mock of Tor's SOCKS port: records every request and answers CONNECT, RESOLVE (0xF0) and
//! RESOLVE_PTR (0xF1) as configured, with authentication, any reply code and delays.
//!
//! It answers the way tor does where that matters (tor `proto_socks.c`): it picks
//! username/password whenever it is offered, accepts any credentials, answers a failed RESOLVE
//! with address type 0, and parses a pipelined greeting and request (and, asked to, leaves out
//! the method choice before a pipelined username/password's reply, as tor 0.4.9 does).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What happens on a stream after a successful CONNECT.
#[derive(Clone, Debug, Default)]
pub enum After {
    /// Echo every byte back (a stand-in for the destination).
    #[default]
    Echo,
    /// Send this text, then close.
    Banner(String),
    /// Close at once.
    Close,
}

/// How the mock answers.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Reply code for CONNECT (0 = success).
    pub reply: u8,
    /// Wait this long before each request reply.
    pub delay: Duration,
    /// Names RESOLVE answers.
    pub resolve: Vec<(String, IpAddr)>,
    /// Addresses RESOLVE_PTR answers.
    pub ptr: Vec<(IpAddr, String)>,
    /// After a successful CONNECT.
    pub after: After,
    /// Refuse clients that do not offer username/password.
    pub require_auth: bool,
    /// Wait this long before answering the greeting (a slow or busy SOCKS port).
    pub greeting_delay: Duration,
    /// Answer username/password without the method choice before it, as tor 0.4.9 does when
    /// the client sends greeting and credentials in one write.
    pub tor_auth_reply: bool,
}

/// One request as the mock saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// 0x01 CONNECT, 0xF0 RESOLVE, 0xF1 RESOLVE_PTR.
    pub command: u8,
    /// The address type the client used (1, 3 or 4).
    pub atyp: u8,
    /// The host as text: a name, or an address without brackets.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Username and password, if the client authenticated.
    pub auth: Option<(String, String)>,
}

/// A running mock.
pub struct MockSocks {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl MockSocks {
    /// Listens on `bind` (port 0 picks one) and serves until dropped.
    pub fn start(bind: &str, behaviour: Behaviour) -> io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let behaviour = Arc::new(behaviour);
        let accept = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (seen, behaviour) = (seen.clone(), behaviour.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &behaviour, &seen);
                    });
                }
            })
        };
        Ok(MockSocks {
            addr,
            seen,
            stop,
            accept: Some(accept),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The CONNECT requests so far, as (host, port).
    pub fn connects(&self) -> Vec<(String, u16)> {
        connects(&self.seen())
    }
}

/// The CONNECT requests among `seen`, as (host, port).
pub fn connects(seen: &[Seen]) -> Vec<(String, u16)> {
    seen.iter()
        .filter(|s| s.command == 1)
        .map(|s| (s.host.clone(), s.port))
        .collect()
}

impl Drop for MockSocks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn read_exact(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn reply(s: &mut TcpStream, code: u8, bound: &[u8]) -> io::Result<()> {
    let mut msg = vec![5, code, 0];
    msg.extend_from_slice(bound);
    msg.extend_from_slice(&[0, 0]);
    s.write_all(&msg)
}

fn addr_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [&[1u8][..], &v4.octets()].concat(),
        IpAddr::V6(v6) => [&[4u8][..], &v6.octets()].concat(),
    }
}

/// Serves one client connection.
pub fn serve(mut s: TcpStream, b: &Behaviour, seen: &Mutex<Vec<Seen>>) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let head = read_exact(&mut s, 2)?;
    if head[0] != 5 {
        return Ok(());
    }
    let methods = read_exact(&mut s, usize::from(head[1]))?;
    std::thread::sleep(b.greeting_delay);
    let auth = if methods.contains(&2) {
        if !b.tor_auth_reply {
            s.write_all(&[5, 2])?;
        }
        let v = read_exact(&mut s, 2)?;
        let user = read_exact(&mut s, usize::from(v[1]))?;
        let plen = read_exact(&mut s, 1)?;
        let pass = read_exact(&mut s, usize::from(plen[0]))?;
        s.write_all(&[1, 0])?;
        Some((
            String::from_utf8_lossy(&user).into_owned(),
            String::from_utf8_lossy(&pass).into_owned(),
        ))
    } else if methods.contains(&0) && !b.require_auth {
        s.write_all(&[5, 0])?;
        None
    } else {
        return s.write_all(&[5, 0xFF]);
    };
    let req = read_exact(&mut s, 4)?;
    let (command, atyp) = (req[1], req[3]);
    let host = match atyp {
        1 => Ipv4Addr::from(<[u8; 4]>::try_from(read_exact(&mut s, 4)?).unwrap_or_default())
            .to_string(),
        4 => Ipv6Addr::from(<[u8; 16]>::try_from(read_exact(&mut s, 16)?).unwrap_or_default())
            .to_string(),
        3 => {
            let len = read_exact(&mut s, 1)?;
            String::from_utf8_lossy(&read_exact(&mut s, usize::from(len[0]))?).into_owned()
        }
        _ => return reply(&mut s, 8, &[1, 0, 0, 0, 0]),
    };
    let p = read_exact(&mut s, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    if let Ok(mut log) = seen.lock() {
        log.push(Seen {
            command,
            atyp,
            host: host.clone(),
            port,
            auth,
        });
    }
    std::thread::sleep(b.delay);
    let failed = [0u8, 0, 0, 0, 0];
    match command {
        0x01 => {
            reply(&mut s, b.reply, &[1, 0, 0, 0, 0])?;
            if b.reply != 0 {
                // Read what the client sent ahead before closing: closing with it unread would
                // reset the connection, and the client could lose the reply to the reset.
                let _ = s.shutdown(Shutdown::Write);
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut sink = [0u8; 4096];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                return Ok(());
            }
            match &b.after {
                After::Echo => {
                    let mut buf = [0u8; 16384];
                    loop {
                        let n = s.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n])?;
                    }
                }
                After::Banner(text) => s.write_all(text.as_bytes())?,
                After::Close => {}
            }
            let _ = s.shutdown(Shutdown::Both);
            Ok(())
        }
        0xF0 => match b
            .resolve
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&host))
        {
            Some((_, ip)) => reply(&mut s, 0, &addr_bytes(*ip)),
            // tor answers a failed RESOLVE with address type 0.
            None => reply(&mut s, 4, &failed),
        },
        0xF1 => {
            let ip: Option<IpAddr> = host.parse().ok();
            match b.ptr.iter().find(|(a, _)| Some(*a) == ip) {
                Some((_, name)) => {
                    let mut bound = vec![3, name.len() as u8];
                    bound.extend_from_slice(name.as_bytes());
                    reply(&mut s, 0, &bound)
                }
                None => reply(&mut s, 4, &failed),
            }
        }
        _ => reply(&mut s, 7, &[1, 0, 0, 0, 0]),
    }
}
