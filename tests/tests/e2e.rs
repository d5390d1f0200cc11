//! End to end through a real Tor network (tests/src/tornet.rs): the things users do, under
//! `torify`, judged by what came back. The network is started once for this test binary; if
//! it cannot start, every test here fails with the tail of the tor logs.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use torify_tests::artifacts;
use torify_tests::control::{Control, SeenStream};
use torify_tests::netns;
use torify_tests::probe::{self, Run};
use torify_tests::tornet::{DEST_NAME, PAGE, REPO_FILE, TorNet};

#[path = "e2e/deb.rs"]
mod deb;
#[path = "e2e/forward.rs"]
mod forward;
#[path = "e2e/root.rs"]
mod root;
#[path = "e2e/serve.rs"]
mod serve;
#[path = "e2e/session.rs"]
mod session;
#[path = "e2e/strict.rs"]
mod strict;
#[path = "e2e/system.rs"]
mod system;

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

/// `torify ARGS…` with the default settings (Tor at 127.0.0.1:9050); in the kernel cage with
/// TORIFY_TEST_STRICT=1.
fn torify(args: &[&str]) -> Run {
    probe::run(
        Command::new(artifacts::torify())
            .args(strict_flag())
            .args(args)
            .stdin(Stdio::null()),
    )
}

/// `--strict` when the suite runs in the kernel cage.
fn strict_flag() -> &'static [&'static str] {
    if probe::strict_run() {
        &["--strict"]
    } else {
        &[]
    }
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
        // curl checks for IPv6 with a UDP socket it never sends on; refused, and said once.
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(
            lines.len() <= 1
                && lines
                    .iter()
                    .all(|l| l.contains("refused a UDP (datagram) socket (AF_INET6)")),
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

/// The compatibility list of `dns.mode = exit` (the default), with what each program shows of a
/// stand-in address: ssh keeps known_hosts by name (CheckHostIP skips loopback addresses),
/// curl -v prints the stand-in, node resolves through getaddrinfo on its own threads; python
/// and git run in the default mode above. The exit resolves the name: dnsmasq sees it.
#[test]
fn names_resolved_at_the_exit_suit_common_programs() {
    in_net(|net| {
        let dir = tempfile::tempdir().unwrap();
        let known = dir.path().join("known_hosts");
        for round in 0..2 {
            let mut cmd = Command::new(artifacts::torify());
            cmd.args(strict_flag())
                .args(["--dns", "exit", "ssh", "-i"])
                .arg(&net.ssh_key)
                .args(["-o", "StrictHostKeyChecking=accept-new", "-o"])
                .arg(format!("UserKnownHostsFile={}", known.display()))
                .args(["-o", "CheckHostIP=yes", "-o", "HashKnownHosts=no"])
                .args(["-o", "BatchMode=yes"])
                .args(["-o", "ConnectTimeout=60"])
                .arg(format!("{}@{DEST_NAME}", net.ssh_user))
                .arg("true")
                .stdin(Stdio::null());
            let run = probe::run(&mut cmd);
            assert_eq!(run.code, 0, "round {round}: {run:?}");
            assert!(
                !run.stderr.contains("WARNING") && !run.stderr.contains("differs"),
                "round {round}: {run:?}"
            );
        }
        let hosts = std::fs::read_to_string(&known).unwrap();
        // One entry, by name: no stand-in address was recorded.
        assert_eq!(hosts.lines().count(), 1, "known_hosts: {hosts}");
        assert!(
            hosts.starts_with(&format!("{DEST_NAME} ")) && !hosts.contains("127."),
            "known_hosts: {hosts}"
        );

        let run = torify(&[
            "--dns",
            "exit",
            "curl",
            "-sv",
            "-m",
            "120",
            "http://exit-only.test/",
        ]);
        assert_eq!(run.stdout, PAGE, "{run:?}");
        assert!(run.stderr.contains("Trying 127.192.0.1:80"), "{run:?}");

        let script = format!(
            "require('http').get('http://{DEST_NAME}/', r => {{ let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }}).on('error', e => {{ console.error(e.message); process.exit(1); }});"
        );
        let run = torify(&["--dns", "exit", "node", "-e", &script]);
        assert_eq!(run.stdout, PAGE, "{run:?}");

        let log = net.dir.join("dnsmasq.out");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !std::fs::read_to_string(&log)
            .unwrap()
            .to_ascii_lowercase()
            .contains("query[a] exit-only.test")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "dnsmasq never saw exit-only.test"
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
}

#[test]
fn getaddrinfo_is_answered_by_the_exits_resolver_through_resolve() {
    in_net(|net| {
        let run = torify(&[
            "--dns",
            "resolve",
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
/// Tor promises that streams with different SOCKS credentials never share a circuit
/// (IsolateSOCKSAuth); it does not promise that streams with the same credentials share one.
/// So isolated modes must give different credentials and different circuits, shared modes the
/// same credentials; and the control, that this method can see sharing at all, is that three
/// fetches of one session did share a circuit.
#[test]
fn isolation_modes_pick_circuits_as_promised() {
    in_net(|net| {
        let mut control = Control::connect(net.control()).unwrap();
        control.watch_streams().unwrap();
        let streams = |control: &mut Control, hosts: &[&str]| {
            let found = control
                .stream_circuits(hosts, Duration::from_secs(60))
                .unwrap();
            found
                .into_iter()
                .zip(hosts)
                .map(|(s, h)| s.unwrap_or_else(|| panic!("no stream to {h} seen")))
                .collect::<Vec<_>>()
        };
        let fetch = |env: &[(&str, &str)], args: &[&str]| {
            let mut cmd = Command::new(artifacts::torify());
            cmd.envs(env.iter().copied())
                .args(args)
                .stdin(Stdio::null());
            let run = probe::run(&mut cmd);
            assert_eq!(run.code, 0, "{run:?}");
        };
        let credentials = |s: &SeenStream| (s.username.clone(), s.password.clone());

        fetch(&[], &["-i", "curl", "-s", "http://iso-proc-a.test/"]);
        fetch(&[], &["-i", "curl", "-s", "http://iso-proc-b.test/"]);
        let s = streams(&mut control, &["iso-proc-a.test", "iso-proc-b.test"]);
        assert_ne!(credentials(&s[0]), credentials(&s[1]), "{s:?}");
        assert_ne!(
            s[0].circuit, s[1].circuit,
            "two isolated processes shared a circuit"
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
        let s = streams(&mut control, &["iso-conn-a.test", "iso-conn-b.test"]);
        assert_ne!(credentials(&s[0]), credentials(&s[1]), "{s:?}");
        assert_ne!(
            s[0].circuit, s[1].circuit,
            "two connections under connection isolation shared a circuit"
        );

        fetch(&[], &["curl", "-s", "http://iso-none-a.test/"]);
        fetch(&[], &["curl", "-s", "http://iso-none-b.test/"]);
        let s = streams(&mut control, &["iso-none-a.test", "iso-none-b.test"]);
        assert_eq!(credentials(&s[0]), (None, None), "{s:?}");
        assert_eq!(credentials(&s[1]), (None, None), "{s:?}");

        let session = [("TORIFY_ISOLATION", "session")];
        fetch(
            &session,
            &[
                "sh",
                "-c",
                "for h in a b c; do curl -s http://iso-sess-$h.test/ >/dev/null || exit 1; done",
            ],
        );
        let s = streams(
            &mut control,
            &["iso-sess-a.test", "iso-sess-b.test", "iso-sess-c.test"],
        );
        assert!(s[0].username.is_some(), "{s:?}");
        assert!(
            s.iter().all(|x| credentials(x) == credentials(&s[0])),
            "one torify session must use one set of credentials: {s:?}"
        );
        // A circuit, or a conflux set: tor (≥ 0.4.8) puts exit streams on a set of two legs
        // and reports each stream on the leg it went out on.
        let sets: std::collections::HashMap<String, String> = control
            .circuits()
            .unwrap()
            .into_iter()
            .filter_map(|c| Some((c.id, c.conflux_id?)))
            .collect();
        let shared = |a: &SeenStream, b: &SeenStream| {
            a.circuit == b.circuit
                || sets
                    .get(&a.circuit)
                    .is_some_and(|set| sets.get(&b.circuit) == Some(set))
        };
        assert!(
            shared(&s[0], &s[1]) || shared(&s[1], &s[2]) || shared(&s[0], &s[2]),
            "three fetches of one session shared no circuit or conflux set: {s:?}\nsets: {sets:?}\nevents:\n{}",
            control.events.join("\n")
        );
    });
}

/// A private `XDG_RUNTIME_DIR` for the embedded client's service of one test, so tests never
/// touch a real user's service nor each other's. Dropped (also when an assertion failed), it
/// stops the service there (`torify serve stop`, then SIGKILL by its pid if it is still
/// there) and removes the directory.
struct Runtime {
    dir: PathBuf,
    config: PathBuf,
}

impl Runtime {
    fn new(net: &TorNet, name: &str) -> Runtime {
        Runtime::under(&net.dir, name, &net.arti_config)
    }

    /// A runtime directory under `base` for services of `config`.
    fn under(base: &std::path::Path, name: &str, config: &std::path::Path) -> Runtime {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = base.join(format!("run-{name}-{}", N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        Runtime {
            dir,
            config: config.to_owned(),
        }
    }

    /// The same, with `lines` added to the `[arti]` table of the network's configuration.
    fn with_arti(net: &TorNet, name: &str, lines: &str) -> Runtime {
        let mut rt = Runtime::new(net, name);
        let text = std::fs::read_to_string(&net.arti_config).unwrap();
        let config = rt.dir.join("arti.toml");
        std::fs::write(
            &config,
            text.replacen("[arti]\n", &format!("[arti]\n{lines}\n"), 1),
        )
        .unwrap();
        rt.config = config;
        rt
    }

    /// `torify ARGS…` with this runtime directory.
    fn torify(&self) -> Command {
        let mut cmd = Command::new(artifacts::torify());
        cmd.env("XDG_RUNTIME_DIR", &self.dir).stdin(Stdio::null());
        cmd
    }

    /// The service's directory.
    fn service_dir(&self) -> PathBuf {
        self.dir.join("torify")
    }

    /// The service's log.
    fn log(&self) -> String {
        std::fs::read_to_string(self.service_dir().join("serve.log")).unwrap_or_default()
    }

    /// The running service's pid, from `torify serve status`.
    fn pid(&self) -> Option<i32> {
        let run = probe::run(self.torify().args(["serve", "status"]));
        run.stdout
            .strip_prefix("running: pid ")?
            .split(',')
            .next()?
            .parse()
            .ok()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let pid = self.pid();
        let _ = probe::run(self.torify().args(["serve", "stop"]));
        if let Some(pid) = pid
            && alive(pid)
        {
            // SAFETY: kill(2) on the service this test started, by its pid.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether process `pid` exists and has not ended (a zombie has ended).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
        })
        .unwrap_or(false)
}

/// `torify --backend arti -c <the network's arti.toml> ARGS…` in `rt`: the embedded client
/// joins the private network; no tor daemon is involved.
fn torify_arti_in(rt: &Runtime, extra: &[&str], args: &[&str]) -> Run {
    let mut cmd = rt.torify();
    cmd.args(["--backend", "arti", "-c"])
        .arg(&rt.config)
        .args(strict_flag())
        .args(extra)
        .args(args);
    probe::run(&mut cmd)
}

/// The same in a runtime directory of its own, whose service (started by this command) is
/// stopped afterwards.
fn torify_arti(net: &TorNet, extra: &[&str], args: &[&str]) -> Run {
    let rt = Runtime::new(net, "run");
    torify_arti_in(&rt, extra, args)
}

/// The embedded client opens streams optimistically (torify.toml(5), arti.connect_timeout): a
/// port the destination refuses is a connection that ends at once, with a line in the
/// client's log, not a refused connect.
#[test]
fn arti_streams_are_optimistic_and_a_refusal_at_the_exit_is_said() {
    in_net(|net| {
        let rt = Runtime::new(net, "optimistic");
        let run = torify_arti_in(
            &rt,
            &[],
            &["curl", "-s", "-m", "60", &format!("http://{DEST_NAME}:81/")],
        );
        assert!(
            [52, 56].contains(&run.code),
            "curl's empty reply or receive failure: {run:?}"
        );
        let said = format!("{}{}", rt.log(), run.stderr);
        assert!(
            said.contains(&format!("the stream to {DEST_NAME}:81 failed")),
            "{said}"
        );
        let run = torify_arti_in(
            &rt,
            &[],
            &["curl", "-s", "-m", "60", &format!("http://{DEST_NAME}/")],
        );
        assert_eq!(run.stdout, PAGE, "{run:?}");
    });
}

#[test]
fn arti_backend_fetches_through_an_exit() {
    in_net(|net| {
        let run = torify_arti(
            net,
            &[],
            &["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")],
        );
        assert_eq!(run.stdout, PAGE, "{run:?}");
        assert!(
            run.stderr.contains("Tor is ready (embedded client"),
            "{}",
            run.stderr
        );
        // Progress into a pipe: plain lines, each further than the last, no terminal codes.
        assert!(
            !run.stderr.contains('\x1b') && !run.stderr.contains('\r'),
            "{:?}",
            run.stderr
        );
        let percents: Vec<u32> = run
            .stderr
            .lines()
            .filter_map(|l| l.strip_prefix("torify: bootstrapping Tor (embedded): "))
            .filter_map(|rest| rest.split('%').next()?.parse().ok())
            .collect();
        assert!(
            !percents.is_empty() && percents.windows(2).all(|w| w[0] < w[1]),
            "{}",
            run.stderr
        );
        let quiet = torify_arti(
            net,
            &["-q"],
            &["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")],
        );
        assert_eq!(quiet.stdout, PAGE);
        assert_eq!(quiet.stderr, "", "-q must keep the embedded client silent");
    });
}

#[test]
fn arti_backend_reaches_the_onion_service_by_ssh() {
    in_net(|net| {
        let mut args = vec!["ssh".to_owned()];
        args.extend(net.ssh_options());
        args.push(format!("{}@{}", net.ssh_user, net.onion));
        args.push("echo onion-through-arti".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = torify_arti(net, &[], &args);
        assert_eq!(run.stdout.trim(), "onion-through-arti", "{run:?}");
    });
}

#[test]
fn arti_backend_answers_resolve_and_resolve_ptr() {
    in_net(|net| {
        let dns = artifacts::probe("dns");
        let run = torify_arti(
            net,
            &["--dns", "resolve"],
            &[
                dns.to_str().unwrap(),
                "gai",
                "arti-lookup.test",
                "80",
                "inet",
            ],
        );
        assert!(
            run.stdout.contains("result addr=198.51.100.7 port=80"),
            "{run:?}"
        );
        let run = torify_arti(net, &[], &[dns.to_str().unwrap(), "ghba", "198.51.100.7"]);
        assert!(
            run.stdout.contains(&format!("hostent=ok name={DEST_NAME}")),
            "{run:?}"
        );
        let run = torify_arti(
            net,
            &["--dns", "resolve"],
            &[dns.to_str().unwrap(), "gai", "absent-name.invalid"],
        );
        assert!(run.stdout.contains("gai=EAI_NONAME"), "{run:?}");
    });
}

/// The circuit each stream used, from the launcher's debug lines ("stream to HOST on Circ N").
fn arti_circuits(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("stream to ").map(|(_, rest)| rest))
        .filter_map(|rest| {
            rest.split_once(" on ")
                .map(|(_, circ)| circ.trim().to_owned())
        })
        .collect()
}

#[test]
fn arti_backend_isolates_by_socks_credentials() {
    in_net(|net| {
        let script = format!(
            "curl -s http://{DEST_NAME}/ >/dev/null; curl -s http://{DEST_NAME}/ >/dev/null"
        );
        // The streams' circuits are in the log of the service the command started (-d), or,
        // in the cage (which hosts its own client), on the command's stderr.
        let rt = Runtime::new(net, "iso");
        let isolated = torify_arti_in(&rt, &["-d", "-i"], &["sh", "-c", &script]);
        let circuits = arti_circuits(&format!("{}{}", isolated.stderr, rt.log()));
        assert_eq!(circuits.len(), 2, "{isolated:?}\n{}", rt.log());
        assert_ne!(
            circuits[0], circuits[1],
            "two isolated processes shared a circuit"
        );
        drop(rt);
        // The control: without isolation the embedded client reuses the circuit.
        let rt = Runtime::new(net, "iso");
        let shared = torify_arti_in(&rt, &["-d"], &["sh", "-c", &script]);
        let circuits = arti_circuits(&format!("{}{}", shared.stderr, rt.log()));
        assert_eq!(circuits.len(), 2, "{shared:?}\n{}", rt.log());
        assert_eq!(
            circuits[0], circuits[1],
            "without isolation the circuit should be reused"
        );
    });
}

#[test]
fn auto_backend_picks_the_daemon_when_it_answers_and_never_stands_in_for_a_named_port() {
    in_net(|net| {
        let port = |extra: &[&str]| {
            let mut cmd = Command::new(artifacts::torify());
            cmd.args(["--backend", "auto", "-c"])
                .arg(&net.arti_config)
                .args(extra)
                .args(["sh", "-c", "echo port=${TORSOCKS_TOR_PORT:-default}"])
                .stdin(Stdio::null());
            probe::run(&mut cmd)
        };
        // The tor client answers on 9050: the daemon is used, the command execs directly.
        let run = port(&[]);
        assert!(run.stdout.contains("port=default"), "{run:?}");
        assert!(!run.stderr.contains("embedded"), "{}", run.stderr);
        // Nothing answers on 9999, but the user named it: the daemon there, not the embedded
        // client (which would reach relays the user did not choose).
        let run = port(&["-P", "9999"]);
        assert!(run.stdout.contains("port=9999"), "{run:?}");
        assert!(!run.stderr.contains("embedded"), "{}", run.stderr);
    });
}

#[test]
fn arti_backend_passes_signals_and_exit_status() {
    in_net(|net| {
        let run = torify_arti(net, &["-q"], &["sh", "-c", "exit 42"]);
        assert_eq!(run.code, 42, "{run:?}");
        assert_eq!(run.stderr, "", "-q must keep the embedded client silent");
        let dir = net.dir.join("signals");
        std::fs::create_dir_all(&dir).unwrap();
        // A signal a process sends the launcher (kill, a service manager) reaches the command:
        // the ones that end it become its status; SIGWINCH (a resized ssh session) is seen.
        for (sig, expected) in [
            (libc::SIGTERM, 128 + libc::SIGTERM),
            (libc::SIGHUP, 128 + libc::SIGHUP),
            (libc::SIGINT, 128 + libc::SIGINT),
            (libc::SIGWINCH, 7),
        ] {
            let started = dir.join(format!("started-{sig}"));
            let script = format!(
                "trap 'exit 7' WINCH; touch {}; sleep 60 & wait",
                started.display()
            );
            let rt = Runtime::new(net, "signals");
            let mut cmd = rt.torify();
            cmd.args(["--backend", "arti", "-q", "-c"])
                .arg(&net.arti_config)
                .args(["sh", "-c", &script]);
            let mut child = cmd.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !started.exists() {
                assert!(Instant::now() < deadline, "the command never started");
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(child.id() as i32, sig) };
            let status = child.wait().unwrap();
            assert_eq!(status.code(), Some(expected), "signal {sig}: {status:?}");
        }
    });
}

#[test]
fn arti_progress_updates_one_line_in_place_on_a_terminal() {
    in_net(|net| {
        // script(1) gives the launcher a terminal for stderr.
        let rt = Runtime::new(net, "tty");
        // A narrow terminal: each progress line is cut to fit it.
        let line = format!(
            "stty cols 40; {} --backend arti -c {} true",
            artifacts::torify().display(),
            net.arti_config.display()
        );
        let run = probe::run(
            Command::new("script")
                .args(["-q", "-e", "-c", &line, "/dev/null"])
                .env("XDG_RUNTIME_DIR", &rt.dir)
                .stdin(Stdio::null()),
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stdout
                .contains("\rtorify: bootstrapping Tor (embedded): "),
            "{run:?}"
        );
        assert!(run.stdout.contains("\x1b[K"), "{run:?}");
        assert!(
            !run.stdout.contains("\ntorify: bootstrapping"),
            "progress on a terminal must not scroll: {run:?}"
        );
        for drawn in run
            .stdout
            .split('\r')
            .filter(|d| d.contains("bootstrapping"))
        {
            let text = drawn.split("\x1b[K").next().unwrap_or_default();
            assert!(
                text.chars().count() < 40,
                "wider than the terminal: {text:?}"
            );
        }
    });
}

/// An embedded client whose only directory cache is at `fallback`.
fn unreachable_network(dir: &std::path::Path, timeout: u32, fallback: &str) -> PathBuf {
    let config = dir.join("unreachable.toml");
    std::fs::write(
        &config,
        format!(
            "[arti]\nstate_dir = \"{d}/state\"\ncache_dir = \"{d}/cache\"\nbootstrap_timeout = {timeout}\n\n\
             [arti.network]\nauthorities = [{{ v3ident = \"3D8969A8B90A1EDF919EC3410FEE62BD48149BB7\", address = \"127.0.0.1:7999\" }}]\n\
             fallbacks = [{{ rsa_identity = \"E0765DFD6C774410EAD6993BF1AA589D16EEEB3B\", ed_identity = \"FlrqyXkVOag3EIr4IozeDNETEOehYtYTUspuLAZOPns\", orports = [\"{fallback}\"] }}]\n\
             allow_local_addrs = true\n",
            d = dir.display()
        ),
    )
    .unwrap();
    config
}

/// A directory of its own under /tmp, removed when dropped, also when an assertion fails.
fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

/// No relay reachable (the only one refuses connections): one line within seconds, not after
/// arti's minute of trying; nothing runs.
#[test]
fn arti_without_any_reachable_relay_says_so_within_seconds() {
    netns::isolated(|_| {
        let tmp = scratch("torify-arti-offline-");
        let dir = tmp.path().to_owned();
        let config = unreachable_network(&dir, 120, "127.0.0.1:5999");
        let rt = Runtime::under(&dir, "offline", &config);
        let marker = dir.join("ran");
        let started = Instant::now();
        let run = probe::run(
            rt.torify()
                .args(["--backend", "arti", "-c"])
                .arg(&config)
                .args(["touch", marker.to_str().unwrap()]),
        );
        let took = started.elapsed();
        assert_eq!(run.code, 125, "{run:?}");
        assert!(!marker.exists(), "the command ran without Tor");
        let last = run.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("cannot reach any Tor relay: of 1 it bootstraps from, 1 refused or unreachable; nothing was run"),
            "{run:?}"
        );
        assert!(took < Duration::from_secs(10), "{took:?}");
        // The service it started gave up and left: nothing answers, no socket stays.
        assert_eq!(rt.pid(), None);
        assert!(!rt.service_dir().join("socks.sock").exists());
        drop(rt);
    });
}

#[test]
fn arti_bootstrap_past_its_deadline_runs_nothing() {
    netns::isolated(|_| {
        let tmp = scratch("torify-arti-deadline-");
        let dir = tmp.path().to_owned();
        // A relay address that takes connections and never answers: the probe cannot rule the
        // network out in time, so the deadline decides.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = unreachable_network(&dir, 3, &silent.local_addr().unwrap().to_string());
        let rt = Runtime::under(&dir, "deadline", &config);
        let marker = dir.join("ran");
        let touch_marker = || {
            probe::run(
                rt.torify()
                    .args(["--backend", "arti", "-c"])
                    .arg(&config)
                    .args(["touch", marker.to_str().unwrap()]),
            )
        };
        let started = Instant::now();
        let run = touch_marker();
        assert_eq!(run.code, 125, "{run:?}");
        assert!(!marker.exists(), "the command ran without Tor");
        assert!(
            run.stderr.contains("Tor did not bootstrap within 3s")
                && run.stderr.contains("nothing was run")
                && run.stderr.contains("arti.bootstrap_timeout"),
            "{}",
            run.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        // The directories it made are its user's alone.
        for sub in ["state", "cache"] {
            let mode = std::fs::metadata(dir.join(sub))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{sub}");
        }
        // An invalid table: one line, nothing run, no client started.
        std::fs::write(&config, "[arti]\nbootstrap_timeout = -1\n").unwrap();
        let run = touch_marker();
        assert_eq!(run.code, 125, "{run:?}");
        assert!(!marker.exists());
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("arti.bootstrap_timeout"),
            "{}",
            run.stderr
        );
        drop(rt);
        drop(silent);
    });
}
