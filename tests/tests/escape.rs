//! The ways around the library that a dynamically linked program can find in default mode (no
//! kernel cage), each run under torify in a network namespace of its own with tcpdump watching:
//! a vector passes when nothing but the SOCKS conversation left and the program got the answer
//! the policy promises. Controls run the same probes without torify and prove the capture
//! sees what each vector would send.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{Run, captured, in_sealed_etc, torify};

fn mock() -> MockSocks {
    MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap()
}

/// The escape probe under torify (in a sealed /etc), with extra environment.
fn escape(socks: &MockSocks, env: &[(&str, &str)], args: &[&str]) -> (Run, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = in_sealed_etc(dir.path(), Some(socks.port()), &artifacts::probe("escape"));
    cmd.args(args).envs(env.iter().copied());
    captured(socks.port(), &mut cmd)
}

/// The same probe without torify: what the vector does when nothing stops it.
fn uncaught(args: &[&str]) -> (Run, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = in_sealed_etc(dir.path(), None, &artifacts::probe("escape"));
    cmd.args(args);
    captured(9, &mut cmd)
}

fn has(run: &Run, lines: &[&str]) {
    for line in lines {
        assert!(
            run.stdout.contains(line),
            "no {line:?} in\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// Rows of (probe arguments, lines that must appear, whether the mock must see one CONNECT to
/// 198.51.100.7:80): each run under torify, and none may leak.
fn battery(rows: &[(&[&str], &[&str], bool)]) {
    isolated(|_| {
        for (args, want, through_mock) in rows {
            let socks = mock();
            let (run, leaks) = escape(&socks, &[], args);
            has(&run, want);
            if *through_mock {
                assert_eq!(
                    socks.connects(),
                    vec![("198.51.100.7".to_owned(), 80)],
                    "{args:?}: {run:?}"
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
fn a_descriptor_that_cannot_be_classified_is_refused_not_passed() {
    battery(&[
        (
            &["getsockopt-eperm", "198.51.100.7", "80"],
            &["step=seccomp ret=0", "step=connect ret=-1 errno=EPERM"],
            false,
        ),
        (
            &["own-getsockopt", "198.51.100.7", "80", "own-getsockopt"],
            &["step=connect ret=0", "reply=own-getsockopt"],
            true,
        ),
    ]);
}

#[test]
fn glibc_aliases_and_private_names_are_hooked_too() {
    battery(&[
        (
            &["alias", "198.51.100.7", "80", "via-__connect"],
            &["reply=via-__connect"],
            true,
        ),
        (
            &["private", "198.51.100.7", "80"],
            &[
                "found=1,1",
                "step=__socket-udp ret=-1 errno=EPERM",
                "step=__socket-tcp ret=",
                "step=__sendmmsg-fastopen ret=-1 errno=OTHER",
            ],
            false,
        ),
    ]);
}

#[test]
fn dlsym_gives_the_hooks_and_keeps_rtld_next_relative_to_the_caller() {
    battery(&[
        (
            &["dlsym-libc", "198.51.100.7", "80", "via-dlsym"],
            &["reply=via-dlsym"],
            true,
        ),
        (
            &["dlvsym", "198.51.100.7", "80", "via-dlvsym"],
            &["reply=via-dlvsym"],
            true,
        ),
        (
            &["withheld"],
            &[
                "__res_context_send=null",
                "_nss_dns_gethostbyname4_r=null",
                "__libc_dlsym=null",
                "getpid=same",
            ],
            false,
        ),
    ]);
    // A library preloaded after libtorify that wraps functions with dlsym(RTLD_NEXT).
    isolated(|_| {
        let socks = mock();
        let chain = artifacts::probe("chain.so");
        let (run, leaks) = escape(
            &socks,
            &[("LD_PRELOAD", chain.to_str().unwrap())],
            &["chain", "198.51.100.7", "80", "via-chain"],
        );
        has(&run, &["next_getsockopt=libc", "reply=via-chain"]);
        assert_eq!(socks.connects().len(), 1, "{run:?}");
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

#[test]
fn sun_rpc_and_remote_login_helpers_send_nothing() {
    isolated(|_| {
        let (run, leaks) = uncaught(&["sunrpc", "198.51.100.7"]);
        assert!(
            leaks
                .iter()
                .any(|l| l.contains("198.51.100.7.37") || l.contains("198.51.100.7.111")),
            "control: without torify rtime/pmap_getport must send: {leaks:#?}\n{run:?}"
        );
    });
    battery(&[
        (
            &["sunrpc", "198.51.100.7"],
            &[
                "step=rtime ret=-1 errno=EPERM",
                "pmap_getport=0",
                "clnt_create=null",
                "callrpc=12",
                "getrpcport=0",
            ],
            false,
        ),
        (
            &["rlogin", "198.51.100.7"],
            &[
                "step=iruserok ret=-1 errno=EPERM",
                "step=iruserok_af ret=-1 errno=EPERM",
                "step=ruserok_af ret=-1 errno=EPERM",
            ],
            false,
        ),
    ]);
}

#[test]
fn gethostid_never_asks_dns_for_this_machine_s_name() {
    isolated(|_| {
        let (run, leaks) = uncaught(&["hostid"]);
        assert!(
            leaks.iter().any(|l| l.contains("198.51.100.7.53")),
            "control: glibc's gethostid looks the host name up in DNS: {leaks:#?}\n{run:?}"
        );
        let socks = mock();
        let (run, leaks) = escape(&socks, &[], &["hostid"]);
        has(&run, &["hostid=0"]);
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

/// A UDP socket of this (untorified) test process, connected to the remote host's port 53:
/// what a parent outside torify may leave open for its children.
fn connected_udp() -> UdpSocket {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("198.51.100.7:53").unwrap();
    s
}

/// Gives the child `fd` as descriptor 7, open across exec.
fn with_fd_7(cmd: &mut Command, fd: i32) {
    // SAFETY: dup2 and fcntl in the child between fork and exec are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec.
            let ok = if fd == 7 {
                libc::fcntl(7, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, 7) == 7
            };
            if !ok {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn an_inherited_socket_connected_around_tor_carries_nothing() {
    isolated(|_| {
        let udp = connected_udp();
        // Control: the same probe, no torify: every write goes out.
        let mut cmd = Command::new(artifacts::probe("escape"));
        cmd.args(["write-fd", "7"]);
        with_fd_7(&mut cmd, udp.as_raw_fd());
        let (run, leaks) = captured(9, &mut cmd);
        assert!(
            leaks.iter().any(|l| l.contains("198.51.100.7.53")),
            "control: {leaks:#?}\n{run:?}"
        );

        // The launcher closes it before the command starts, and says so.
        let socks = mock();
        let mut cmd = torify(socks.port());
        cmd.arg(artifacts::probe("escape")).args(["write-fd", "7"]);
        with_fd_7(&mut cmd, udp.as_raw_fd());
        let (run, leaks) = captured(socks.port(), &mut cmd);
        has(
            &run,
            &[
                "step=write ret=-1 errno=EBADF",
                "step=sendfile ret=-1 errno=EBADF",
            ],
        );
        assert!(
            run.stderr.contains("closed descriptor 7") && run.stderr.contains("198.51.100.7:53"),
            "{}",
            run.stderr
        );
        assert!(leaks.is_empty(), "{leaks:#?}");

        // The library alone (preloaded by hand, no launcher) refuses every send on it.
        let mut cmd = Command::new(artifacts::probe("escape"));
        cmd.env_clear()
            .env("LD_PRELOAD", artifacts::library())
            .env("TORSOCKS_TOR_PORT", socks.port().to_string())
            .args(["write-fd", "7"]);
        with_fd_7(&mut cmd, udp.as_raw_fd());
        let (run, leaks) = captured(socks.port(), &mut cmd);
        has(
            &run,
            &[
                "step=write ret=-1 errno=EPERM",
                "step=send ret=-1 errno=EPERM",
                "step=writev ret=-1 errno=EPERM",
                "step=pwritev2 ret=-1 errno=EPERM",
                "step=sendfile ret=-1 errno=EPERM",
                "step=splice ret=-1 errno=EPERM",
                "step=fdopen ret=-1 errno=EPERM",
                "step=sys-write ret=-1 errno=EPERM",
            ],
        );
        assert!(
            run.stderr
                .contains("refused sending on a socket torify did not open")
                && run.stderr.contains("198.51.100.7:53"),
            "{}",
            run.stderr
        );
        assert!(leaks.is_empty(), "{leaks:#?}");

        // The launcher's seal mark counts only in the process it names (the one it exec'd):
        // here it names another, and the library still looks and refuses.
        let mut cmd = Command::new(artifacts::probe("escape"));
        cmd.env_clear()
            .env("LD_PRELOAD", artifacts::library())
            .env("TORSOCKS_TOR_PORT", socks.port().to_string())
            .env("TORIFY_SEALED", std::process::id().to_string())
            .args(["write-fd", "7"]);
        with_fd_7(&mut cmd, udp.as_raw_fd());
        let (run, leaks) = captured(socks.port(), &mut cmd);
        has(&run, &["step=write ret=-1 errno=EPERM"]);
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

#[test]
fn a_socket_taken_from_another_process_is_judged() {
    isolated(|_| {
        let udp = connected_udp();
        let socks = mock();
        let pid = std::process::id().to_string();
        let fd = udp.as_raw_fd().to_string();
        let (run, leaks) = escape(&socks, &[], &["pidfd", &pid, &fd]);
        if torify_tests::probe::strict_run() {
            // In the cage's PID namespace no process outside it can be named at all.
            has(&run, &["step=pidfd_open ret=-1", "step=pidfd_getfd ret=-1"]);
        } else {
            has(
                &run,
                &[
                    "step=pidfd_open ret=",
                    "step=pidfd_getfd ret=-1 errno=EACCES",
                ],
            );
            assert!(run.stderr.contains("198.51.100.7:53"), "{}", run.stderr);
        }
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}

#[test]
fn a_pending_socks_reply_never_reaches_the_program_as_data() {
    battery(&[
        (
            &["fdopen", "198.51.100.7", "80", "through-stdio"],
            &[
                "step=connect ret=-1 errno=EINPROGRESS",
                "reply=through-stdio",
            ],
            true,
        ),
        (
            &["splice", "198.51.100.7", "80", "through-splice"],
            &["reply=through-splice"],
            true,
        ),
        (
            &["preadv2", "198.51.100.7", "80", "through-preadv2"],
            &["reply=through-preadv2"],
            true,
        ),
        (
            &["fclose-reuse", "198.51.100.7", "80"],
            &["same_number=1", "step=read ret=1 errno=0"],
            true,
        ),
    ]);
}

#[test]
fn non_blocking_connects_with_credentials_never_wait_for_the_greeting() {
    isolated(|_| {
        for tor_auth_reply in [false, true] {
            let socks = MockSocks::start(
                "127.0.0.1:0",
                Behaviour {
                    greeting_delay: Duration::from_secs(1),
                    tor_auth_reply,
                    ..Behaviour::default()
                },
            )
            .unwrap();
            let (run, leaks) = escape(
                &socks,
                &[("TORSOCKS_ISOLATE_PID", "1")],
                &["nb-many", "198.51.100.7", "80", "30"],
            );
            has(&run, &["inprogress=30 "]);
            let seconds: f64 = run
                .stdout
                .split("seconds=")
                .nth(1)
                .and_then(|s| s.trim().parse().ok())
                .unwrap();
            assert!(seconds < 1.0, "30 connects took {seconds} s: {run:?}");
            assert!(leaks.is_empty(), "{leaks:#?}");
            // The mock answers each greeting a second late, to sockets already closed: let
            // those resets pass before the next capture starts.
            std::thread::sleep(Duration::from_millis(1500));
        }
    });
}

#[test]
fn children_of_a_raw_clone_never_hang_on_the_library() {
    isolated(|_| {
        let socks = mock();
        let (run, _) = escape(&socks, &[], &["raw-clone", "198.51.100.7", "80", "1000"]);
        has(&run, &["children=1000 back=1000"]);
    });
}
