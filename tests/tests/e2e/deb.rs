//! The Debian package (`make deb`, packaging/deb/): built and checked by lintian, installed with
//! dpkg into a root of this test's own, its `torsocks curl` through the private network, purged,
//! and nothing of it left behind; tor's `/usr/bin/torify`, diverted meanwhile, back as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use torify_tests::artifacts;
use torify_tests::probe;
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::root::Root;
use super::{in_net, scratch};

/// What dpkg keeps for itself (its database with the diversions list, its log, the man-db
/// cache its trigger rebuilds): not files of the package, so not looked at.
const DPKG_OWN: [&str; 3] = ["var/lib/dpkg", "var/log", "var/cache"];

/// What a command printed on stdout, trimmed; the test fails when it fails.
fn output_of(program: &str, args: &[&str]) -> String {
    let run = probe::run(Command::new(program).args(args));
    assert_eq!(run.code, 0, "{program} {args:?}: {run:?}");
    run.stdout.trim().to_owned()
}

/// The diversions the package makes, as `dpkg-divert --list` shows them: one per path of
/// packaging/deb/diversions, to PATH.distrib.
fn diversions(repo: &Path) -> Vec<String> {
    let list = std::fs::read_to_string(repo.join("packaging/deb/diversions")).unwrap();
    let mut out: Vec<String> = list
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|path| format!("diversion of {path} to {path}.distrib by torify"))
        .collect();
    out.sort();
    out
}

/// The diversions in `root` that torify made, as `dpkg-divert --list` shows them.
fn diverted_by_torify(root: &Root) -> Vec<String> {
    let list = root.run(&["dpkg-divert", "--list"]);
    assert_eq!(list.code, 0, "{list:?}");
    let mut out: Vec<String> = list
        .stdout
        .lines()
        .filter(|l| l.ends_with(" by torify"))
        .map(str::to_owned)
        .collect();
    out.sort();
    out
}

/// `make deb`, lintian without errors; then in a fresh root: `dpkg -i` diverts tor's torify
/// and torsocks' torsocks, the installed `torsocks curl` fetches the page through Tor with the
/// library from the multiarch directory, `dpkg --purge` removes every file and diversion and
/// gives tor its torify back.
#[test]
fn make_deb_installs_runs_through_tor_and_purges_to_nothing() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Checks that the binaries the package is made of are fresh.
    artifacts::torify();
    artifacts::library();
    let tor_torify = std::fs::read("/usr/bin/torify").expect(
        "tor's /usr/bin/torify (tests/install-deps installs tor): the diversion is under test",
    );
    let out = scratch("torify-deb-out-");
    let target = artifacts::target_dir();
    let make = probe::run(
        Command::new("make")
            .args(["-s", "--no-print-directory", "-C"])
            .arg(&repo)
            .arg("deb")
            .arg(format!(
                "CARGO_TARGET_DIR={}",
                target.parent().unwrap().display()
            ))
            .arg(format!("DEBDIR={}", out.path().display())),
    );
    assert_eq!(make.code, 0, "make deb: {make:?}");
    // lintian ran (tests/install-deps installs it) and found no error.
    assert!(make.stderr.contains("lintian: no errors\n"), "{make:?}");
    let deb = PathBuf::from(make.stdout.trim_end());
    let version = env!("CARGO_PKG_VERSION");
    let arch = output_of("dpkg", &["--print-architecture"]);
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("torify_{version}-")) && name.ends_with(&format!("_{arch}.deb")),
        "{name}"
    );
    let triplet = output_of("dpkg-architecture", &["-qDEB_HOST_MULTIARCH"]);
    in_net(|_| {
        let root = Root::new();
        std::fs::copy(&deb, root.path("/tmp/torify.deb")).unwrap();
        let install = root.run(&["dpkg", "-i", "/tmp/torify.deb"]);
        assert_eq!(install.code, 0, "dpkg -i: {install:?}");
        assert_eq!(diverted_by_torify(&root), diversions(&repo));
        // /usr/bin/torify is ours; tor's is beside it, as it was.
        let ours = root.run(&["torify", "--version"]);
        assert_eq!(ours.stdout, format!("torify {version}\n"), "{ours:?}");
        assert_eq!(
            std::fs::read(root.path("/usr/bin/torify.distrib")).unwrap(),
            tor_torify,
            "tor's torify, moved aside"
        );
        let show = root.run(&["torify", "show"]);
        for line in [
            "# settings file: /etc/torify/torify.toml".to_owned(),
            format!("# library: /usr/lib/{triplet}/torify/libtorify.so"),
            format!("# embedded client's service: /usr/lib/{triplet}/torify/torify-serve"),
        ] {
            assert!(show.stdout.lines().any(|l| l == line), "{line}: {show:?}");
        }
        let run = root.run(&[
            "torsocks",
            "curl",
            "-s",
            "-m",
            "90",
            &format!("http://{DEST_NAME}/"),
        ]);
        assert_eq!((run.code, run.stdout.as_str()), (0, PAGE), "{run:?}");

        let purge = root.run(&["dpkg", "--purge", "torify"]);
        assert_eq!(purge.code, 0, "dpkg --purge: {purge:?}");
        assert_eq!(diverted_by_torify(&root), Vec::<String>::new());
        let status = root.run(&["dpkg-query", "-W", "torify"]);
        assert_ne!(status.code, 0, "dpkg still knows torify: {status:?}");
        assert_eq!(
            std::fs::read(root.path("/usr/bin/torify")).unwrap(),
            tor_torify,
            "tor's torify, back in its place"
        );
        assert_eq!(root.differences(&DPKG_OWN), Vec::<String>::new());
    });
}
