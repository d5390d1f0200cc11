//! The preload core end to end: probes under `torify` in a network namespace of their own,
//! judged by what the mock SOCKS server saw, the errno the probe got, and what tcpdump saw
//! leave the process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::capture::{Capture, leak_filter};
use torify_tests::mock::{After, Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run, probe, torify};

fn mock() -> MockSocks {
    MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap()
}

/// Runs the probe with `args` while capturing; returns the run and every packet that was not
/// part of the SOCKS conversation.
fn probe_captured(socks: &MockSocks, args: &[&str]) -> (Run, Vec<String>) {
    let cap = Capture::start(&leak_filter(socks.port()));
    let run = probe(socks.port(), args);
    std::thread::sleep(Duration::from_millis(200));
    (run, cap.stop())
}

#[test]
fn tcp_connect_goes_through_socks_and_data_flows() {
    isolated(|_| {
        let socks = mock();
        let (run, leaks) =
            probe_captured(&socks, &["tcp", "198.51.100.7", "80", "hello-through-tor"]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.value("reply"), Some("hello-through-tor"), "{run:?}");
        assert_eq!(
            run.value("peer"),
            Some("198.51.100.7:80"),
            "getpeername must report the destination, not Tor"
        );
        let seen = socks.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].command, seen[0].host.as_str(), seen[0].port),
            (1, "198.51.100.7", 80)
        );
        assert_eq!(seen[0].auth, None);
        assert!(
            leaks.is_empty(),
            "packets besides the SOCKS conversation: {leaks:#?}"
        );
    });
}

#[test]
fn ipv6_destinations_go_through_socks_as_ipv6() {
    isolated(|_| {
        let socks = mock();
        let (run, leaks) = probe_captured(&socks, &["tcp", "2001:db8::7", "443", "v6"]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.value("peer"), Some("[2001:db8::7]:443"));
        let seen = socks.seen();
        assert_eq!(
            (seen[0].atyp, seen[0].host.as_str(), seen[0].port),
            (4, "2001:db8::7", 443)
        );
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

#[test]
fn ipv4_mapped_destinations_are_proxied_as_ipv4() {
    isolated(|_| {
        let socks = mock();
        let (run, leaks) = probe_captured(&socks, &["tcp", "::ffff:198.51.100.7", "80", "m"]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.value("peer"), Some("[::ffff:198.51.100.7]:80"));
        assert_eq!(socks.seen()[0].host, "198.51.100.7");
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

/// Everything Tor cannot carry fails with the errno of the policy table, and nothing leaves.
#[test]
fn what_tor_cannot_carry_is_refused_and_nothing_leaves() {
    isolated(|_| {
        let socks = mock();
        let rows: &[(&[&str], &str, &str)] = &[
            (&["udp-sendto", "198.51.100.7", "53"], "socket", "EPERM"),
            (&["udp-connect", "198.51.100.7", "53"], "socket", "EPERM"),
            (&["udp-sendto", "2001:db8::7", "53"], "socket", "EPERM"),
            (&["raw"], "socket", "EPERM"),
            (&["raw6"], "socket", "EPERM"),
            (&["ping"], "socket", "EPERM"),
            (&["packet"], "socket", "EAFNOSUPPORT"),
            (&["sctp"], "socket", "EPROTONOSUPPORT"),
            (&["tcp", "127.0.0.1", "8080"], "connect", "EPERM"),
            (&["tcp", "::1", "8080"], "connect", "EPERM"),
            (&["tcp", "::ffff:127.0.0.1", "8080"], "connect", "EPERM"),
            (&["tcp", "0.0.0.0", "80"], "connect", "EPERM"),
            (&["tcp", "::", "80"], "connect", "EPERM"),
        ];
        for (args, step, errno) in rows {
            let (run, leaks) = probe_captured(&socks, args);
            assert_eq!(&run.errno(step), errno, "{args:?}: {run:?}");
            // Datagram sockets are refused quietly (see refusal_messages_*).
            let quiet = args[0].starts_with("udp") || args[0] == "ping";
            assert!(
                quiet || run.stderr.contains("refused"),
                "{args:?} gave no explanation: {}",
                run.stderr
            );
            assert!(leaks.is_empty(), "{args:?} leaked: {leaks:#?}");
        }
        assert!(socks.seen().is_empty(), "{:?}", socks.seen());
    });
}

#[test]
fn refusal_messages_are_one_line_naming_the_setting() {
    isolated(|_| {
        let socks = mock();
        let run = probe(socks.port(), &["raw"]);
        let line = run.stderr.lines().next().unwrap_or_default();
        assert!(line.starts_with("torify["), "{line}");
        assert!(line.contains("refused a raw socket"), "{line}");
        assert!(line.contains("no setting allows it"), "{line}");
        // A UDP socket is refused with its line at the default level, like every refusal.
        let run = probe(socks.port(), &["udp-sendto", "198.51.100.7", "53"]);
        assert_eq!(run.errno("socket"), "EPERM");
        assert!(
            run.stderr.starts_with("torify[") && run.stderr.contains("refused a UDP"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("allow.outbound_localhost"),
            "{}",
            run.stderr
        );
        let run = probe(socks.port(), &["tcp", "127.0.0.1", "8080"]);
        assert!(
            run.stderr.contains("AllowOutboundLocalhost"),
            "{}",
            run.stderr
        );
        // -q silences even errors.
        let quiet = run_quiet(socks.port());
        assert_eq!(quiet.errno("socket"), "EPERM");
        assert_eq!(quiet.stderr, "");
    });
}

fn run_quiet(port: u16) -> Run {
    let mut cmd = torify(port);
    cmd.arg("-q").arg(artifacts::probe("probe")).arg("raw");
    probe::run(&mut cmd)
}

#[test]
fn loopback_is_reached_directly_only_when_allowed() {
    isolated(|_| {
        let socks = mock();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port().to_string();
        listener.set_nonblocking(true).unwrap();
        let run = probe(socks.port(), &["tcp", "127.0.0.1", &port]);
        assert_eq!(run.errno("connect"), "EPERM");
        assert!(
            listener.accept().is_err(),
            "a refused loopback connect reached the listener"
        );

        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let conf = dir.join("local.conf");
        std::fs::write(&conf, "AllowOutboundLocalhost 1\n").unwrap();
        let mut cmd = torify(socks.port());
        cmd.arg("-c")
            .arg(&conf)
            .arg(artifacts::probe("probe"))
            .args(["tcp", "127.0.0.1", &port]);
        let run = probe::run(&mut cmd);
        if probe::strict_run() {
            // In the kernel cage loopback is the cage's own: the host's listener is out of
            // reach, allowed or not.
            assert_eq!(run.errno("connect"), "ECONNREFUSED", "{run:?}");
            assert!(
                listener.accept().is_err(),
                "the cage reached the host's loopback"
            );
            return;
        }
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert!(
            listener.accept().is_ok(),
            "an allowed loopback connect did not arrive"
        );
        assert!(
            socks.seen().is_empty(),
            "loopback went through SOCKS: {:?}",
            socks.seen()
        );
    });
}

#[test]
fn unix_sockets_are_untouched() {
    isolated(|_| {
        let socks = mock();
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let path = dir.join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let run = probe(socks.port(), &["unix", path.to_str().unwrap()]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_ok());
    });
}

#[test]
fn socks_reply_codes_become_errnos_with_a_message() {
    isolated(|_| {
        let rows: &[(u8, &str, &str)] = &[
            (0x01, "ECONNREFUSED", "general failure"),
            (0x04, "EHOSTUNREACH", "host unreachable"),
            (0x05, "ECONNREFUSED", "connection refused"),
            (0x06, "ETIMEDOUT", "timed out"),
            (0xF0, "EHOSTUNREACH", "onion service descriptor not found"),
            (0xF4, "EACCES", "requires client authorization"),
            (0xF7, "ETIMEDOUT", "introduction timed out"),
        ];
        for (code, errno, words) in rows {
            let socks = MockSocks::start(
                "127.0.0.1:0",
                Behaviour {
                    reply: *code,
                    ..Behaviour::default()
                },
            )
            .unwrap();
            let run = probe(socks.port(), &["tcp", "198.51.100.7", "80"]);
            assert_eq!(&run.errno("connect"), errno, "reply 0x{code:02x}: {run:?}");
            assert!(
                run.stderr.contains(words),
                "reply 0x{code:02x}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains(&format!("0x{code:02x}")),
                "{}",
                run.stderr
            );
        }
    });
}

#[test]
fn tor_not_running_is_a_clear_error() {
    isolated(|_| {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cap = Capture::start(&leak_filter(port));
        let run = probe(port, &["tcp", "198.51.100.7", "80"]);
        if probe::strict_run() {
            // The cage is not built around a Tor that is not there: nothing runs.
            assert_eq!(run.code, 125, "{run:?}");
            assert!(run.stdout.is_empty(), "{run:?}");
        } else {
            assert_eq!(run.errno("connect"), "ECONNREFUSED");
        }
        assert!(
            run.stderr
                .contains("cannot reach Tor's SOCKS port at 127.0.0.1:"),
            "{}",
            run.stderr
        );
        assert!(cap.stop().is_empty());
    });
}

#[test]
fn credentials_and_isolation_reach_the_socks_server() {
    isolated(|_| {
        let socks = mock();
        let mut cmd = torify(socks.port());
        cmd.args(["-u", "alice", "-p", "s3cret"])
            .arg(artifacts::probe("probe"))
            .args(["tcp", "198.51.100.7", "80", "x"]);
        let run = probe::run(&mut cmd);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(
            socks.seen()[0].auth,
            Some(("alice".into(), "s3cret".into()))
        );

        let isolated_user = || {
            let mut cmd = torify(socks.port());
            cmd.arg("-i")
                .arg(artifacts::probe("probe"))
                .args(["tcp", "198.51.100.7", "80", "x"]);
            assert_eq!(probe::run(&mut cmd).errno("connect"), "0");
            socks.seen().last().unwrap().auth.clone().unwrap()
        };
        let (u1, p1) = isolated_user();
        let (u2, _) = isolated_user();
        assert!(u1.starts_with("torify-") && u1.len() == 39, "{u1}");
        assert_eq!(p1, "process");
        assert_ne!(u1, u2, "two processes shared an isolation token");
    });
}

#[test]
fn bad_settings_stop_the_launcher_and_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[tor]\nport = 70000\n").unwrap();
    let out = Command::new(artifacts::torify())
        .arg("-c")
        .arg(&bad)
        .arg("true")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "torify: {}:2:8: tor.port 70000 is out of range",
            bad.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // The library on its own (LD_PRELOAD without the launcher) refuses every network call.
    library_alone_refuses_everything(
        ("TORSOCKS_CONF_FILE", &bad),
        "198.51.100.7",
        "tor.port 70000 is out of range",
    );
}

/// The library without the launcher, given the bad settings file `conf` (a variable naming
/// it): the probe's first call is refused, and stderr says why (`problem`) and that all
/// network access is refused.
fn library_alone_refuses_everything(conf: (&str, &Path), dest: &str, problem: &str) {
    isolated(|_| {
        let out = Command::new(artifacts::probe("probe"))
            .args(["tcp", dest, "80"])
            .env("LD_PRELOAD", artifacts::library())
            .env(conf.0, conf.1)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("step=socket ret=-1 errno=EPERM"),
            "{stdout}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(problem), "{stderr}");
        assert!(stderr.contains("refused all network access"), "{stderr}");
    });
}

#[test]
fn launcher_exit_statuses_follow_env() {
    let torify = artifacts::torify();
    // The library against the (absent) daemon: here nothing answers on 9050, and `auto`
    // would start the embedded client, which must not look for the public Tor network.
    let code = |args: &[&str]| {
        Command::new(&torify)
            .env("TORIFY_BACKEND", "tor")
            .args(args)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code(&["sh", "-c", "exit 7"]), Some(7));
    assert_eq!(code(&["no-such-command-anywhere"]), Some(127));
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("data.txt");
    std::fs::write(&not_executable, "just data").unwrap();
    assert_eq!(code(&[not_executable.to_str().unwrap()]), Some(126));
    assert_eq!(code(&["--no-such-flag"]), Some(125));
    assert_eq!(code(&[]), Some(125));
}

#[test]
fn launcher_keeps_existing_preloads_and_works_as_torsocks() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let torsocks = dir.join("torsocks");
    symlink(artifacts::torify(), &torsocks).unwrap();
    let out = Command::new(&torsocks)
        .env("TORIFY_BACKEND", "tor")
        .args(["sh", "-c", "echo \"$LD_PRELOAD\""])
        .env("LD_PRELOAD", "/nonexistent-other.so")
        .output()
        .unwrap();
    let preload = String::from_utf8_lossy(&out.stdout);
    let lib = artifacts::library().canonicalize().unwrap();
    assert_eq!(
        preload.trim(),
        format!("{}:/nonexistent-other.so", lib.display())
    );
    let out = Command::new(&torsocks).arg("show").output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("tor.port = "), "{shown}");
}

#[test]
fn show_masks_secrets() {
    let out = Command::new(artifacts::torify())
        .args(["-u", "alice-visible", "-p", "hunter2-secret", "show"])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        !shown.contains("hunter2-secret") && !shown.contains("alice-visible"),
        "{shown}"
    );
    assert!(
        shown.contains("tor.password = ********  # flag -p"),
        "{shown}"
    );
}

#[test]
fn nonblocking_connect_through_socks_completes() {
    isolated(|_| {
        let socks = MockSocks::start(
            "127.0.0.1:0",
            Behaviour {
                after: After::Banner("banner".into()),
                delay: Duration::from_millis(100),
                ..Behaviour::default()
            },
        )
        .unwrap();
        // An event loop's way: wait, read, and on EAGAIN (a spurious wakeup, which Linux allows
        // and which Tor's SOCKS reply causes once) wait again.
        let script = "import socket,select\ns=socket.socket()\ns.setblocking(False)\ntry:\n    s.connect(('198.51.100.7',80))\nexcept BlockingIOError:\n    pass\nselect.select([],[s],[],10)\nprint('err', s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))\nprint('peer', s.getpeername())\ndata=b''\nwhile len(data) < 6:\n    select.select([s],[],[],10)\n    try:\n        chunk = s.recv(100)\n    except BlockingIOError:\n        continue\n    if not chunk: break\n    data += chunk\nprint('got', data.decode())";
        let mut cmd = torify(socks.port());
        cmd.args(["python3", "-c", script]);
        let run = probe::run(&mut cmd);
        assert!(run.stdout.contains("err 0"), "{run:?}");
        assert!(run.stdout.contains("got banner"), "{run:?}");
        assert!(run.stdout.contains("peer ('198.51.100.7', 80)"), "{run:?}");
    });
}

#[test]
fn mock_server_binary_answers() {
    isolated(|_| {
        let mut child = Command::new(artifacts::mock_socks())
            .args(["--banner", "hi"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        let n = out.read(&mut first).unwrap();
        let line = String::from_utf8_lossy(&first[..n]).into_owned();
        let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&[5, 1, 0, 5, 1, 0, 1, 198, 51, 100, 7, 0, 80])
            .unwrap();
        let mut reply = [0u8; 12];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply[..2], &[5, 0]);
        assert_eq!(&reply[2..4], &[5, 0]);
        let mut hi = String::new();
        s.read_to_string(&mut hi).unwrap();
        assert_eq!(hi, "hi");
        child.kill().unwrap();
        child.wait().unwrap();
    });
}

#[test]
fn log_file_timestamps_and_debug_level() {
    isolated(|_| {
        let socks = mock();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("torify.log");
        let mut cmd = torify(socks.port());
        cmd.arg("-d")
            .env("TORSOCKS_LOG_FILE_PATH", &log)
            .env("TORSOCKS_LOG_TIME", "1")
            .arg(artifacts::probe("probe"))
            .args(["tcp", "198.51.100.7", "80", "x"]);
        let run = probe::run(&mut cmd);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.stderr, "", "with a log file nothing goes to stderr");
        let text = std::fs::read_to_string(&log).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("through Tor"))
            .unwrap_or_else(|| panic!("{text}"));
        // 2026-11-21T19:29:00Z torify[PID]: debug: connect(3, 198.51.100.7:80): through Tor
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert_eq!(stamp.len(), 20, "{line}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{line}"
        );
        assert!(
            rest.starts_with("torify[") && rest.contains("debug: connect("),
            "{line}"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
            0o600
        );
    });
}

/// The leak check itself: without torify, a UDP datagram to the remote host is seen leaving.
#[test]
fn control_without_torify_the_capture_sees_udp() {
    isolated(|_| {
        let cap = Capture::start(&leak_filter(9));
        let run = probe::run(Command::new(artifacts::probe("probe")).args([
            "udp-sendto",
            "198.51.100.7",
            "53",
        ]));
        assert_eq!(run.errno("sendto"), "0", "{run:?}");
        std::thread::sleep(Duration::from_millis(200));
        let packets = cap.stop();
        assert!(
            packets
                .iter()
                .any(|p| p.contains("198.51.100.1.") && p.contains("> 198.51.100.7.53:")),
            "the capture did not see the datagram, so it could not see a leak either: {packets:#?}"
        );
    });
}

/// A TCP echo server that counts its connections, until dropped.
struct Echo {
    port: u16,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    fn start(addr: &str) -> Echo {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                c.fetch_add(1, Ordering::Relaxed);
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 256];
                if let Ok(n) = conn.read(&mut buf) {
                    let _ = conn.write_all(&buf[..n]);
                }
            }
        });
        Echo {
            port,
            count,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// allow.direct: a LAN address goes through Tor unless listed; when listed, TCP reaches it
/// directly, the SOCKS server sees nothing, and the process says so once.
#[test]
fn direct_networks_bypass_tor_only_when_listed() {
    isolated(|_| {
        // A "LAN host" inside the test's namespace.
        torify_tests::netns::sh("ip addr add 192.168.77.1/32 dev lo");
        let lan = Echo::start("192.168.77.1:0");
        let port = lan.port.to_string();

        // (a) Not listed: through the SOCKS server, like any destination.
        let socks = mock();
        let run = probe(socks.port(), &["tcp", "192.168.77.1", &port, "via-tor"]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        let seen = socks.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].host.as_str(), seen[0].port),
            ("192.168.77.1", lan.port)
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            lan.connections(),
            0,
            "an unlisted LAN address was reached directly"
        );
        assert!(!run.stderr.contains("directly"), "{}", run.stderr);

        // (b) Listed: two connects in one process reach the listener, the SOCKS server sees
        // nothing, nothing leaves the namespace, and there is exactly one warning.
        let socks = mock();
        let cap = Capture::start(&leak_filter(socks.port()));
        let mut cmd = torify(socks.port());
        cmd.env("TORIFY_DIRECT", "192.168.77.0/24")
            .arg(artifacts::probe("probe"))
            .args(["tcp-twice", "192.168.77.1", &port, "direct"]);
        let run = probe::run(&mut cmd);
        std::thread::sleep(Duration::from_millis(200));
        let packets = cap.stop();
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.value("reply"), Some("direct"), "{run:?}");
        assert_eq!(
            run.value("peer"),
            Some(format!("192.168.77.1:{port}").as_str())
        );
        assert_eq!(
            run.stdout.matches("step=connect ret=0").count(),
            2,
            "{run:?}"
        );
        assert_eq!(lan.connections(), 2, "{run:?}");
        assert!(socks.seen().is_empty(), "{:?}", socks.seen());
        let warning = format!(
            "warning: connecting to 192.168.77.1:{port} directly, not through Tor (allow.direct)"
        );
        let lines: Vec<&str> = run.stderr.lines().collect();
        if probe::strict_run() {
            // The library says it, and the cage (which carries the flow) says it once too.
            assert_eq!(lines.len(), 2, "{}", run.stderr);
            assert!(
                lines[1].contains("the cage connects to 192.168.77.1"),
                "{}",
                lines[1]
            );
        } else {
            assert_eq!(lines.len(), 1, "{}", run.stderr);
        }
        assert!(
            lines[0].starts_with("torify[") && lines[0].ends_with(&warning),
            "{}",
            lines[0]
        );
        assert!(!packets.is_empty(), "the capture saw no direct connection");
        assert!(
            packets.iter().all(|p| p.contains("192.168.77.1.")),
            "packets other than the direct LAN connection: {packets:#?}"
        );

        // At debug level the second one is traced, not warned again.
        let mut cmd = torify(socks.port());
        cmd.arg("-d")
            .env("TORIFY_DIRECT", "192.168.77.0/24")
            .arg(artifacts::probe("probe"))
            .args(["tcp-twice", "192.168.77.1", &port, "direct"]);
        let run = probe::run(&mut cmd);
        assert_eq!(run.stderr.matches("warning: connecting to").count(), 1);
        assert!(
            run.stderr
                .contains("directly, not through Tor (allow.direct)\n"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("debug: connect(")
                && run.stderr.contains("): directly, not through Tor"),
            "{}",
            run.stderr
        );

        // UDP to a listed network stays refused.
        let mut cmd = torify(socks.port());
        cmd.env("TORIFY_DIRECT", "192.168.77.0/24")
            .arg(artifacts::probe("probe"))
            .args(["udp-sendto", "192.168.77.1", "53"]);
        assert_eq!(probe::run(&mut cmd).errno("socket"), "EPERM");
    });
}

/// A public network in allow.direct stops the launcher with one line, and makes the library
/// on its own refuse everything.
#[test]
fn a_public_direct_network_stops_everything() {
    let mut cmd = torify(9);
    cmd.env("TORIFY_DIRECT", "192.168.77.0/24,8.8.8.0/24")
        .arg("true");
    let run = probe::run(&mut cmd);
    assert_eq!(run.code, 125, "{run:?}");
    assert_eq!(
        run.stderr,
        "torify: environment variable TORIFY_DIRECT: TORIFY_DIRECT \"8.8.8.0/24\" is public address space, which must go through Tor; remove it; only private networks may bypass Tor (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, 100.64.0.0/10, fc00::/7, fe80::/10)\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("direct.toml");
    std::fs::write(&bad, "[allow]\ndirect = [\"0.0.0.0/0\"]\n").unwrap();
    library_alone_refuses_everything(
        ("TORIFY_CONF_FILE", &bad),
        "192.168.77.1",
        ":2:11: allow.direct \"0.0.0.0/0\" is every address",
    );
}

/// User-space instructions of `rounds` rounds of bench/probe.c's `calls` mode (eight hooked
/// calls on a file and a pipe), counted by callgrind, with `preload` or without a library.
fn callgrind_instructions(probe: &Path, preload: Option<&Path>, rounds: u32) -> u64 {
    let out = probe.with_extension(format!("callgrind.{rounds}"));
    let mut cmd = Command::new("valgrind");
    if let Some(lib) = preload {
        // valgrind's tool is a static program; torify would rightly refuse to start it.
        cmd.env("LD_PRELOAD", lib)
            .env("TORIFY_ALLOW_UNPROXIED_EXEC", "1");
    }
    let run = probe::run(
        cmd.arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(probe)
            .args(["calls", &rounds.to_string()]),
    );
    assert_eq!(run.code, 0, "valgrind (from tests/install-deps): {run:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no summary in {}", out.display()))
}

/// A program that never networks pays next to nothing for the library: each hooked read,
/// write, fcntl, dup and close on a file or pipe costs at most 25 instructions more than libc
/// alone (one predictable check, then libc; it was ~114 before that fast path, torsocks ~49).
#[test]
fn hooked_calls_on_files_cost_a_few_instructions() {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("bench-probe");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/probe.c");
        let gcc = probe::run(
            Command::new("gcc")
                .args(["-O2", "-o"])
                .arg(&probe)
                .arg(&source),
        );
        assert_eq!(gcc.code, 0, "{gcc:?}");
        let per_call = |preload: Option<&Path>| {
            let short = callgrind_instructions(&probe, preload, 1000);
            let long = callgrind_instructions(&probe, preload, 11_000);
            (long - short) as f64 / 10_000.0 / 8.0
        };
        let bare = per_call(None);
        let library = artifacts::library();
        let torify = per_call(Some(&library));
        assert!(
            torify - bare <= 25.0,
            "instructions per hooked call: {torify:.1} under libtorify, {bare:.1} without"
        );
    });
}
