//! The Debian package (`make deb`, packaging/deb/): built and checked by lintian, installed with
//! dpkg into a root of this test's own, its `torsocks curl` through the private network, purged,
//! and nothing of it left behind; tor's `/usr/bin/torify`, diverted meanwhile, back as it was.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use torify_tests::artifacts;
use torify_tests::netns;
use torify_tests::probe::{self, Run};
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::{in_net, scratch};

/// Makes the root, in the mount namespace `unshare` gave this shell: a tmpfs on the scratch
/// directory ($1) holds the upper layer of an overlay whose lower layer is this machine's `/`,
/// mounted at $1/root, with /dev, /proc and an empty /tmp (where the package ($2) is put) as in
/// a real root; then says `ready` and holds the namespace until it is killed.
const MAKE_ROOT: &str = r#"
mount -t tmpfs -o mode=0755 tmpfs "$1"
mkdir "$1/upper" "$1/work" "$1/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$1/upper,workdir=$1/work" "$1/root"
mount --rbind /dev "$1/root/dev"
mount -t proc proc "$1/root/proc"
mount -t tmpfs tmpfs "$1/root/tmp"
cp "$2" "$1/root/tmp/torify.deb"
echo ready
exec sleep infinity
"#;

/// What dpkg keeps for itself (its database with the diversions list, its log, the man-db
/// cache its trigger rebuilds): not files of the package, so not looked at.
const DPKG_OWN: [&str; 3] = ["var/lib/dpkg", "var/log", "var/cache"];

/// A root of the test's own: an overlay of this machine's `/` (never written: every change
/// lands in the upper layer, a tmpfs, which therefore shows exactly what changed), in a mount
/// namespace that one process holds. The mounts vanish with that process, killed when this is
/// dropped (and when the thread that made it ends, PR_SET_PDEATHSIG), also when a test fails.
struct Root {
    holder: Child,
    dir: tempfile::TempDir,
}

impl Root {
    /// A new root with `deb` in its /tmp.
    fn new(deb: &Path) -> Root {
        let dir = scratch("torify-deb-root-");
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--mount", "--propagation", "private", "--"])
            .args(["sh", "-ec", MAKE_ROOT, "sh"])
            .arg(dir.path())
            .arg(deb)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut holder = netns::spawn_in(&mut unshare, None).expect("unshare (util-linux)");
        let mut line = String::new();
        let _ = BufReader::new(holder.stdout.take().expect("piped stdout")).read_line(&mut line);
        if line != "ready\n" {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("wait for unshare");
            panic!(
                "could not make a root (overlay of / on a tmpfs): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Root { holder, dir }
    }

    /// Where `inside` (an absolute path in the root) is, seen from here: through the holder's
    /// own view of the file system.
    fn path(&self, inside: &str) -> PathBuf {
        self.holder_view("root")
            .join(inside.trim_start_matches('/'))
    }

    /// The overlay's upper layer: everything written in the root.
    fn upper(&self) -> PathBuf {
        self.holder_view("upper")
    }

    fn holder_view(&self, layer: &str) -> PathBuf {
        let dir = self.dir.path().strip_prefix("/").expect("absolute scratch");
        Path::new(&format!("/proc/{}/root", self.holder.id()))
            .join(dir)
            .join(layer)
    }

    /// Runs `args` in the root (in the calling thread's network namespace), as root with a
    /// clean environment.
    fn run(&self, args: &[&str]) -> Run {
        probe::run(
            Command::new("nsenter")
                .arg(format!("--target={}", self.holder.id()))
                .args(["--mount", "--", "chroot"])
                .arg(self.dir.path().join("root"))
                .args([
                    "env",
                    "-i",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ])
                .args(["HOME=/root", "LC_ALL=C"])
                .args(args)
                .stdin(Stdio::null()),
        )
    }

    /// Every way the root differs from this machine, outside dpkg's own files: for each
    /// directory written in it, the names it holds that the machine's does not (left behind) or
    /// lacks (removed), and for each entry written, a different kind, owner, mode, content or
    /// link target. Empty when the root is as the machine is.
    fn differences(&self) -> Vec<String> {
        let root = self.path("/");
        let upper = self.upper();
        let mut out = Vec::new();
        let mut dirs = vec![PathBuf::new()];
        while let Some(dir) = dirs.pop() {
            let names = |base: &Path| -> BTreeSet<OsString> {
                std::fs::read_dir(base.join(&dir))
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .filter(|n| !DPKG_OWN.iter().any(|own| dir.join(n).starts_with(own)))
                    .collect()
            };
            let (here, host) = (names(root.as_path()), names(Path::new("/")));
            for name in here.difference(&host) {
                out.push(format!("/{}: left behind", dir.join(name).display()));
            }
            for name in host.difference(&here) {
                out.push(format!("/{}: removed", dir.join(name).display()));
            }
            // What was written here and is on the machine too: is it as the machine's?
            for name in names(upper.as_path())
                .iter()
                .filter(|n| here.contains(*n) && host.contains(*n))
            {
                let rel = dir.join(name);
                let (mine, theirs) = (root.join(&rel), Path::new("/").join(&rel));
                let (a, b) = (
                    std::fs::symlink_metadata(&mine).unwrap(),
                    std::fs::symlink_metadata(&theirs).unwrap(),
                );
                let what = if (a.mode(), a.uid(), a.gid()) != (b.mode(), b.uid(), b.gid()) {
                    Some(format!(
                        "mode {:o} owner {}:{} (the machine's: {:o} {}:{})",
                        a.mode(),
                        a.uid(),
                        a.gid(),
                        b.mode(),
                        b.uid(),
                        b.gid()
                    ))
                } else if a.is_dir() {
                    dirs.push(rel);
                    None
                } else if a.is_symlink() {
                    (std::fs::read_link(&mine).unwrap() != std::fs::read_link(&theirs).unwrap())
                        .then(|| "another link target".to_owned())
                } else {
                    (std::fs::read(&mine).unwrap() != std::fs::read(&theirs).unwrap())
                        .then(|| "other content".to_owned())
                };
                if let Some(what) = what {
                    out.push(format!("{}: {what}", theirs.display()));
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

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
        let root = Root::new(&deb);
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
        assert_eq!(root.differences(), Vec::<String>::new());
    });
}
