//! Link-time use: a program linked with `-ltorify` (through the installed `torify.pc`) gets the
//! same interception with LD_PRELOAD unset, as libsocks' SOCKSified builds did.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use torify_tests::artifacts;
use torify_tests::capture::{Capture, leak_filter};
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run};

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_program_linked_with_ltorify_goes_through_tor_without_ld_preload() {
    let prefix = tempfile::tempdir().unwrap();
    let target = artifacts::target_dir();
    ok(Command::new("make")
        .arg("-C")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .arg("install")
        .arg(format!("PREFIX={}", prefix.path().display()))
        .arg(format!(
            "CARGO_TARGET_DIR={}",
            target.parent().unwrap().display()
        )));
    let libs = ok(Command::new("pkg-config")
        .args(["--libs", "torify"])
        .env("PKG_CONFIG_PATH", prefix.path().join("lib/pkgconfig")));
    assert!(libs.contains("-ltorify"), "{libs}");
    let linked = prefix.path().join("probe-linked");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/probe.c");
    ok(Command::new("sh").arg("-c").arg(format!(
        "gcc -O1 -o {} {} {libs}",
        linked.display(),
        source.display()
    )));
    let needed = ok(Command::new("sh")
        .arg("-c")
        .arg(format!("readelf -d {} | grep NEEDED", linked.display())));
    assert!(needed.contains("libtorify.so"), "{needed}");

    isolated(|_| {
        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        let cap = Capture::start(&leak_filter(socks.port()));
        let run_linked = |args: &[&str]| -> Run {
            probe::run(
                Command::new(&linked)
                    .args(args)
                    .env_clear()
                    .env("PATH", "/usr/bin:/bin")
                    .env("TORSOCKS_TOR_ADDRESS", "127.0.0.1")
                    .env("TORSOCKS_TOR_PORT", socks.port().to_string()),
            )
        };
        let run = run_linked(&["tcp", "198.51.100.7", "80", "linked"]);
        assert_eq!(run.errno("connect"), "0", "{run:?}");
        assert_eq!(run.value("reply"), Some("linked"), "{run:?}");
        let seen = socks.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!((seen[0].host.as_str(), seen[0].port), ("198.51.100.7", 80));
        // And what Tor cannot carry is refused, as under LD_PRELOAD.
        let run = run_linked(&["udp-sendto", "198.51.100.7", "53"]);
        assert_eq!(run.errno("socket"), "EPERM", "{run:?}");
        std::thread::sleep(Duration::from_millis(200));
        let leaks = cap.stop();
        assert!(leaks.is_empty(), "{leaks:#?}");
    });
}
