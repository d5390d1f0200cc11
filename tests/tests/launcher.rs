//! Regressions of the launcher and the settings that used to lose privacy silently: nested
//! torify and environment inside a torified shell, `auto` standing in for a named SocksPort,
//! refusals nobody saw, settings files that are devices, and a password left in
//! /proc/PID/cmdline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use torify_tests::artifacts;
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run, captured, torify};

fn mock() -> MockSocks {
    MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap()
}

/// Inside a torified shell on the outer mock, `inner` (a shell line) runs; the probe connects.
fn in_torified_shell(outer: &MockSocks, inner: &str) -> Run {
    probe::run(torify(outer.port()).args(["sh", "-c", inner]))
}

#[test]
fn nested_flags_and_environment_win_inside_a_torified_shell() {
    isolated(|_| {
        let outer = mock();
        let other = mock();
        let t = artifacts::torify();
        let p = artifacts::probe("probe");
        let (t, p) = (t.display(), p.display());
        // In the kernel cage the only SOCKS port is the cage's own (the host's loopback is out
        // of reach), which goes to the outer mock: there the nested settings are seen.
        let strict = probe::strict_run();
        let (inner, port) = if strict {
            (&outer, 9050)
        } else {
            (&other, other.port())
        };
        // Two -i runs: each its own credentials (isolation), on the inner port.
        let run = in_torified_shell(
            &outer,
            &format!(
                "{t} -i -P {port} {p} tcp 198.51.100.7 80 one; {t} -i -P {port} {p} tcp 198.51.100.7 80 two"
            ),
        );
        assert!(
            run.stdout.contains("reply=one") && run.stdout.contains("reply=two"),
            "{run:?}"
        );
        let seen = inner.seen();
        assert_eq!(
            seen.len(),
            2,
            "the inner port was not used: {seen:?} / outer {:?}",
            outer.seen()
        );
        let (a, b) = (seen[0].auth.clone(), seen[1].auth.clone());
        assert!(a.is_some() && b.is_some() && a != b, "{seen:?}");
        if !strict {
            assert!(outer.seen().is_empty(), "{:?}", outer.seen());
        }

        // -u/-p given inside reach the SOCKS server.
        let run = in_torified_shell(
            &outer,
            &format!("{t} -u alice -p pw -P {port} {p} tcp 198.51.100.7 80 three"),
        );
        assert!(run.stdout.contains("reply=three"), "{run:?}");
        assert_eq!(
            inner.seen().last().unwrap().auth,
            Some(("alice".into(), "pw".into()))
        );

        // Variables set for one command in the torified shell, as outside.
        let run = in_torified_shell(
            &outer,
            &format!("TORSOCKS_TOR_PORT={port} TORSOCKS_LOG_LEVEL=5 {p} tcp 198.51.100.7 80 four"),
        );
        assert!(run.stdout.contains("reply=four"), "{run:?}");
        assert_eq!(inner.seen().len(), 4);
        assert!(
            run.stderr.contains("debug:"),
            "level 5 was ignored: {}",
            run.stderr
        );

        // `torify -i -d show` inside says what the command gets.
        let run = in_torified_shell(&outer, &format!("{t} -i -d show"));
        assert!(run.stdout.contains("isolation = process"), "{run:?}");

        // The launcher is a static program the library lets start because it is the one
        // beside the library; a copy of it elsewhere is a static program like any other (in
        // the cage every static program may start: the cage carries it).
        if !strict {
            let dir = tempfile::tempdir().unwrap();
            let copy = dir.path().join("torify");
            std::fs::copy(artifacts::torify(), &copy).unwrap();
            let run = in_torified_shell(&outer, &format!("{} -i show", copy.display()));
            assert_ne!(run.code, 0, "{run:?}");
            assert!(run.stderr.contains("statically linked"), "{run:?}");
        }
    });
}

#[test]
fn a_named_socks_port_is_never_replaced_by_the_embedded_client() {
    isolated(|_| {
        // Nothing listens on 9999. backend auto must use it (and fail), not start arti.
        let started = Instant::now();
        let run = probe::run(
            Command::new(artifacts::torify())
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .args(["-P", "9999"])
                .arg(artifacts::probe("probe"))
                .args(["tcp", "198.51.100.7", "80", "x"]),
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
        assert!(!run.stderr.contains("embedded"), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("cannot reach Tor's SOCKS port at 127.0.0.1:9999"),
            "{}",
            run.stderr
        );
        // The same port from the environment.
        let run = probe::run(
            Command::new(artifacts::torify())
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("TORSOCKS_TOR_PORT", "9999")
                .arg("show"),
        );
        assert!(run.stdout.contains("tor.port = 9999"), "{run:?}");
        // `check` says at once that nothing answers there.
        let started = Instant::now();
        let run = probe::run(
            Command::new(artifacts::torify())
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .args(["-P", "9999", "check"]),
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
        assert!(
            run.stdout.contains("9999") && run.stdout.contains("NO"),
            "{run:?}"
        );
        // Nothing named: the fallback says so in one line before anything else.
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        // In a namespace with no route at all: the embedded client says so at once.
        let run = probe::run(
            Command::new("unshare")
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("TORIFY_CONF_FILE", &empty)
                // The embedded client's service would start here: never in a real user's.
                .env("XDG_RUNTIME_DIR", dir.path())
                .arg("--net")
                .arg(artifacts::torify())
                .arg("/bin/true"),
        );
        assert!(
            run.stderr
                .starts_with("torify: nothing answers at 127.0.0.1:9050"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("no route to the internet"),
            "{}",
            run.stderr
        );
        assert_eq!(run.code, 125);
    });
}

#[test]
fn every_refusal_is_seen_at_the_default_level() {
    isolated(|_| {
        let socks = mock();
        let (run, leaks) = captured(
            socks.port(),
            torify(socks.port()).args(["bash", "-c", "echo hi > /dev/udp/198.51.100.7/53"]),
        );
        assert!(
            run.stderr.contains("refused a UDP (datagram) socket"),
            "a refused UDP socket must say so: {}",
            run.stderr
        );
        assert!(leaks.is_empty(), "{leaks:#?}");
        // -q silences it.
        let run = probe::run(torify(socks.port()).args([
            "-q",
            "bash",
            "-c",
            "echo hi > /dev/udp/198.51.100.7/53",
        ]));
        assert!(!run.stderr.contains("refused"), "{}", run.stderr);
    });
}

#[test]
fn settings_files_that_are_not_files_or_are_huge_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = dir.path().join("huge.conf");
    std::fs::write(&huge, format!("TorPort {}\n", "9".repeat(3_000_000))).unwrap();
    let long_value = dir.path().join("long.conf");
    std::fs::write(&long_value, format!("TorAddress {}\n", "x".repeat(500_000))).unwrap();
    for (file, words) in [
        ("/dev/zero", "not a regular file"),
        ("/dev/urandom", "not a regular file"),
        (fifo.to_str().unwrap(), "not a regular file"),
        (huge.to_str().unwrap(), "more than a settings file can be"),
        (long_value.to_str().unwrap(), "more characters"),
    ] {
        let started = Instant::now();
        let mut child = Command::new(artifacts::torify())
            .env_clear()
            .args(["--backend", "tor", "-c", file, "/bin/true"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{file}: took {:?}",
            started.elapsed()
        );
        assert_eq!(status.code(), Some(125), "{file}: {err}");
        assert!(err.contains(words), "{file}: {err}");
        assert_eq!(err.lines().count(), 1, "{file}: {err}");
        assert!(err.len() < 600, "{file}: {} bytes of error", err.len());
        // The library refuses the same file, as quickly, and says so.
        let started = Instant::now();
        let run = probe::run(
            Command::new(artifacts::probe("probe"))
                .env_clear()
                .env("LD_PRELOAD", artifacts::library())
                .env("TORIFY_CONF_FILE", file)
                .args(["tcp", "198.51.100.7", "80", "x"]),
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{file}");
        assert!(
            run.stderr.contains(words) && run.stderr.contains("refused all network access"),
            "{file}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_password_does_not_stay_in_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let pass_file = dir.path().join("pw");
    std::fs::write(&pass_file, "from-a-file\n").unwrap();
    for args in [
        &[
            "-u",
            "alice",
            "-p",
            "hunter2",
            "forward",
            "--listen",
            "0",
            "host.test:22",
        ][..],
        &[
            "-u",
            "alice",
            "--pass=hunter2",
            "forward",
            "--listen",
            "0",
            "host.test:22",
        ],
        &[
            "-u",
            "alice",
            "--pass-file",
            pass_file.to_str().unwrap(),
            "forward",
            "--listen",
            "0",
            "host.test:22",
        ],
    ] {
        let mut child = Command::new(artifacts::torify())
            .env_clear()
            .args(["--backend", "tor"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut err = child.stderr.take().unwrap();
        let mut byte = [0u8; 1];
        while err.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0] as char);
        }
        assert!(line.contains("forwarding"), "{args:?}: {line}");
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            !shown.contains("hunter2") && !shown.contains("from-a-file"),
            "{shown}"
        );
        assert!(
            shown.contains("alice") && shown.contains("host.test:22"),
            "{shown}"
        );
    }
    // The command's own -p is its own.
    let run = probe::run(Command::new(artifacts::torify()).env_clear().args([
        "--backend",
        "tor",
        "sh",
        "-c",
        "cat /proc/$$/cmdline | tr '\\0' ' '",
        "-p",
        "22",
    ]));
    assert!(run.stdout.contains("-p 22"), "{run:?}");
}

/// The launcher tells the library of the very process it execs that the inherited sockets are
/// judged already (exec::SEALED_VARIABLE, the process's own ID); no child is told so, and each
/// looks for itself (escape.rs: a mark naming another process changes nothing).
#[test]
fn the_seal_mark_names_the_command_alone() {
    isolated(|_| {
        let socks = mock();
        let run = probe::run(torify(socks.port()).args([
            "sh",
            "-c",
            "echo \"mark=$TORIFY_SEALED pid=$$\"; env; sh -c 'echo \"child=[$TORIFY_SEALED]\"'",
        ]));
        assert_eq!(run.code, 0, "{run:?}");
        let line = run.stdout.lines().next().unwrap_or_default();
        let (mark, pid) = line
            .strip_prefix("mark=")
            .and_then(|l| l.split_once(" pid="))
            .unwrap_or_else(|| panic!("{run:?}"));
        // In the cage the command is the launcher's child, not the launcher exec'd: no mark.
        let want = if probe::strict_run() { "" } else { pid };
        assert_eq!(mark, want, "{run:?}");
        assert!(!run.stdout.contains("TORIFY_SEALED="), "{run:?}");
        assert!(run.stdout.contains("child=[]"), "{run:?}");
    });
}
