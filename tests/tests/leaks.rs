//! The leak battery: one probe per way a process could put a packet on the wire, each run under
//! torify in a network namespace of its own with tcpdump watching every interface. A vector
//! passes only when nothing but the conversation with the SOCKS port was seen (and the probe got
//! the answer the policy promises). Plus the correctness of real programs: non-blocking
//! sockets, EINTR, fds above 1024, dup, fork, and a stress run.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::capture::{Capture, leak_filter};
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run, torify};

fn leak(socks: &MockSocks, env: &[(&str, &str)], args: &[&str]) -> (Run, Vec<String>) {
    let cap = Capture::start(&leak_filter(socks.port()));
    let mut cmd = torify(socks.port());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg(artifacts::probe("leak")).args(args);
    let run = probe::run(&mut cmd);
    std::thread::sleep(Duration::from_millis(200));
    (run, cap.stop())
}

const UDP_TO_LOOPBACK: &[(&str, &str)] = &[("TORIFY_ALLOW_OUTBOUND_LOCALHOST", "2")];

/// Rows: probe arguments, extra environment, output lines that must appear.
type Row<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);

/// Runs every row in one namespace; none may leak, and each must print its lines.
fn battery(rows: &[Row<'_>]) {
    isolated(|_| {
        for (args, env, want) in rows {
            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            let (run, leaks) = leak(&socks, env, args);
            for line in *want {
                assert!(
                    run.stdout.contains(line),
                    "{args:?}: no {line:?} in\n{}\n{}",
                    run.stdout,
                    run.stderr
                );
            }
            assert!(
                leaks.is_empty(),
                "{args:?} leaked:\n{leaks:#?}\n{}",
                run.stderr
            );
        }
    });
}

#[test]
fn send_family_datagrams_are_refused() {
    battery(&[
        (
            &["udp-sendmsg", "198.51.100.7", "53"],
            UDP_TO_LOOPBACK,
            &["step=sendmsg ret=-1 errno=EPERM"],
        ),
        (
            &["udp-sendmmsg", "198.51.100.7", "53"],
            UDP_TO_LOOPBACK,
            &["step=sendmmsg ret=-1 errno=EPERM"],
        ),
        (
            &["udp-connect-send", "198.51.100.7", "53"],
            UDP_TO_LOOPBACK,
            &["step=connect ret=-1 errno=EPERM"],
        ),
        (
            &["udp-sendmsg", "2001:db8::7", "53"],
            UDP_TO_LOOPBACK,
            &["step=sendmsg ret=-1 errno=EPERM"],
        ),
        (
            &["udp-sendmsg", "::ffff:198.51.100.7", "53"],
            UDP_TO_LOOPBACK,
            &["step=sendmsg ret=-1 errno=EPERM"],
        ),
        (
            &["udp-sendmsg", "198.51.100.7", "53"],
            &[],
            &["step=socket ret=-1 errno=EPERM"],
        ),
        (&["sys-udp"], &[], &["step=socket ret=-1 errno=EPERM"]),
        (
            &["tcp-sendmmsg-fastopen", "198.51.100.7", "80"],
            &[],
            &["step=sendmmsg ret=-1 errno=EOPNOTSUPP"],
        ),
        (
            &["sys-sendto", "198.51.100.7", "53"],
            UDP_TO_LOOPBACK,
            &["step=sendto ret=-1 errno=EPERM"],
        ),
    ]);
}

#[test]
fn udp_to_loopback_is_allowed_at_level_2_only() {
    isolated(|_| {
        let canary = UdpSocket::bind("127.0.0.1:0").unwrap();
        canary
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let port = canary.local_addr().unwrap().port().to_string();
        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        let (run, _) = leak(
            &socks,
            UDP_TO_LOOPBACK,
            &["udp-sendmsg", "127.0.0.1", &port],
        );
        assert!(run.stdout.contains("step=sendmsg ret=4"), "{run:?}");
        let mut buf = [0u8; 8];
        if probe::strict_run() {
            // In the kernel cage loopback is the cage's own: the host's canary is out of reach.
            assert!(
                canary.recv(&mut buf).is_err(),
                "the cage reached the host's loopback"
            );
        } else {
            assert_eq!(canary.recv(&mut buf).unwrap(), 4);
        }
        let (run, _) = leak(
            &socks,
            &[("TORIFY_ALLOW_OUTBOUND_LOCALHOST", "1")],
            &["udp-sendmsg", "127.0.0.1", &port],
        );
        assert!(
            run.stdout.contains("step=socket ret=-1 errno=EPERM"),
            "{run:?}"
        );
        assert!(canary.recv(&mut buf).is_err(), "a refused datagram arrived");
    });
}

#[test]
fn fast_open_and_raw_syscalls_go_through_socks() {
    isolated(|_| {
        for args in [
            &["fastopen", "198.51.100.7", "80", "fast-open-data"][..],
            &["tfo-connect", "198.51.100.7", "80", "tfo-connect-data"],
            &["sys-connect", "198.51.100.7", "80", "syscall-data"],
        ] {
            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            let (run, leaks) = leak(&socks, &[], args);
            assert!(
                run.stdout.contains(&format!("reply={}", args[3])),
                "{args:?}: {run:?}"
            );
            assert!(
                run.stdout.contains("peer=198.51.100.7:80"),
                "{args:?}: {run:?}"
            );
            assert_eq!(
                socks.connects(),
                vec![("198.51.100.7".to_owned(), 80)],
                "{args:?}"
            );
            assert!(leaks.is_empty(), "{args:?} leaked: {leaks:#?}");
        }
    });
}

#[test]
fn other_syscalls_pass_through_with_all_six_arguments() {
    battery(&[
        (
            &["sys-passthrough"],
            &[],
            &[
                "getpid=same",
                "step=getrandom ret=16",
                "mmap=ok",
                "step=uname ret=0",
                "step=unknown ret=-1 errno=ENOSYS",
            ],
        ),
        (
            &["io-uring"],
            &[],
            &["step=io_uring_setup ret=-1 errno=ENOSYS"],
        ),
    ]);
}

#[test]
fn every_exec_path_starts_a_torified_child() {
    let modes = [
        "execve",
        "execve-empty",
        "execv",
        "execvp",
        "execvpe-empty",
        "execl",
        "execlp",
        "execle-empty",
        "execveat",
        "fexecve",
        "posix_spawn",
        "posix_spawn-empty",
        "posix_spawnp",
        "system",
        "popen",
    ];
    isolated(|_| {
        let probe = artifacts::probe("probe");
        for mode in modes {
            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            let (run, leaks) = leak(
                &socks,
                &[],
                &["exec", mode, probe.to_str().unwrap(), "198.51.100.7", "80"],
            );
            assert!(
                run.stdout.contains(&format!("reply=via-{mode}")),
                "{mode}: {run:?}"
            );
            assert_eq!(
                socks.connects().len(),
                1,
                "{mode}: the child did not go through SOCKS"
            );
            assert!(leaks.is_empty(), "{mode} leaked: {leaks:#?}");
        }
    });
}

#[test]
fn setuid_programs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let suid = dir.path().join("suid-true");
    std::fs::copy("/bin/true", &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(65534), Some(65534)).expect("chown needs root");
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    isolated(|_| {
        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        let (run, _) = leak(&socks, &[], &["suid", suid.to_str().unwrap()]);
        assert!(
            run.stdout.contains("step=execve ret=-1 errno=EPERM"),
            "{run:?}"
        );
        assert!(
            run.stderr.contains("it is setuid (to uid 65534)")
                && run.stderr.contains("allow.privileged_exec"),
            "{}",
            run.stderr
        );
        let (run, _) = leak(
            &socks,
            &[("TORIFY_ALLOW_PRIVILEGED_EXEC", "1")],
            &["suid", suid.to_str().unwrap()],
        );
        assert_eq!(run.code, 0, "with the setting the program runs: {run:?}");
    });
    // The launcher refuses it too.
    let out = Command::new(artifacts::torify())
        .arg(&suid)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
}

#[test]
fn descriptors_passing_between_processes() {
    battery(&[
        (&["pass-inet"], &[], &["step=sendmsg ret=-1 errno=EPERM"]),
        (&["pass-unix"], &[], &["step=sendmsg ret=1"]),
    ]);
    isolated(|_| {
        // A process outside torify hands over a socket connected around Tor: refused.
        let dir = tempfile::tempdir().unwrap();
        let canary = TcpListener::bind("127.0.0.1:0").unwrap();
        let canary_port = canary.local_addr().unwrap().port();
        for connected in [true, false] {
            let path = dir.path().join(format!("pass-{connected}"));
            let listener = UnixListener::bind(&path).unwrap();
            // Made before the capture starts: this connection is the test's, not the probe's.
            let payload = socket2_tcp(connected.then_some(canary_port));
            let sender = std::thread::spawn(move || {
                use std::os::fd::AsRawFd;
                let (conn, _) = listener.accept().unwrap();
                send_fd(conn.as_raw_fd(), payload);
            });
            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            let (run, leaks) = leak(&socks, &[], &["recv-rights", path.to_str().unwrap()]);
            sender.join().unwrap();
            if connected {
                assert!(
                    run.stdout.contains("step=recvmsg ret=-1 errno=EACCES"),
                    "{run:?}"
                );
                assert!(run.stderr.contains("not through Tor"), "{}", run.stderr);
            } else {
                // Unconnected: a connect on it would go through Tor; keeping it is harmless.
                assert!(run.stdout.contains("step=recvmsg ret=1"), "{run:?}");
            }
            assert!(leaks.is_empty(), "{leaks:#?}");
        }
        canary.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        if let Ok((mut s, _)) = canary.accept() {
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let _ = s.read_to_end(&mut got);
        }
        assert!(got.is_empty(), "the refused socket was used: {got:?}");
    });
}

/// A TCP socket made outside torify (this test process), connected to 127.0.0.1:`port` or not.
fn socket2_tcp(port: Option<u16>) -> i32 {
    use std::os::fd::IntoRawFd;
    match port {
        Some(p) => std::net::TcpStream::connect(("127.0.0.1", p))
            .unwrap()
            .into_raw_fd(),
        // SAFETY: socket(2) with no pointers.
        None => unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) },
    }
}

/// Sends `fd` over the unix socket `over` with SCM_RIGHTS.
fn send_fd(over: i32, fd: i32) {
    let mut byte = [b'x'];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = [0u8; 64];
    // SAFETY: building a one-fd SCM_RIGHTS message in local buffers.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::copy_nonoverlapping(std::ptr::from_ref(&fd).cast::<u8>(), libc::CMSG_DATA(c), 4);
        assert_eq!(libc::sendmsg(over, &msg, 0), 1);
    }
}

#[test]
fn listeners_need_allow_inbound_except_on_loopback() {
    battery(&[
        (
            &["listen", "0.0.0.0", "0"],
            &[],
            &[
                "step=bind ret=0",
                "step=listen ret=-1 errno=EPERM",
                "step=accept ret=-1 errno=EPERM",
            ],
        ),
        (
            &["listen", "::", "0"],
            &[],
            &["step=listen ret=-1 errno=EPERM"],
        ),
        (
            &["listen", "198.51.100.1", "0"],
            &[],
            &["step=listen ret=-1 errno=EPERM"],
        ),
        (
            &["listen", "127.0.0.1", "0"],
            &[],
            &[
                "step=listen ret=0",
                "step=accept ret=-1 errno=EAGAIN",
                "step=accept4 ret=-1 errno=EAGAIN",
            ],
        ),
        (
            &["listen", "0.0.0.0", "0"],
            &[("TORSOCKS_ALLOW_INBOUND", "1")],
            &["step=listen ret=0", "step=accept ret=-1 errno=EAGAIN"],
        ),
    ]);
}

#[test]
fn non_blocking_connect_has_einprogress_semantics() {
    battery(&[
        (
            &["nonblock", "198.51.100.7", "80", "nonblocking-data"],
            &[],
            &[
                "step=connect ret=-1 errno=EINPROGRESS",
                "poll=1",
                "so_error=0",
                "step=connect-again ret=-1 errno=EISCONN",
                "peer=198.51.100.7:80",
                "reply=nonblocking-data",
            ],
        ),
        (
            &["nonblock", "198.51.100.7", "80", "high-fd-data", "2000"],
            &[],
            &[
                "step=dup2 ret=2000",
                "step=connect ret=-1 errno=EINPROGRESS",
                "poll=1",
                "peer=198.51.100.7:80",
                "reply=high-fd-data",
            ],
        ),
        (
            &["nonblock", "198.51.100.7", "80", "isolated-nb"],
            &[("TORSOCKS_ISOLATE_PID", "1")],
            &["step=connect ret=-1 errno=EINPROGRESS", "reply=isolated-nb"],
        ),
    ]);
}

#[test]
fn a_failed_non_blocking_connect_fails_the_first_read() {
    isolated(|_| {
        let socks = MockSocks::start(
            "127.0.0.1:0",
            Behaviour {
                reply: 0x05,
                ..Behaviour::default()
            },
        )
        .unwrap();
        let (run, _) = leak(&socks, &[], &["nonblock", "198.51.100.7", "80", "x"]);
        assert!(
            run.stdout.contains("step=connect ret=-1 errno=EINPROGRESS"),
            "{run:?}"
        );
        assert!(run.stdout.contains("reply=FAILED(ECONNREFUSED)"), "{run:?}");
        assert!(
            run.stderr.contains("connection refused by the destination"),
            "{}",
            run.stderr
        );
    });
}

#[test]
fn a_signal_interrupts_a_blocking_connect_and_a_retry_works() {
    isolated(|_| {
        let socks = MockSocks::start(
            "127.0.0.1:0",
            Behaviour {
                delay: Duration::from_secs(1),
                ..Behaviour::default()
            },
        )
        .unwrap();
        let (run, leaks) = leak(&socks, &[], &["eintr", "198.51.100.7", "80"]);
        assert!(
            run.stdout.contains("step=connect ret=-1 errno=EINTR"),
            "{run:?}"
        );
        assert!(run.stdout.contains("step=connect-retry ret=0"), "{run:?}");
        assert!(run.stdout.contains("peer=198.51.100.7:80"), "{run:?}");
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

#[test]
fn dup_keeps_getpeername_right_and_closed_numbers_forget() {
    battery(&[(
        &["dup", "198.51.100.7", "80"],
        &[],
        &[
            "dup=198.51.100.7:80",
            "dup2=198.51.100.7:80",
            "dup3=198.51.100.7:80",
            "f_dupfd=198.51.100.7:80",
            "stale=ENOTCONN",
        ],
    )]);
}

#[test]
fn fork_in_the_middle_of_work() {
    battery(&[(
        &["fork", "198.51.100.7", "80"],
        &[],
        &["threads_ok=80 threads_failed=0 children_ok=8"],
    )]);
}

/// 64 threads x 1000 connects through the mock, every echo compared, no descriptor left open.
#[test]
fn stress_64_threads_by_1000_connects() {
    isolated(|_| {
        // 64000 connections from one address within a minute: widen the ephemeral range and
        // let TIME_WAIT ports be reused, as a busy client host would.
        std::fs::write("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535").unwrap();
        std::fs::write("/proc/sys/net/ipv4/tcp_tw_reuse", "1").unwrap();
        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        for (threads, iterations, mode) in [("64", "1000", "block"), ("32", "300", "nonblock")] {
            let mut cmd = torify(socks.port());
            cmd.arg(artifacts::probe("stress")).args([
                threads,
                iterations,
                "198.51.100.7",
                "80",
                mode,
            ]);
            let run = probe::run(&mut cmd);
            let total: usize =
                threads.parse::<usize>().unwrap() * iterations.parse::<usize>().unwrap();
            let line = run.stdout.trim();
            assert!(
                line.starts_with(&format!("ok={total} bad_data=0 bad_peer=0 failed=0 ")),
                "{mode}: {line}\n{}",
                run.stderr
            );
            let fds: Vec<&str> = line
                .split(' ')
                .filter(|f| f.starts_with("fds_"))
                .map(|f| f.split('=').nth(1).unwrap_or(""))
                .collect();
            assert_eq!(fds[0], fds[1], "{mode}: descriptors leaked: {line}");
        }
    });
}
