//! The kernel cage (`torify --strict`): what no preload library can enter is carried through
//! Tor, not merely refused — a static, a musl and Go programs (static and cgo), liburing's
//! io_uring connect, an inline `syscall` connect, and a connect found by dlsym in libc all
//! reach the mock SOCKS server; names the programs resolve themselves go to it by name; UDP
//! and pings end at the cage with an ICMP error; a stream across the TUN device keeps every
//! byte, the reply after a half-close and a refusal, 64 flows at once to one destination each
//! reach their own, and the resolver answers over TCP too; nothing leaves the test's
//! namespace but the launcher's own conversation with the SOCKS port. As an unprivileged user
//! too, with nothing left behind. (The leak battery of default mode runs
//! again in the cage: run-all sets TORIFY_TEST_STRICT=1 for a second pass of leaks, escape,
//! preload, dns, launcher and e2e.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::process::Command;
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::builds::{programs, static_stream};
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run, captured, torify};

fn mock() -> MockSocks {
    MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap()
}

/// `torify --strict` against the mock.
fn strict(socks: &MockSocks) -> Command {
    let mut cmd = torify(socks.port());
    if !probe::strict_run() {
        cmd.arg("--strict");
    }
    cmd
}

/// No process whose command line holds `marker` is alive (given a moment to die).
fn nothing_left(marker: &str) {
    std::thread::sleep(Duration::from_millis(300));
    let left = Command::new("pgrep").args(["-f", marker]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "left behind: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

fn has(run: &Run, line: &str) {
    assert!(run.stdout.contains(line), "no {line:?} in {run:?}");
}

#[test]
fn every_tcp_vector_is_carried_through_tor() {
    let uring = artifacts::probe("uring");
    let escape = artifacts::probe("escape");
    let probe = artifacts::probe("probe");
    isolated(|_| {
        let mut rows: Vec<(String, Vec<String>)> = vec![
            (probe.display().to_string(), vec!["tcp".into()]),
            (uring.display().to_string(), vec!["uring-connect".into()]),
            (uring.display().to_string(), vec!["raw-connect".into()]),
            (escape.display().to_string(), vec!["dlsym-libc".into()]),
        ];
        for p in programs() {
            rows.push((p.path.display().to_string(), vec![]));
        }
        for (program, mode) in rows {
            let socks = mock();
            let mut cmd = strict(&socks);
            cmd.arg(&program)
                .args(&mode)
                .args(["198.51.100.7", "80", "through-the-cage"]);
            let (run, leaks) = captured(socks.port(), &mut cmd);
            has(&run, "reply=through-the-cage");
            assert_eq!(
                socks.connects(),
                vec![("198.51.100.7".to_owned(), 80)],
                "{program} {mode:?}: {run:?}"
            );
            assert!(leaks.is_empty(), "{program} {mode:?} leaked: {leaks:#?}");
        }
    });
}

#[test]
fn streams_across_the_tun_device_keep_bytes_replies_refusals_and_dns_over_tcp() {
    let stream = static_stream();
    isolated(|_| {
        for host in ["198.51.100.7", "2001:db8::7"] {
            // Both directions at once, every byte checked, and more than any buffer holds.
            let socks = mock();
            let run = probe::run(strict(&socks).arg(stream).args(["bulk", host, "80", "24"]));
            has(&run, "bulk=ok bytes=25165824");
            // The reply to what a program sent before shutdown(SHUT_WR) still arrives: the
            // FIN is not passed to Tor, which would end the stream both ways (no half-close
            // in Tor), so the far end never sees it and the stream stays open.
            let run = probe::run(strict(&socks).arg(stream).args(["halfclose", host, "80"]));
            has(&run, "halfclose=half\neof=0");
        }
        // Many flows to one destination at once, each with its own bytes: every SYN reaches
        // the flow it opened.
        let socks = mock();
        let run = probe::run(strict(&socks).arg(stream).args([
            "parallel",
            "198.51.100.7",
            "80",
            "64",
            "1",
        ]));
        has(&run, "parallel=64/64 ok");
        assert_eq!(socks.connects().len(), 64, "{run:?}");
        // The cage's resolver over TCP too (RFC 1035 4.2.2), with a virtual address.
        let socks = mock();
        let run = probe::run(strict(&socks).arg(stream).args([
            "dnstcp",
            "198.18.0.53",
            "53",
            "web.test",
        ]));
        has(&run, "dnstcp=198.19.");
        assert!(socks.connects().is_empty(), "{:?}", socks.seen());
        // Tor refusing the stream (SOCKS reply 5, connection refused) fails the program's
        // connect() as a closed port would, with a line saying why.
        let refusing = MockSocks::start(
            "127.0.0.1:0",
            Behaviour {
                reply: 5,
                ..Behaviour::default()
            },
        )
        .unwrap();
        let run = probe::run(
            strict(&refusing)
                .arg(stream)
                .args(["connect", "198.51.100.7", "81"]),
        );
        has(&run, "connect=refused");
        assert!(
            run.stderr.contains("from the cage through Tor failed"),
            "{run:?}"
        );
    });
}

#[test]
fn programs_with_their_own_resolver_reach_names_by_name() {
    isolated(|_| {
        for p in programs() {
            let socks = mock();
            let (run, leaks) = captured(
                socks.port(),
                strict(&socks)
                    .arg(&p.path)
                    .args(["web.test", "80", "by-name"]),
            );
            has(&run, "reply=by-name");
            if p.name.ends_with("-c") {
                // The C probes print the address: a virtual one of the cage's resolver.
                has(&run, "resolved=198.19.");
            }
            assert_eq!(
                socks.connects(),
                vec![("web.test".to_owned(), 80)],
                "{}: the name did not go to Tor: {run:?}",
                p.name
            );
            // No RESOLVE: the exit resolves the name on the way.
            assert!(
                socks.seen().iter().all(|s| s.command == 1),
                "{:?}",
                socks.seen()
            );
            assert!(leaks.is_empty(), "{}: {leaks:#?}", p.name);
        }
        // A dynamic program asks through the library, by RESOLVE with dns.mode = resolve, as
        // outside the cage.
        let socks = MockSocks::start(
            "127.0.0.1:0",
            Behaviour {
                resolve: vec![("web.test".into(), "198.51.100.7".parse().unwrap())],
                ..Behaviour::default()
            },
        )
        .unwrap();
        let run = probe::run(
            strict(&socks)
                .args(["--dns", "resolve"])
                .arg(artifacts::probe("dns"))
                .args(["gai", "web.test", "80", "inet"]),
        );
        assert!(run.stdout.contains("198.51.100.7"), "{run:?}");
        // With dns.mode = exit (the default) it gets a stand-in of the library's pool, and
        // connecting sends the name, as outside the cage.
        let run = probe::run(
            strict(&socks)
                .arg(artifacts::probe("dns"))
                .args(["connect", "web.test", "80"]),
        );
        assert!(
            run.stdout.contains("addr=127.192.0.1 port=80") && run.stdout.contains("connect=0"),
            "{run:?}"
        );
        assert_eq!(
            socks.seen().last().map(|s| s.host.as_str()),
            Some("web.test")
        );
    });
}

#[test]
fn datagrams_end_at_the_cage_with_a_line() {
    let uring = artifacts::probe("uring");
    isolated(|_| {
        let socks = mock();
        let (run, leaks) = captured(
            socks.port(),
            strict(&socks)
                .arg(&uring)
                .args(["raw-udp", "198.51.100.7", "53"]),
        );
        // The raw socket exists in the cage; its datagram goes nowhere.
        has(&run, "errno=0");
        assert!(
            run.stderr
                .contains("refused a datagram to 198.51.100.7:53 from the cage"),
            "{}",
            run.stderr
        );
        assert!(leaks.is_empty(), "{leaks:#?}");
        assert!(socks.seen().is_empty());
    });
}

#[test]
fn isolation_modes_hold_for_flows_through_the_tun_device() {
    let stat = programs().iter().find(|p| p.name == "static-c").unwrap();
    isolated(|_| {
        for (mode, distinct) in [("connection", 3), ("session", 1), ("destination", 2)] {
            let socks = mock();
            let script = format!(
                "{p} 198.51.100.7 80 a; {p} 198.51.100.7 80 b; {p} 198.51.100.8 80 c",
                p = stat.path.display()
            );
            let run = probe::run(
                strict(&socks)
                    .env("TORIFY_ISOLATION", mode)
                    .args(["sh", "-c", &script]),
            );
            let seen = socks.seen();
            assert_eq!(socks.connects().len(), 3, "{mode}: {run:?}");
            let mut creds: Vec<Option<(String, String)>> =
                seen.iter().map(|s| s.auth.clone()).collect();
            assert!(creds.iter().all(Option::is_some), "{mode}: {seen:?}");
            creds.sort();
            creds.dedup();
            assert_eq!(creds.len(), distinct, "{mode}: {seen:?}");
        }
        // None: no credentials at all.
        let socks = mock();
        let run = probe::run(
            strict(&socks)
                .arg(&stat.path)
                .args(["198.51.100.7", "80", "x"]),
        );
        has(&run, "reply=x");
        assert_eq!(socks.seen()[0].auth, None);
    });
}

#[test]
fn an_unprivileged_user_gets_the_cage_with_its_own_uid_and_nothing_outlives_it() {
    // A user of the test's own, and (Debian makes /dev/net/tun 0666, some machines 0600) a
    // world-usable TUN device node bound over /dev/net/tun in a mount namespace of the test.
    let user = "torify-cage-test";
    let _ = Command::new("useradd")
        .args(["--system", "--no-create-home", "--shell", "/bin/sh", user])
        .status();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let node = dir.path().join("tun");
    assert!(
        Command::new("mknod")
            .arg(&node)
            .args(["c", "10", "200"])
            .status()
            .unwrap()
            .success()
    );
    std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let stat = programs().iter().find(|p| p.name == "static-c").unwrap();
    // The probe must be readable by the user: copy it next to the node.
    let prog = dir.path().join("static-c");
    std::fs::copy(&stat.path, &prog).unwrap();
    let marker = format!("torify-teardown-{}", std::process::id());
    isolated(|_| {
        let socks = mock();
        let inner = format!(
            "{t} --backend tor --strict -a 127.0.0.1 -P {port} sh -c 'id -u; {p} 198.51.100.7 80 unprivileged; (exec -a {marker} sleep 300) & echo started'",
            t = artifacts::torify().display(),
            port = socks.port(),
            p = prog.display(),
        );
        let run = probe::run(
            Command::new("unshare")
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
                .args(["--mount", "sh", "-c"])
                .arg(format!(
                    "mount --bind {node} /dev/net/tun && exec su {user} -s /bin/sh -c \"$0\"",
                    node = node.display()
                ))
                .arg(&inner),
        );
        let uid = Command::new("id").args(["-u", user]).output().unwrap();
        let uid = String::from_utf8_lossy(&uid.stdout).trim().to_owned();
        assert!(
            run.stdout.lines().any(|l| l == uid),
            "the uid in the cage is not the user's: {run:?}"
        );
        has(&run, "reply=unprivileged");
        has(&run, "started");
        assert_eq!(socks.connects().len(), 1, "{run:?}");
        // The background process died with the cage.
        nothing_left(&marker);
    });
}

#[test]
fn teardown_leaves_no_process_mount_interface_or_file() {
    isolated(|_| {
        let socks = mock();
        let marker = format!("torify-strict-{}", std::process::id());
        let before_links = Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout;
        let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        // A runtime directory of this test's own: the other tests' cages run meanwhile.
        let runtime = tempfile::tempdir().unwrap();
        let run = probe::run(strict(&socks).env("XDG_RUNTIME_DIR", runtime.path()).args([
            "sh",
            "-c",
            &format!(
                "(exec -a {marker} sleep 300) & ip -o link; grep -o '{}/torify-cage-[0-9a-f]*/resolv.conf /etc/resolv.conf' /proc/self/mountinfo; echo done",
                runtime.path().display()
            ),
        ]));
        has(&run, "done");
        assert!(run.stdout.contains("torify0"), "{run:?}");
        // The cage's files were in the runtime directory checked below.
        assert!(
            run.stdout
                .contains(&format!("{}/torify-cage-", runtime.path().display())),
            "{run:?}"
        );
        nothing_left(&marker);
        assert_eq!(
            Command::new("ip")
                .args(["-o", "link"])
                .output()
                .unwrap()
                .stdout,
            before_links,
            "an interface appeared outside the cage"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
            mounts_before,
            "a mount appeared outside the cage"
        );
        let dirs: Vec<_> = std::fs::read_dir(runtime.path())
            .unwrap()
            .flatten()
            .collect();
        assert!(dirs.is_empty(), "left behind: {dirs:?}");
    });
}

#[test]
fn what_the_cage_hides_and_what_it_cannot_give() {
    isolated(|_| {
        let socks = mock();
        // The cage's resolv.conf, its only interfaces, and the system bus out of reach.
        let run = probe::run(strict(&socks).args([
            "sh",
            "-c",
            "cat /etc/resolv.conf; cat /proc/net/dev | tail -n +3 | cut -d: -f1; [ -S /run/dbus/system_bus_socket ] && echo bus || echo no-bus",
        ]));
        has(&run, "nameserver 198.18.0.53");
        has(&run, "no-bus");
        let names: Vec<&str> = run
            .stdout
            .lines()
            .map(str::trim)
            .filter(|l| {
                *l == "lo" || *l == "torify0" || l.starts_with("v0") || l.starts_with("eth")
            })
            .collect();
        assert_eq!(names, ["lo", "torify0"], "{run:?}");
        // No TUN device: one line, exit 125, nothing run.
        let run = probe::run(
            probe::torify_with_tun(socks.port(), false).args(["--strict", "echo", "ran"]),
        );
        assert_eq!(run.code, 125, "{run:?}");
        assert!(!run.stdout.contains("ran"), "{run:?}");
        assert!(
            run.stderr
                .contains("cannot run in the kernel cage (--strict)"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    });
}

#[test]
fn check_reports_whether_the_cage_can_be_built() {
    isolated(|_| {
        let socks = mock();
        let check = |strict: &str, unbind: bool| {
            probe::run(
                probe::torify_with_tun(socks.port(), !unbind)
                    .env("TORIFY_STRICT", strict)
                    .arg("check"),
            )
        };
        let run = check("0", false);
        has(
            &run,
            "ok The kernel cage (--strict) can be built here: namespaces, TUN device and routes came up and went down.",
        );
        // Without a TUN device: a note, or a failed check when the settings ask for the cage.
        let run = check("0", true);
        has(
            &run,
            "   The kernel cage (--strict) cannot be built here: /dev/net/tun is not the TUN device.",
        );
        let run = check("1", true);
        has(
            &run,
            "NO The kernel cage cannot be built here, and the settings ask for it (tor.strict): /dev/net/tun is not the TUN device.",
        );
        assert_ne!(run.code, 0, "{run:?}");
    });
}
