//! `torify forward` through the private network: concurrent transfers, checked byte for byte,
//! to the destination through an exit (tor daemon) and to the onion service (embedded arti),
//! clients that half-close, and a clean stop on SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::tornet::{BLOB_PATH, DEST_NAME, PAGE, TorNet, blob};

use super::{Runtime, in_net};

/// A running `torify forward`, stopped (SIGTERM, by its pid) if the test ends early.
struct Forward {
    child: Child,
    stderr: BufReader<ChildStderr>,
    /// What it printed up to the line naming the port.
    seen: String,
    port: u16,
}

impl Forward {
    /// `torify BACKEND… forward ARGS…`, with `runtime` as its XDG_RUNTIME_DIR (where the
    /// embedded client's service lives).
    fn start(runtime: Option<&Runtime>, backend: &[&str], args: &[&str]) -> Forward {
        let mut cmd = Command::new(artifacts::torify());
        if let Some(rt) = runtime {
            cmd.env("XDG_RUNTIME_DIR", &rt.dir);
        }
        let mut child = cmd
            .args(backend)
            .arg("forward")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("torify forward");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        // Bootstrap progress (arti) comes first; then the line naming the bound address.
        let port = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                panic!("torify forward ended before listening:\n{seen}");
            }
            seen.push_str(&line);
            if let Some(rest) = line.strip_prefix("torify: forwarding 127.0.0.1:") {
                break rest.split(' ').next().unwrap().parse().unwrap();
            }
        };
        Forward {
            child,
            stderr,
            seen,
            port,
        }
    }

    /// SIGINT, then the exit status and all it printed.
    fn interrupt(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on the pid of our own child, which has not been waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().unwrap();
        let mut all = std::mem::take(&mut self.seen);
        let _ = self.stderr.read_to_string(&mut all);
        (status.code(), all)
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: as in interrupt.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

/// GET the blob through the forwarder as HTTP/1.0, half-closing after the request (the
/// response must still arrive whole); returns the body.
fn fetch_blob(port: u16) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(s, "GET {BLOB_PATH} HTTP/1.0\r\nHost: {DEST_NAME}\r\n\r\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP reply: {:?}", String::from_utf8_lossy(&reply)));
    assert!(reply.starts_with(b"HTTP/1.0 200"), "{:?}", &reply[..split]);
    reply.split_off(split + 4)
}

/// `n` transfers at once; each must be the blob, byte for byte.
fn concurrent_transfers(port: u16, n: usize) {
    let want = blob();
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|_| s.spawn(|| fetch_blob(port))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(body.len(), want.len(), "transfer {i}: length");
        assert!(body == &want, "transfer {i}: the bytes differ");
    }
}

#[test]
fn forward_through_the_daemon_carries_concurrent_transfers_to_an_exit_destination() {
    in_net(|_| {
        let fw = Forward::start(
            None,
            &[],
            &["--listen", "127.0.0.1:0", &format!("{DEST_NAME}:80")],
        );
        concurrent_transfers(fw.port, 6);
        let (code, rest) = fw.interrupt();
        assert_eq!(code, Some(0), "{rest}");
        assert!(
            rest.contains("forward stopped after 6 connections"),
            "{rest}"
        );
    })
}

#[test]
fn forward_with_arti_reaches_the_onion_service_one_circuit_per_connection() {
    in_net(|net: &TorNet| {
        let config = net.arti_config.display().to_string();
        let rt = Runtime::new(net, "forward");
        let fw = Forward::start(
            Some(&rt),
            &["--backend", "arti", "-c", &config],
            &["--isolate-connections", &format!("{}:80", net.onion)],
        );
        concurrent_transfers(fw.port, 4);
        let (code, rest) = fw.interrupt();
        assert_eq!(code, Some(0), "{rest}");
        assert!(
            rest.contains("forward stopped after 4 connections"),
            "{rest}"
        );
    })
}

#[test]
fn forward_refuses_public_listening_without_expose_and_bad_destinations() {
    let run = |args: &[&str]| {
        Command::new(artifacts::torify())
            .env("TORIFY_BACKEND", "tor")
            .arg("forward")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--listen", "0.0.0.0:0", "web.test:80"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--expose") && err.lines().count() == 1,
        "{err}"
    );
    let out = run(&["web.test"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("write HOST:PORT"), "{err}");
}

/// A SOCKS4 CONNECT (`name`: SOCKS4a) to port 80 over the service's unix socket, then an
/// HTTP GET; the reply code and what came back.
fn socks4_get(socket: &std::path::Path, ip: [u8; 4], name: Option<&str>) -> (u8, String) {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let mut req = vec![4, 1, 0, 80];
    req.extend_from_slice(&ip);
    req.extend_from_slice(b"olduser\0");
    if let Some(n) = name {
        req.extend_from_slice(n.as_bytes());
        req.push(0);
    }
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).unwrap();
    if reply[1] != 0x5A {
        return (reply[1], String::new());
    }
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {DEST_NAME}\r\n\r\n").as_bytes())
        .unwrap();
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    (reply[1], body)
}

/// The embedded client's SOCKS server answers SOCKS4a (a name) and SOCKS4 (an address) as
/// tor's SocksPort does, for old tools pointed at it.
#[test]
fn arti_socks_server_answers_socks4a_and_socks4() {
    in_net(|net: &TorNet| {
        let rt = Runtime::new(net, "socks4");
        let started = torify_tests::probe::run(
            rt.torify()
                .args(["-q", "-c"])
                .arg(&net.arti_config)
                .arg("serve"),
        );
        assert_eq!(started.code, 0, "{started:?}");
        let socket = rt.service_dir().join("socks.sock");
        // SOCKS4a: 0.0.0.x and the name after the user id.
        let (code, body) = socks4_get(&socket, [0, 0, 0, 1], Some(DEST_NAME));
        assert_eq!(code, 0x5A, "SOCKS4a refused");
        assert!(body.ends_with(PAGE), "{body}");
        let (code, body) = socks4_get(&socket, [198, 51, 100, 7], None);
        assert_eq!(code, 0x5A, "SOCKS4 refused");
        assert!(body.ends_with(PAGE), "{body}");
    })
}
