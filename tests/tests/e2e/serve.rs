//! `torify serve`: the embedded client as a per-user service on the private network. Commands
//! with `--backend arti` use it over its unix socket; their circuits stay apart exactly as
//! with a tor daemon (different session tokens never share a circuit); only its own user
//! gets an answer; a service a command started stays while commands hold it and leaves its
//! linger time after the last; two commands starting at once start one service. (None of
//! these commands use --strict, whose cage hosts a client of its own: with
//! TORIFY_TEST_STRICT=1 they test the service just the same.)

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::{Duration, Instant};

use torify_tests::probe::{self, Run};
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::{Runtime, alive, arti_circuits, in_net};

/// `sh -c SCRIPT` under `torify --backend arti` in `rt`, with `env` set.
fn sh(rt: &Runtime, env: &[(&str, &str)], script: &str) -> Run {
    let mut cmd = rt.torify();
    cmd.args(["--backend", "arti", "-c"])
        .arg(&rt.config)
        .args(["sh", "-c", script])
        .envs(env.iter().copied());
    probe::run(&mut cmd)
}

/// Two fetches of the page in one command.
fn two_fetches() -> String {
    format!("curl -s http://{DEST_NAME}/ && curl -s -o /dev/null http://{DEST_NAME}/")
}

/// The circuits of the streams logged after the first `skip` ones.
fn circuits_after(rt: &Runtime, skip: usize) -> Vec<String> {
    arti_circuits(&rt.log()).into_iter().skip(skip).collect()
}

#[test]
fn a_running_service_serves_commands_and_keeps_their_sessions_apart() {
    in_net(|net| {
        let rt = Runtime::new(net, "serve");
        // -d: the service logs which circuit each stream takes.
        let started = probe::run(rt.torify().args(["-d", "-c"]).arg(&rt.config).arg("serve"));
        assert_eq!(started.code, 0, "{started:?}\n{}", rt.log());
        assert!(
            started.stderr.contains("Tor is ready (embedded client")
                && started.stderr.contains("the Tor service runs (pid"),
            "{started:?}"
        );
        let pid = rt.pid().expect("serve status names the pid");
        assert!(alive(pid));
        let status = probe::run(rt.torify().args(["serve", "status"]));
        assert_eq!(status.code, 0, "{status:?}");
        assert!(status.stdout.contains("until stopped"), "{status:?}");
        // The directory and the socket are ours alone.
        let dir = std::fs::metadata(rt.service_dir()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        let socket = rt.service_dir().join("socks.sock");
        let meta = std::fs::metadata(&socket).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.uid(), rustix_uid());
        // A second `serve` refuses: one service per user.
        let again = probe::run(rt.torify().args(["-c"]).arg(&rt.config).arg("serve"));
        assert_eq!(again.code, 125, "{again:?}");
        assert!(again.stderr.contains("already runs"), "{again:?}");

        // Commands use it: no bootstrap of their own, the page through an exit.
        let session = [("TORIFY_ISOLATION", "session")];
        let first = sh(&rt, &session, &two_fetches());
        assert_eq!(first.stdout, PAGE, "{first:?}\n{}", rt.log());
        assert!(
            !first.stderr.contains("bootstrapping"),
            "a running service needs no bootstrap: {first:?}"
        );
        let a = circuits_after(&rt, 0);
        let second = sh(&rt, &session, &two_fetches());
        assert_eq!(second.stdout, PAGE, "{second:?}");
        let b = circuits_after(&rt, a.len());
        assert_eq!((a.len(), b.len()), (2, 2), "{}", rt.log());
        // Two sessions never share a circuit. (Within one session arti may take any circuit
        // its token may use, a fresh preemptive one too, so both fetches of a session need
        // not ride the same one: seen once in a loaded full run.)
        assert!(
            a.iter().all(|c| !b.contains(c)),
            "two commands (two session tokens) shared a circuit: {a:?} {b:?}"
        );
        // The control: commands that send no credentials share circuits, as with a tor
        // daemon (so the assertion above could fail).
        let seen = a.len() + b.len();
        let plain = [("TORIFY_ISOLATION", "none")];
        assert_eq!(sh(&rt, &plain, &two_fetches()).stdout, PAGE);
        assert_eq!(sh(&rt, &plain, &two_fetches()).stdout, PAGE);
        let c = circuits_after(&rt, seen);
        assert_eq!(c.len(), 4, "{}", rt.log());
        // The counterpart of the check above: two commands without tokens do share.
        assert!(
            c[..2].iter().any(|x| c[2..].contains(x)),
            "without credentials two commands should share a circuit: {c:?}"
        );
        // No secret in the log, even at -d: SOCKS credentials (isolation tokens) never appear.
        let secret = [
            ("TORSOCKS_USERNAME", "someone"),
            ("TORSOCKS_PASSWORD", "pw-never-logged-4711"),
        ];
        assert_eq!(sh(&rt, &secret, &two_fetches()).stdout, PAGE);
        assert!(!rt.log().contains("pw-never-logged"), "{}", rt.log());
        // A log is a file: no colour codes, no carriage returns, even from arti's own lines.
        assert!(
            !rt.log().contains('\x1b') && !rt.log().contains('\r'),
            "{:?}",
            rt.log()
        );

        // Stop: the service leaves and takes its socket.
        let stop = probe::run(rt.torify().args(["serve", "stop"]));
        assert_eq!(stop.code, 0, "{stop:?}");
        assert!(stop.stderr.contains("stopped"), "{stop:?}");
        assert!(!socket.exists(), "the socket stayed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(pid), "the service did not exit");
        let status = probe::run(rt.torify().args(["serve", "status"]));
        assert_eq!(status.code, 3, "{status:?}");
        assert!(status.stdout.starts_with("not running"), "{status:?}");
    });
}

#[test]
fn a_stop_signal_stops_the_service_cleanly_and_takes_its_socket() {
    in_net(|net| {
        let rt = Runtime::new(net, "serve-signal");
        let started = probe::run(rt.torify().args(["-c"]).arg(&rt.config).arg("serve"));
        assert_eq!(started.code, 0, "{started:?}\n{}", rt.log());
        let pid = rt.pid().expect("serve status names the pid");
        let socket = rt.service_dir().join("socks.sock");
        assert!(socket.exists());
        // SIGTERM, as a service manager stops it: the service leaves as `serve stop` makes it.
        let kill = probe::run(std::process::Command::new("kill").args(["-TERM", &pid.to_string()]));
        assert_eq!(kill.code, 0, "{kill:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            !alive(pid),
            "the service did not exit on SIGTERM\n{}",
            rt.log()
        );
        assert!(!socket.exists(), "the socket stayed");
        assert!(
            rt.log().contains("stopping the Tor service: a signal"),
            "{}",
            rt.log()
        );
    });
}

fn rustix_uid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// A connection from another user gets nothing, even through a socket opened up for the
/// test: the service checks SO_PEERCRED. The control: the same client as ourselves gets the
/// SOCKS answer.
#[test]
fn the_service_answers_its_own_user_only() {
    in_net(|net| {
        let rt = Runtime::new(net, "peer");
        let started = probe::run(rt.torify().args(["-q", "-c"]).arg(&rt.config).arg("serve"));
        assert_eq!(started.code, 0, "{started:?}\n{}", rt.log());
        let socket = rt.service_dir().join("socks.sock");
        // What a SOCKS5 client hears after its greeting (no authentication); a connection the
        // service closes at once may fail the greeting's send as well as the read.
        let client = format!(
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect({:?})\ns.settimeout(10)\ntry:\n  s.sendall(b'\\x05\\x01\\x00')\n  d=s.recv(2)\nexcept (ConnectionResetError, BrokenPipeError):\n  d=b''\nsys.stdout.write(d.hex() or 'closed')\n",
            socket.display().to_string()
        );
        let ours = probe::run(
            std::process::Command::new("/usr/bin/python3")
                .args(["-c", &client])
                .stdin(Stdio::null()),
        );
        assert_eq!(ours.stdout, "0500", "{ours:?}");
        // Open the way for anyone (the test's doing, not the service's), then knock as nobody.
        for path in [&rt.dir, &rt.service_dir()] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o711)).unwrap();
        }
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let theirs = probe::run(
            std::process::Command::new("setpriv")
                .args([
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                    "/usr/bin/python3",
                    "-c",
                    &client,
                ])
                .stdin(Stdio::null()),
        );
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).unwrap();
        for path in [&rt.dir, &rt.service_dir()] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        assert_eq!(theirs.stdout, "closed", "{theirs:?}");
        assert!(
            rt.log().contains("refused a connection from uid 65534"),
            "{}",
            rt.log()
        );
    });
}

/// Two commands at once with no service: one starts it, the other waits and uses it. It stays
/// while a command holds it, longer than its linger time, and leaves that long after the last.
#[test]
fn commands_start_one_lingering_service_that_leaves_after_the_last() {
    in_net(|net| {
        let rt = Runtime::with_arti(net, "linger", "linger = 3");
        let fetch = format!("curl -s http://{DEST_NAME}/");
        let spawn = |script: &str| {
            let mut cmd = rt.torify();
            cmd.args(["--backend", "arti", "-c"])
                .arg(&rt.config)
                .args(["sh", "-c", script])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let (one, two) = (spawn(&fetch), spawn(&fetch));
        let runs: Vec<Run> = [one, two]
            .into_iter()
            .map(|c| Run::from(c.wait_with_output().unwrap()))
            .collect();
        for run in &runs {
            assert_eq!(run.stdout, PAGE, "{run:?}\n{}", rt.log());
        }
        let starters = runs
            .iter()
            .filter(|r| r.stderr.contains("Tor is ready (embedded client"))
            .count();
        assert_eq!(starters, 1, "{runs:?}");
        assert_eq!(rt.log().matches("serving SOCKS at").count(), 1);
        let pid = rt.pid().expect("the service runs after its commands");
        // A command that outlives the linger time keeps it: its lease.
        let held = sh(&rt, &[], &format!("sleep 5; {fetch}"));
        assert_eq!(held.stdout, PAGE, "{held:?}\n{}", rt.log());
        assert_eq!(rt.pid(), Some(pid), "the held service was replaced");
        // After the last command: gone within its linger time (and a little).
        let deadline = Instant::now() + Duration::from_secs(3 + 5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !alive(pid),
            "the service did not leave after its linger time"
        );
        assert!(!rt.service_dir().join("socks.sock").exists());
        assert!(
            rt.log().contains("no client for the linger time"),
            "{}",
            rt.log()
        );
    });
}

/// What a running service saves a command, measured: `torify --backend arti curl` with a
/// fresh service (which bootstraps from the warm cache) against the same with the service
/// running. Printed for the record (--nocapture); the running service must be the faster, and
/// the fresh one must have had a circuit ready for its first command.
#[test]
fn a_running_service_saves_the_bootstrap() {
    in_net(|net| {
        let fetch = format!("curl -s -o /dev/null -w %{{time_starttransfer}} http://{DEST_NAME}/");
        let time = |rt: &Runtime| {
            let started = Instant::now();
            let run = sh(rt, &[("TORIFY_ISOLATION", "session")], &fetch);
            assert_eq!(run.code, 0, "{run:?}\n{}", rt.log());
            (started.elapsed(), run.stdout)
        };
        let mut fresh = Vec::new();
        for _ in 0..3 {
            let rt = Runtime::new(net, "fresh");
            fresh.push(time(&rt));
        }
        let rt = Runtime::new(net, "warm");
        let _ = time(&rt);
        let warm: Vec<_> = (0..3).map(|_| time(&rt)).collect();
        eprintln!("torify --backend arti curl, fresh service (wall, curl first byte): {fresh:?}");
        eprintln!("torify --backend arti curl, running service (wall, curl first byte): {warm:?}");
        let median = |v: &[(Duration, String)]| {
            let mut d: Vec<Duration> = v.iter().map(|x| x.0).collect();
            d.sort();
            d[d.len() / 2]
        };
        assert!(
            median(&warm) < median(&fresh),
            "fresh {fresh:?}, running {warm:?}"
        );
        // Even the command that started the service finds a circuit ready (the service waits
        // for arti's first preemptive circuit before it says it is ready): its first byte
        // comes within the tens of milliseconds of a stream on a built circuit, not after a
        // circuit build (150–180 ms on this network, measured without that wait).
        let mut first_bytes: Vec<f64> = fresh.iter().map(|x| x.1.parse().unwrap()).collect();
        first_bytes.sort_by(f64::total_cmp);
        assert!(
            first_bytes[1] < 0.1,
            "the first command waited for a circuit: {fresh:?}"
        );
    });
}

/// `eval "$(torify on)"` without a tor daemon: the shell gets the service's socket, the service
/// stays while the shell lives (longer than its linger time, with no command holding it), and
/// leaves after the shell is gone.
#[test]
fn torify_on_uses_the_service_and_keeps_it_while_the_shell_lives() {
    in_net(|net| {
        let rt = Runtime::with_arti(net, "on", "linger = 2");
        let t = torify_tests::artifacts::torify();
        let script = format!(
            "eval \"$({t} --backend arti -q -c {cfg} on)\" || exit 9\n\
             echo \"addr=$TORSOCKS_TOR_ADDRESS\"\n\
             curl -s http://{DEST_NAME}/\n\
             sleep 5\n\
             curl -s http://{DEST_NAME}/\n\
             {t} serve status\n",
            t = t.display(),
            cfg = rt.config.display()
        );
        let run = probe::run(
            std::process::Command::new("bash")
                .args(["--norc", "--noprofile", "-c", &script])
                .env("XDG_RUNTIME_DIR", &rt.dir)
                .stdin(Stdio::null()),
        );
        let socket = rt.service_dir().join("socks.sock");
        assert!(
            run.stdout.starts_with(&format!(
                "addr=unix:{}\n{PAGE}{PAGE}running: pid ",
                socket.display()
            )),
            "{run:?}\n{}",
            rt.log()
        );
        let pid: i32 = run
            .stdout
            .split("running: pid ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(2 + 5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!alive(pid), "the service stayed after the shell left");
    });
}

/// Kills a process of this test by its pid when dropped (also on a failed assertion).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Socket activation as systemd does it (`systemd-socket-activate` passes the listening socket
/// as LISTEN_FDS/LISTEN_PID, as torify.socket does): the first command's connection starts the
/// service, which answers once bootstrapped; the command uses it rather than starting its own;
/// `serve stop` ends it and leaves the socket, which belongs to the socket's owner.
#[test]
fn a_socket_activated_service_serves_once_bootstrapped() {
    in_net(|net| {
        let rt = Runtime::new(net, "activated");
        std::fs::create_dir(rt.service_dir()).unwrap();
        std::fs::set_permissions(rt.service_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = rt.service_dir().join("socks.sock");
        let log = std::fs::File::create(rt.dir.join("activated.log")).unwrap();
        // systemd-socket-activate gives its child only the variables named with -E (the
        // user manager gives its services XDG_RUNTIME_DIR).
        let child = std::process::Command::new("systemd-socket-activate")
            .arg("-l")
            .arg(&socket)
            .arg(format!("-EXDG_RUNTIME_DIR={}", rt.dir.display()))
            .arg(torify_tests::artifacts::torify())
            .args(["-c"])
            .arg(&rt.config)
            .args(["serve", "--foreground"])
            .env("XDG_RUNTIME_DIR", &rt.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("systemd-socket-activate (package systemd)");
        let activated = Killed(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let run = sh(&rt, &[], &format!("curl -s http://{DEST_NAME}/"));
        let service_log = std::fs::read_to_string(rt.dir.join("activated.log")).unwrap();
        assert_eq!(run.stdout, PAGE, "{run:?}\n{service_log}");
        assert!(
            !run.stderr.contains("Tor is ready"),
            "the command started a service of its own: {run:?}"
        );
        assert!(
            service_log.contains("serving SOCKS at unix:"),
            "{service_log}"
        );
        let pid = rt.pid().expect("the activated service answers status");
        assert_eq!(pid, activated.0.id() as i32, "not the activated process");
        let stop = probe::run(rt.torify().args(["serve", "stop"]));
        assert_eq!(stop.code, 0, "{stop:?}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!alive(pid), "the activated service did not stop");
        assert!(
            socket.exists(),
            "the service removed the socket it was given"
        );
        drop(activated);
        // A socket where commands do not look is refused, in one line.
        let elsewhere = rt.dir.join("elsewhere.sock");
        let refused = probe::run(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "systemd-socket-activate -l {sock} -EXDG_RUNTIME_DIR={rt} {t} serve --foreground & \
                     sleep 0.5; /usr/bin/python3 -c \"import socket;s=socket.socket(socket.AF_UNIX);s.connect('{sock}')\"; wait",
                    sock = elsewhere.display(),
                    rt = rt.dir.display(),
                    t = torify_tests::artifacts::torify().display(),
                ))
                .stdin(Stdio::null()),
        );
        assert!(
            refused.stderr.contains("systemd passed a socket at")
                && refused.stderr.contains("ListenStream=%t/torify/socks.sock"),
            "{refused:?}"
        );
    });
}
