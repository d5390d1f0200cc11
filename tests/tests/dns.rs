//! Every name-resolution entry point under torify: answered through the mock Tor's RESOLVE and
//! RESOLVE_PTR (or locally), with no DNS packet leaving. resolv.conf points at 198.51.100.7 in
//! the "remote" namespace, so a leaked query would be on the wire for tcpdump to see; the
//! control test proves it would be.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::capture::{Capture, leak_filter};
use torify_tests::mock::{Behaviour, MockSocks, Seen};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run};

const ONION_A: &str = "aeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaea37ead.onion";
const ONION_B: &str = "aibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibejsqd.onion";
const ONION_C: &str = "ambqgaydambqgaydambqgaydambqgaydambqgaydambqgaydambqoyyd.onion";

fn resolver() -> MockSocks {
    MockSocks::start(
        "127.0.0.1:0",
        Behaviour {
            resolve: vec![
                ("web.test".into(), "198.51.100.7".parse().unwrap()),
                ("v6only.test".into(), "2001:db8::7".parse().unwrap()),
            ],
            ptr: vec![("198.51.100.7".parse().unwrap(), "web.test".into())],
            ..Behaviour::default()
        },
    )
    .unwrap()
}

/// A resolv.conf naming the remote host, so that a query that escapes goes on the wire.
fn resolv_conf(dir: &Path) -> PathBuf {
    let path = dir.join("resolv.conf");
    std::fs::write(
        &path,
        "nameserver 198.51.100.7\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    path
}

/// Runs the dns probe (under torify when `socks` is given) in a mount namespace where
/// /etc/resolv.conf is `conf`, capturing every packet but the SOCKS conversation.
fn dns(
    socks: Option<&MockSocks>,
    conf: &Path,
    extra: &[&str],
    args: &[&str],
) -> (Run, Vec<String>) {
    dns_in(Mode::Resolve, socks, conf, extra, args)
}

/// Where names are resolved (`dns.mode`): most of this suite checks what reaches Tor's
/// RESOLVE, so it pins `resolve`; the `exit` rows check the stand-in pool.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Resolve,
    Exit,
}

fn dns_in(
    mode: Mode,
    socks: Option<&MockSocks>,
    conf: &Path,
    extra: &[&str],
    args: &[&str],
) -> (Run, Vec<String>) {
    let port = socks.map_or(9, MockSocks::port);
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .stdin(Stdio::null())
        .args([
            "--mount",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
        ])
        .arg(conf);
    if socks.is_some() {
        let mode = match mode {
            Mode::Resolve => "resolve",
            Mode::Exit => "exit",
        };
        cmd.arg(artifacts::torify())
            .args(["-a", "127.0.0.1", "-P", &port.to_string(), "--dns", mode])
            .args(extra);
    }
    cmd.arg(artifacts::probe("dns")).args(args);
    let cap = Capture::start(&leak_filter(port));
    let run = probe::run(&mut cmd);
    std::thread::sleep(Duration::from_millis(300));
    (run, cap.stop())
}

fn resolves(seen: &[Seen]) -> Vec<(u8, String)> {
    seen.iter().map(|s| (s.command, s.host.clone())).collect()
}

/// One row: probe arguments, lines the output must contain, the requests the mock must have
/// seen (0xF0 RESOLVE, 0xF1 RESOLVE_PTR, 0x01 CONNECT).
type Row<'a> = (&'a [&'a str], &'a [&'a str], &'a [(u8, &'a str)]);

fn check_rows(rows: &[Row<'_>]) {
    check_rows_in(Mode::Resolve, rows);
}

fn check_rows_in(mode: Mode, rows: &[Row<'_>]) {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let conf = resolv_conf(dir.path());
        // Each row's mock lives until every row is done: a mock that stops closes its last
        // connections after a while, and their packets would fall into the next row's capture.
        let mut done = Vec::new();
        for (args, want, requests) in rows {
            let socks = resolver();
            let (run, leaks) = dns_in(mode, Some(&socks), &conf, &[], args);
            for line in *want {
                assert!(
                    run.stdout.contains(line),
                    "{args:?}: no {line:?} in\n{}\n{}",
                    run.stdout,
                    run.stderr
                );
            }
            let want_requests: Vec<(u8, String)> =
                requests.iter().map(|(c, h)| (*c, h.to_string())).collect();
            assert_eq!(
                resolves(&socks.seen()),
                want_requests,
                "{args:?}: {}",
                run.stderr
            );
            assert!(leaks.is_empty(), "{args:?} leaked:\n{leaks:#?}");
            done.push(socks);
        }
    });
}

#[test]
fn control_without_torify_the_capture_sees_the_dns_query() {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let conf = resolv_conf(dir.path());
        let (run, packets) = dns(None, &conf, &[], &["gai", "web.test"]);
        assert!(
            run.stdout.contains("gai=EAI_AGAIN") || run.stdout.contains("gai=EAI_NONAME"),
            "{run:?}"
        );
        assert!(
            packets.iter().any(|p| p.contains("198.51.100.7.53:")),
            "the capture did not see the resolver's query, so it could not see a leak either: {packets:#?}"
        );
    });
}

#[test]
fn getaddrinfo_every_hint_combination() {
    check_rows(&[
        (
            &["gai", "web.test"],
            &["gai=0", "result addr=198.51.100.7 port=0", "count=1"],
            &[(0xF0, "web.test")],
        ),
        (
            &["gai", "web.test", "http", "inet", "canonname"],
            &["result addr=198.51.100.7 port=80", "canonname=web.test"],
            &[(0xF0, "web.test")],
        ),
        (
            &["gai", "web.test", "443", "inet6"],
            &["result addr=::ffff:198.51.100.7 port=443"],
            &[(0xF0, "web.test")],
        ),
        (
            &["gai", "web.test", "443", "inet6", "v4mapped", "all"],
            &["result addr=::ffff:198.51.100.7 port=443"],
            &[(0xF0, "web.test")],
        ),
        (
            &["gai", "web.test", "80", "unspec", "addrconfig", "anysock"],
            &["gai=0", "addr=198.51.100.7 port=80"],
            &[(0xF0, "web.test")],
        ),
        // torsocks 2.4 hands a null hints pointer to libc, which resolves (and leaks).
        (
            &["gai", "web.test", "80", "unspec", "nohints"],
            &["gai=0", "addr=198.51.100.7 port=80"],
            &[(0xF0, "web.test")],
        ),
        (
            &["gai", "ignored", "8080", "unspec", "passive", "nullnode"],
            &["gai=0", "port=8080"],
            &[],
        ),
        (
            &["gai", "ignored", "8080", "inet", "nullnode"],
            &["result addr=127.0.0.1 port=8080"],
            &[],
        ),
        (
            &["gai", "198.51.100.9", "80"],
            &["result addr=198.51.100.9 port=80"],
            &[],
        ),
        (
            &["gai", "2001:db8::9", "80"],
            &["result addr=2001:db8::9 port=80"],
            &[],
        ),
        (
            &["gai", "127.1", "80"],
            &["result addr=127.0.0.1 port=80"],
            &[],
        ),
        (
            &["gai", "web.test", "80", "unspec", "numerichost"],
            &["gai=EAI_NONAME"],
            &[],
        ),
        (
            &["gai", "198.51.100.9", "http", "inet", "numericserv"],
            &["gai=EAI_NONAME"],
            &[],
        ),
        (
            &["gai", "localhost", "80", "inet"],
            &["result addr=127.0.0.1 port=80"],
            &[],
        ),
        (
            &["gai", "nosuch.test"],
            &["gai=EAI_NONAME", "count=0"],
            &[(0xF0, "nosuch.test")],
        ),
        (
            &["gai", "v6only.test", "80"],
            &["result addr=2001:db8::7 port=80"],
            &[(0xF0, "v6only.test")],
        ),
        (
            &["gai", "v6only.test", "80", "inet"],
            &["gai=EAI_NODATA"],
            &[(0xF0, "v6only.test")],
        ),
        (&["gai", "web.test", "80", "42"], &["gai=EAI_FAMILY"], &[]),
        (
            &["gai_a", "web.test"],
            &["gai_a=0 error=0", "result addr=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
    ]);
}

#[test]
fn gethostbyname_family() {
    check_rows(&[
        (
            &["ghbn", "web.test"],
            &["hostent=ok name=web.test length=4", "hostaddr=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["ghbn", "nosuch.test"],
            &["hostent=NULL h_errno=HOST_NOT_FOUND"],
            &[(0xF0, "nosuch.test")],
        ),
        (&["ghbn", "198.51.100.9"], &["hostaddr=198.51.100.9"], &[]),
        (&["ghbn", "localhost"], &["hostaddr=127.0.0.1"], &[]),
        (
            &["ghbn_r", "web.test"],
            &[
                "rc=0",
                "hostent=ok name=web.test",
                "hostaddr=198.51.100.7",
                "small_rc=ERANGE",
            ],
            &[(0xF0, "web.test"), (0xF0, "web.test")],
        ),
        (
            &["ghbn_r", "nosuch.test"],
            &["hostent=NULL h_errno=HOST_NOT_FOUND"],
            &[(0xF0, "nosuch.test"), (0xF0, "nosuch.test")],
        ),
        (
            &["ghbn2", "web.test", "inet6"],
            &[
                "hostent=ok name=web.test length=16",
                "hostaddr=::ffff:198.51.100.7",
            ],
            &[(0xF0, "web.test")],
        ),
        (
            &["ghbn2", "v6only.test", "inet6"],
            &["hostaddr=2001:db8::7"],
            &[(0xF0, "v6only.test")],
        ),
        (
            &["ghbn2", "v6only.test", "inet"],
            &["hostent=NULL h_errno=NO_DATA"],
            &[(0xF0, "v6only.test")],
        ),
        (
            &["ghbn2_r", "web.test", "inet"],
            &["rc=0", "hostaddr=198.51.100.7"],
            &[(0xF0, "web.test"), (0xF0, "web.test")],
        ),
    ]);
}

#[test]
fn reverse_lookups() {
    check_rows(&[
        (
            &["ghba", "198.51.100.7"],
            &["hostent=ok name=web.test", "hostaddr=198.51.100.7"],
            &[(0xF1, "198.51.100.7")],
        ),
        (
            &["ghba", "198.51.100.99"],
            &["hostent=NULL h_errno=HOST_NOT_FOUND"],
            &[(0xF1, "198.51.100.99")],
        ),
        (
            &["ghba_r", "198.51.100.7"],
            &["rc=0", "name=web.test"],
            &[(0xF1, "198.51.100.7")],
        ),
        (&["ghba", "127.0.0.1"], &["name=localhost"], &[]),
        (
            &["gni", "198.51.100.7", "80"],
            &["gni=0 host=web.test"],
            &[(0xF1, "198.51.100.7")],
        ),
        (
            &["gni", "198.51.100.7", "80", "namereqd"],
            &["gni=0 host=web.test"],
            &[(0xF1, "198.51.100.7")],
        ),
        (
            &["gni", "198.51.100.99", "80"],
            &["gni=0 host=198.51.100.99"],
            &[(0xF1, "198.51.100.99")],
        ),
        (
            &["gni", "198.51.100.99", "80", "namereqd"],
            &["gni=EAI_NONAME"],
            &[(0xF1, "198.51.100.99")],
        ),
        (
            &["gni", "198.51.100.7", "80", "numerichost", "numericserv"],
            &["gni=0 host=198.51.100.7 serv=80"],
            &[],
        ),
        (
            &["gni", "::1", "22", "numericserv"],
            &["gni=0 host=localhost serv=22"],
            &[],
        ),
    ]);
}

#[test]
fn raw_resolver_api() {
    check_rows(&[
        (
            &["resq", "web.test", "A"],
            &["rcode=0 ancount=1", "record=198.51.100.7 ttl=60"],
            &[(0xF0, "web.test")],
        ),
        (
            &["__resq", "web.test", "A"],
            &["record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["resq", "nosuch.test", "A"],
            &["len=-1 h_errno=HOST_NOT_FOUND"],
            &[(0xF0, "nosuch.test")],
        ),
        (
            &["resq", "web.test", "AAAA"],
            &["len=-1 h_errno=NO_DATA"],
            &[(0xF0, "web.test")],
        ),
        (
            &["resq", "v6only.test", "AAAA"],
            &["record=2001:db8::7"],
            &[(0xF0, "v6only.test")],
        ),
        (
            &["resq", "7.100.51.198.in-addr.arpa", "PTR"],
            &["record=web.test"],
            &[(0xF1, "198.51.100.7")],
        ),
        (
            &["resq", "web.test", "MX"],
            &["len=-1 h_errno=NO_RECOVERY"],
            &[],
        ),
        (
            &["resq", "web.test", "TXT"],
            &["len=-1 h_errno=NO_RECOVERY"],
            &[],
        ),
        (
            &["ress", "web.test", "A"],
            &["record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["resqd", "web", "test", "A"],
            &["record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["resnq", "web.test", "A"],
            &["record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["ressend", "web.test", "A"],
            &["rcode=0 ancount=1", "record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (
            &["ressend", "nosuch.test", "A"],
            &["rcode=3 ancount=0"],
            &[(0xF0, "nosuch.test")],
        ),
        (
            &["resnsend", "web.test", "A"],
            &["record=198.51.100.7"],
            &[(0xF0, "web.test")],
        ),
        (&["resnsend", "web.test", "MX"], &["rcode=5 ancount=0"], &[]),
    ]);
}

#[test]
fn onion_names_get_stand_in_addresses_and_connect_by_name() {
    check_rows(&[
        (
            &["gai", ONION_A, "80"],
            &["result addr=127.42.42.1 port=80"],
            &[],
        ),
        (&["ghbn", ONION_A], &["hostaddr=127.42.42.1"], &[]),
        (
            &["connect", ONION_A, "80", "ping"],
            &["addr=127.42.42.1 port=80", "connect=0", "reply=ping"],
            &[(0x01, ONION_A)],
        ),
        (
            &["connect", &ONION_B.to_uppercase(), "22"],
            &["connect=0"],
            &[(0x01, ONION_B)],
        ),
        (
            &["gai-each", ONION_A, ONION_B, ONION_A],
            &[
                &format!("name={ONION_A} gai=0 addr=127.42.42.1"),
                &format!("name={ONION_B} gai=0 addr=127.42.42.2"),
            ],
            &[],
        ),
        (
            &["gai", "expyuzz4wqqyqhjn.onion", "80"],
            &["gai=EAI_NONAME"],
            &[],
        ),
        (
            &[
                "gai",
                "aeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaea37eae.onion",
            ],
            &["gai=EAI_NONAME"],
            &[],
        ),
        (&["gai", "www.example.com.exit"], &["gai=EAI_NONAME"], &[]),
        (&["rcmd", "web.test"], &["rcmd=-1 errno=EPERM"], &[]),
    ]);
}

#[test]
fn refused_names_are_explained_and_the_onion_pool_fills_up() {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let conf = resolv_conf(dir.path());
        let socks = resolver();
        let (run, _) = dns(Some(&socks), &conf, &[], &["gai", "expyuzz4wqqyqhjn.onion"]);
        assert!(
            run.stderr
                .contains("not a valid onion address: a v2 onion address"),
            "{}",
            run.stderr
        );
        let (run, _) = dns(
            Some(&socks),
            &conf,
            &[],
            &["gai", "web.test", "80", "inet", "x"],
        );
        assert!(run.stdout.contains("gai=0"));

        let socks = resolver();
        let small = dir.path().join("small.toml");
        std::fs::write(&small, "[dns]\nonion_range = \"127.42.42.0/30\"\n").unwrap();
        let (run, leaks) = dns(
            Some(&socks),
            &conf,
            &["-c", small.to_str().unwrap()],
            &["gai-each", ONION_A, ONION_B, ONION_C, ONION_A],
        );
        assert!(
            run.stdout
                .contains(&format!("name={ONION_B} gai=0 addr=127.42.42.2")),
            "{run:?}"
        );
        assert!(
            run.stdout.contains(&format!("name={ONION_C} gai=EAI_FAIL")),
            "{run:?}"
        );
        assert!(
            run.stdout
                .contains(&format!("name={ONION_A} gai=0 addr=127.42.42.1")),
            "{run:?}"
        );
        assert!(
            run.stderr.contains("127.42.42.0/30 (2 names) is taken"),
            "{}",
            run.stderr
        );
        assert!(leaks.is_empty(), "{leaks:#?}");
        assert!(
            socks.seen().is_empty(),
            "onion names reached RESOLVE: {:?}",
            socks.seen()
        );
    });
}

#[test]
fn extended_onion_errors_reach_the_program() {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let conf = resolv_conf(dir.path());
        for (code, words) in [
            (0xF0u8, "onion service descriptor not found"),
            (0xF2, "introduction failed"),
            (0xF5, "rejected the client authorization"),
        ] {
            let socks = MockSocks::start(
                "127.0.0.1:0",
                Behaviour {
                    reply: code,
                    ..Behaviour::default()
                },
            )
            .unwrap();
            let (run, _) = dns(Some(&socks), &conf, &[], &["connect", ONION_A, "80"]);
            assert!(run.stdout.contains("connect=-1"), "{run:?}");
            assert!(
                run.stderr.contains(words) && run.stderr.contains(ONION_A),
                "{}",
                run.stderr
            );
        }
    });
}

#[test]
fn names_resolved_at_the_exit_get_stand_ins_and_connect_by_name() {
    check_rows_in(
        Mode::Exit,
        &[
            // No round trip at lookup: the answer is a stand-in, nothing reaches Tor.
            (
                &["gai", "web.test", "80"],
                &["gai=0", "result addr=127.192.0.1 port=80", "count=1"],
                &[],
            ),
            (
                &["gai", "web.test", "443", "inet6"],
                &["result addr=::ffff:127.192.0.1 port=443"],
                &[],
            ),
            (&["ghbn", "web.test"], &["hostaddr=127.192.0.1"], &[]),
            (
                &["resq", "web.test", "A"],
                &["rcode=0 ancount=1", "record=127.192.0.1"],
                &[],
            ),
            // The connect carries the name, as the program wrote it but lowercase and without
            // the root dot.
            (
                &["connect", "web.test", "80", "ping"],
                &["addr=127.192.0.1 port=80", "connect=0", "reply=ping"],
                &[(0x01, "web.test")],
            ),
            (
                &["connect", "WEB.test.", "22"],
                &["connect=0"],
                &[(0x01, "web.test")],
            ),
            (
                &["gai-each", "a.test", "b.test", "a.test"],
                &[
                    "name=a.test gai=0 addr=127.192.0.1",
                    "name=b.test gai=0 addr=127.192.0.2",
                ],
                &[],
            ),
            // Local names, numbers and onion names are what they are in either mode.
            (&["gai", "localhost"], &["addr=127.0.0.1"], &[]),
            (
                &["gai", ONION_A, "80"],
                &["result addr=127.42.42.1 port=80"],
                &[],
            ),
            (&["gai", "www.example.com.exit"], &["gai=EAI_NONAME"], &[]),
            // A stand-in nobody in this session looked up leads nowhere.
            (
                &["connect", "127.192.0.9", "80"],
                &["connect=-1 errno=No route to host"],
                &[],
            ),
        ],
    );
}

/// One process looks the name up, another connects to the address and looks it back up: the
/// session's table of names carries it across fork and exec.
#[test]
fn a_stand_in_from_one_process_connects_in_another() {
    isolated(|_| {
        let socks = resolver();
        let probe = artifacts::probe("dns");
        let script = "\"$0\" gai web.test 80 && \"$0\" connect 127.192.0.1 80 ping && \
                      \"$0\" ghba 127.192.0.1 && (\"$0\" connect ::ffff:127.192.0.1 81)";
        let run = probe::run(
            Command::new(artifacts::torify())
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .args(["-a", "127.0.0.1", "-P", &socks.port().to_string()])
                .args(["--dns", "exit", "sh", "-c", script])
                .arg(&probe),
        );
        for want in [
            "result addr=127.192.0.1 port=80",
            "reply=ping",
            "name=web.test",
            "addr=::ffff:127.192.0.1 port=81",
        ] {
            assert!(run.stdout.contains(want), "no {want:?} in {run:?}");
        }
        assert_eq!(
            resolves(&socks.seen()),
            [(0x01, "web.test".to_owned()), (0x01, "web.test".to_owned())],
            "{}",
            run.stderr
        );
        // Without torify's launcher, the first process to need the table makes it for its
        // children.
        let lib = artifacts::library();
        let run = probe::run(
            Command::new("sh")
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("LD_PRELOAD", &lib)
                .env("TORSOCKS_TOR_PORT", socks.port().to_string())
                .env("TORIFY_DNS", "exit")
                .args([
                    "-c",
                    "\"$0\" gai web.test 80 && \"$0\" connect 127.192.0.1 80 ping",
                ])
                .arg(&probe),
        );
        assert!(run.stdout.contains("connect=-1"), "{run:?}");
        let run = probe::run(
            Command::new(&probe)
                .env_clear()
                .env("LD_PRELOAD", &lib)
                .env("TORSOCKS_TOR_PORT", socks.port().to_string())
                .env("TORIFY_DNS", "exit")
                .args(["gai-then-child", "web.test", "80"]),
        );
        assert!(run.stdout.contains("child connect=0"), "{run:?}");
    });
}

#[test]
fn tor_not_answering_is_a_temporary_failure() {
    isolated(|_| {
        let dir = tempfile::tempdir().unwrap();
        let conf = resolv_conf(dir.path());
        let socks = resolver();
        let port = socks.port();
        drop(socks);
        let mut cmd = probe::torify_after_mounting(
            port,
            "mount --bind \"$0\" /etc/resolv.conf",
            conf.as_os_str(),
        );
        cmd.args(["--dns", "resolve"])
            .arg(artifacts::probe("dns"))
            .args(["ghbn", "web.test"]);
        let cap = Capture::start(&leak_filter(port));
        let run = probe::run(&mut cmd);
        assert!(run.stdout.contains("h_errno=TRY_AGAIN"), "{run:?}");
        assert!(
            run.stderr.contains("cannot reach Tor's SOCKS port"),
            "{}",
            run.stderr
        );
        assert!(cap.stop().is_empty());
    });
}
