//! What the preload library cannot enter, in default mode: programs it cannot be loaded into
//! (static, Go static or dynamic, musl) run in the kernel cage when the launcher meets them and
//! the machine gives one, and are refused otherwise (exit 126), and by every exec of a
//! torified process (EPERM), with one line; what it cannot see inside a program it did enter
//! (liburing's own io_uring calls, an inline `syscall`) gets the library's answers from the
//! kernel filter. Controls run each without torify and see it leave.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::process::Command;

use torify_tests::artifacts;
use torify_tests::builds::programs;
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, captured, torify};

#[test]
fn the_go_probe_is_really_dynamic() {
    let go = programs().iter().find(|p| p.name == "go-dynamic").unwrap();
    let out = Command::new("readelf")
        .arg("-l")
        .arg(&go.path)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Requesting program interpreter"),
        "cgo should have made a dynamic Go binary"
    );
}

#[test]
fn programs_the_library_cannot_enter_run_caged_or_not_at_all() {
    isolated(|_| {
        for p in programs() {
            let path = p.path.to_str().unwrap();
            // Control: on its own it reaches the remote host directly.
            let (run, leaks) = captured(9, Command::new(&p.path).args(["198.51.100.7", "80"]));
            assert!(
                leaks.iter().any(|l| l.contains("198.51.100.7.80")),
                "{}: control saw nothing: {leaks:#?}\n{run:?}",
                p.name
            );

            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            // Where the kernel cage can be had, the launcher runs it there, says so, and its
            // connection goes through Tor.
            let (run, leaks) = captured(
                socks.port(),
                torify(socks.port()).args([path, "198.51.100.7", "80", "in-the-cage"]),
            );
            assert!(
                run.stdout.contains("reply=in-the-cage"),
                "{}: {run:?}",
                p.name
            );
            assert!(
                run.stderr.contains("running it in the kernel cage") && run.stderr.contains(p.why),
                "{}: {}",
                p.name,
                run.stderr
            );
            assert_eq!(
                socks.connects(),
                vec![("198.51.100.7".to_owned(), 80)],
                "{}",
                p.name
            );
            assert!(leaks.is_empty(), "{}: {leaks:#?}", p.name);

            // Where it cannot (no TUN device here), the launcher refuses it.
            let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
            let mut no_tun = probe::torify_with_tun(socks.port(), false);
            no_tun.args([path, "198.51.100.7", "80"]);
            let (run, leaks) = captured(socks.port(), &mut no_tun);
            assert_eq!(run.code, 126, "{}: {run:?}", p.name);
            for part in ["refused to run", p.why, "--strict", "allow.unproxied_exec"] {
                assert!(
                    run.stderr.contains(part),
                    "{}: no {part:?} in {}",
                    p.name,
                    run.stderr
                );
            }
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
            assert!(leaks.is_empty(), "{}: {leaks:#?}", p.name);

            // A torified shell's exec of it fails with EPERM.
            let script = format!("{path} 198.51.100.7 80; echo sh-exit=$?");
            let (run, leaks) = captured(
                socks.port(),
                torify(socks.port()).args(["sh", "-c", &script]),
            );
            assert!(run.stdout.contains("sh-exit=126"), "{}: {run:?}", p.name);
            assert!(
                !run.stdout.contains("connect"),
                "{}: it ran: {run:?}",
                p.name
            );
            assert!(
                run.stderr.contains("refused to run") && run.stderr.contains(p.why),
                "{}: {}",
                p.name,
                run.stderr
            );
            assert!(leaks.is_empty(), "{}: {leaks:#?}", p.name);
            assert!(socks.seen().is_empty());

            // Knowingly allowed, it runs, and the launcher says it runs without Tor.
            let run = probe::run(
                torify(socks.port())
                    .env("TORIFY_ALLOW_UNPROXIED_EXEC", "1")
                    .args([path, "127.0.0.1", "9"]),
            );
            assert!(run.stdout.contains("connect"), "{}: {run:?}", p.name);
            assert!(run.stderr.contains("runs WITHOUT Tor"), "{}", run.stderr);
        }
    });
}

#[test]
fn the_kernel_filter_refuses_what_the_library_cannot_see() {
    let uring = artifacts::probe("uring");
    isolated(|_| {
        // Controls: without torify, liburing works and an inline UDP socket sends.
        let run = probe::run(Command::new(&uring).arg("io-uring"));
        assert!(run.stdout.contains("io_uring_queue_init=0"), "{run:?}");
        let (run, leaks) = captured(
            9,
            Command::new(&uring).args(["raw-udp", "198.51.100.7", "53"]),
        );
        assert!(
            leaks.iter().any(|l| l.contains("198.51.100.7.53")),
            "{leaks:#?}\n{run:?}"
        );

        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        let run = probe::run(torify(socks.port()).arg(&uring).arg("io-uring"));
        assert!(
            run.stdout.contains("io_uring_queue_init=-1 errno=ENOSYS"),
            "{run:?}"
        );
        let (run, leaks) = captured(
            socks.port(),
            torify(socks.port())
                .arg(&uring)
                .args(["raw-udp", "198.51.100.7", "53"]),
        );
        assert!(run.stdout.contains("socket=-1 errno=EPERM"), "{run:?}");
        assert!(leaks.is_empty(), "{leaks:#?}");
        let run = probe::run(torify(socks.port()).arg(&uring).arg("raw-tcp"));
        assert!(run.stdout.contains("errno=0"), "TCP stays allowed: {run:?}");
        // allow.outbound_localhost = 2 lets UDP sockets be made (for loopback).
        let run = probe::run(
            torify(socks.port())
                .env("TORIFY_ALLOW_OUTBOUND_LOCALHOST", "2")
                .arg(&uring)
                .args(["raw-udp", "127.0.0.1", "9"]),
        );
        assert!(run.stdout.contains("errno=0"), "{run:?}");
    });
}
