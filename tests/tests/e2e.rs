//! End to end through a real Tor network (tests/src/tornet.rs): the things users do, under
//! `torify`, judged by what came back. The network is started once for this test binary; if
//! it cannot start, every test here fails with the tail of the tor logs.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Once, OnceLock};

use torify_tests::artifacts;
use torify_tests::control::Control;
use torify_tests::probe::{self, Run};
use torify_tests::tornet::{DEST_NAME, PAGE, REPO_FILE, TorNet};

static NET: OnceLock<Result<TorNet, String>> = OnceLock::new();
static START: Once = Once::new();

/// A real v3 address (the Tor Project's website) that no service of this private network has:
/// a valid key whose descriptor nobody publishes here.
const ABSENT_ONION: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";

/// The shared network. It lives in a thread that never ends, so its processes (started with
/// PR_SET_PDEATHSIG) die exactly when this test binary does.
fn net() -> &'static TorNet {
    START.call_once(|| {
        torify_tests::tornet::remove_stale_dirs("torify-e2e-");
        std::thread::spawn(|| {
            let dir = std::env::temp_dir().join(format!("torify-e2e-{}", std::process::id()));
            let _ = NET.set(TorNet::start(&dir));
            loop {
                std::thread::park();
            }
        });
    });
    match NET.wait() {
        Ok(net) => net,
        Err(e) => panic!("the private Tor network did not come up:\n{e}"),
    }
}

/// Runs `f` on a thread inside the network's namespace, where 127.0.0.1:9050 is Tor.
fn in_net<T: Send>(f: impl FnOnce(&TorNet) -> T + Send) -> T {
    let net = net();
    std::thread::scope(|s| {
        s.spawn(|| {
            net.enter();
            f(net)
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// `torify ARGS…` with the default settings (Tor at 127.0.0.1:9050).
fn torify(args: &[&str]) -> Run {
    probe::run(
        Command::new(artifacts::torify())
            .args(args)
            .stdin(Stdio::null()),
    )
}

fn torsocks_path() -> PathBuf {
    let link = artifacts::target_dir().join("torsocks");
    if !link.exists() {
        let _ = std::os::unix::fs::symlink("torify", &link);
    }
    link
}

#[test]
fn torify_curl_fetches_the_page_by_name_through_an_exit() {
    in_net(|_| {
        let run = torify(&["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")]);
        assert_eq!(run.stdout, PAGE, "{run:?}");
        assert_eq!(run.code, 0);
        assert_eq!(
            run.stderr, "",
            "curl through torify printed: {}",
            run.stderr
        );
    });
}

#[test]
fn torsocks_ssh_runs_a_command_through_the_onion_service() {
    in_net(|net| {
        let mut cmd = Command::new(torsocks_path());
        cmd.args(["ssh", "-p", "22"])
            .args(net.ssh_options())
            .arg(format!("{}@{}", net.ssh_user, net.onion))
            .args(["echo", "hello from $(hostname) via onion"])
            .stdin(Stdio::null());
        let run = probe::run(&mut cmd);
        assert!(
            run.stdout.starts_with("hello from ") && run.stdout.contains("via onion"),
            "{run:?}"
        );
        assert_eq!(run.code, 0, "{run:?}");
    });
}

#[test]
fn torsocks_ssh_reaches_the_destination_by_name_through_an_exit() {
    in_net(|net| {
        let mut cmd = Command::new(torsocks_path());
        cmd.arg("ssh")
            .args(net.ssh_options())
            .arg(format!("{}@{DEST_NAME}", net.ssh_user))
            .args(["sh", "-c", "'echo $SSH_CONNECTION'"])
            .stdin(Stdio::null());
        let run = probe::run(&mut cmd);
        assert_eq!(run.code, 0, "{run:?}");
        // The server saw the connection arrive from an exit (127.0.0.1 of the Tor namespace,
        // routed through 198.51.100.1), not from this process directly: ip port ip port.
        let fields: Vec<&str> = run.stdout.split_whitespace().collect();
        assert_eq!(fields.len(), 4, "{run:?}");
        assert_eq!(fields[2], "198.51.100.7", "{run:?}");
    });
}

#[test]
fn python_urllib_through_torify() {
    in_net(|_| {
        let script = format!(
            "import urllib.request; print(urllib.request.urlopen('http://{DEST_NAME}/', timeout=120).read().decode(), end='')"
        );
        let run = torify(&["python3", "-c", &script]);
        assert_eq!(run.stdout, PAGE, "{run:?}");
    });
}

#[test]
fn git_clone_over_http_through_torify() {
    in_net(|_| {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("clone");
        let run = torify(&[
            "git",
            "clone",
            "-q",
            &format!("http://{DEST_NAME}/repo.git"),
            target.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            std::fs::read_to_string(target.join("README")).unwrap(),
            REPO_FILE
        );
    });
}

#[test]
fn getaddrinfo_is_answered_by_the_exits_resolver_through_resolve() {
    in_net(|net| {
        let run = torify(&[
            artifacts::probe("dns").to_str().unwrap(),
            "gai",
            "lookup-only.test",
            "80",
            "inet",
        ]);
        assert!(
            run.stdout.contains("result addr=198.51.100.7 port=80"),
            "{run:?}"
        );
        // The name reached dnsmasq, the exits' resolver: it was resolved at an exit. (dnsmasq
        // writes its log lines a moment later.)
        let log = net.dir.join("dnsmasq.out");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            // Exits randomize the case of the names they query (ServerDNSRandomizeCase).
            let dnsmasq = std::fs::read_to_string(&log).unwrap().to_ascii_lowercase();
            if dnsmasq.contains("query[a] lookup-only.test") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "dnsmasq never saw the name:\n{dnsmasq}"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let run = torify(&[
            artifacts::probe("dns").to_str().unwrap(),
            "ghba",
            "198.51.100.7",
        ]);
        assert!(
            run.stdout.contains(&format!("hostent=ok name={DEST_NAME}")),
            "{run:?}"
        );
    });
}

#[test]
fn a_missing_onion_service_gives_the_extended_error() {
    in_net(|_| {
        let run = torify(&[
            "curl",
            "-s",
            "-m",
            "180",
            &format!("http://{ABSENT_ONION}/"),
        ]);
        assert_ne!(run.code, 0, "{run:?}");
        assert!(
            run.stderr.contains("onion service descriptor not found")
                && run.stderr.contains("0xf0"),
            "{}",
            run.stderr
        );
    });
}

#[test]
fn the_control_port_shows_circuits_and_streams() {
    in_net(|net| {
        let run = torify(&["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")]);
        assert_eq!(run.stdout, PAGE);
        let mut control = Control::connect(net.control()).unwrap();
        let circuits = control.circuits().unwrap();
        assert!(
            circuits
                .iter()
                .any(|c| c.status == "BUILT" && c.path.len() >= 3),
            "{circuits:#?}"
        );
        let version = control.command("GETINFO version").unwrap();
        assert!(version.iter().any(|l| l.contains("0.4.")), "{version:?}");
        control.streams().unwrap();
    });
}

/// Two processes under `torify -i` use different circuits; without isolation they share one
/// (the control that shows the first result means something), `connection` isolation parts
/// two connections of one process, and `session` isolation keeps one session together.
#[test]
fn isolation_modes_pick_circuits_as_promised() {
    in_net(|net| {
        let mut control = Control::connect(net.control()).unwrap();
        control.watch_streams().unwrap();
        let circuits = |control: &mut Control, a: &str, b: &str| {
            let found = control
                .stream_circuits(&[a, b], std::time::Duration::from_secs(60))
                .unwrap();
            let [Some(x), Some(y)] = [found[0].clone(), found[1].clone()] else {
                panic!("streams to {a} and {b} not both seen: {found:?}");
            };
            (x, y)
        };
        let fetch = |env: &[(&str, &str)], args: &[&str]| {
            let mut cmd = Command::new(artifacts::torify());
            cmd.envs(env.iter().copied())
                .args(args)
                .stdin(Stdio::null());
            let run = probe::run(&mut cmd);
            assert_eq!(run.code, 0, "{run:?}");
        };
        fetch(&[], &["-i", "curl", "-s", "http://iso-proc-a.test/"]);
        fetch(&[], &["-i", "curl", "-s", "http://iso-proc-b.test/"]);
        let (a, b) = circuits(&mut control, "iso-proc-a.test", "iso-proc-b.test");
        assert_ne!(a, b, "two isolated processes shared circuit {a}");

        fetch(&[], &["curl", "-s", "http://iso-none-a.test/"]);
        fetch(&[], &["curl", "-s", "http://iso-none-b.test/"]);
        let (a, b) = circuits(&mut control, "iso-none-a.test", "iso-none-b.test");
        assert_eq!(
            a, b,
            "without isolation tor should reuse the circuit (the control)"
        );

        let conn = [("TORIFY_ISOLATION", "connection")];
        fetch(
            &conn,
            &[
                "curl",
                "-s",
                "http://iso-conn-a.test/",
                "http://iso-conn-b.test/",
            ],
        );
        let (a, b) = circuits(&mut control, "iso-conn-a.test", "iso-conn-b.test");
        assert_ne!(
            a, b,
            "two connections under connection isolation shared circuit {a}"
        );

        let session = [("TORIFY_ISOLATION", "session")];
        fetch(
            &session,
            &[
                "sh",
                "-c",
                "curl -s http://iso-sess-a.test/ && curl -s http://iso-sess-b.test/",
            ],
        );
        let (a, b) = circuits(&mut control, "iso-sess-a.test", "iso-sess-b.test");
        assert_eq!(a, b, "one torify session should keep one circuit family");
    });
}
