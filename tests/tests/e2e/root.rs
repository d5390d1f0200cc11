//! A root of a test's own: an overlay of this machine's `/` in a mount namespace, where a
//! test may install, configure and break things without touching the machine.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use torify_tests::netns;
use torify_tests::probe::{self, Run};

use super::scratch;

/// Makes the root, in the mount namespace `unshare` gave this shell: a tmpfs on the scratch
/// directory ($1) holds the upper layer of an overlay whose lower layer is this machine's `/`,
/// mounted at $1/root, with /dev, /proc and an empty /tmp as in a real root; then says `ready`
/// and holds the namespace until it is killed.
const MAKE_ROOT: &str = r#"
mount -t tmpfs -o mode=0755 tmpfs "$1"
mkdir "$1/upper" "$1/work" "$1/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$1/upper,workdir=$1/work" "$1/root"
mount --rbind /dev "$1/root/dev"
mount -t proc proc "$1/root/proc"
mount -t tmpfs tmpfs "$1/root/tmp"
echo ready
exec sleep infinity
"#;

/// A root of the test's own: an overlay of this machine's `/` (never written: every change
/// lands in the upper layer, a tmpfs, which therefore shows exactly what changed), in a mount
/// namespace that one process holds. The mounts vanish with that process, killed when this is
/// dropped (and when the thread that made it ends, PR_SET_PDEATHSIG), also when a test fails.
pub(super) struct Root {
    holder: Child,
    dir: tempfile::TempDir,
}

impl Root {
    /// A new root.
    pub(super) fn new() -> Root {
        let dir = scratch("torify-root-");
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--mount", "--propagation", "private", "--"])
            .args(["sh", "-ec", MAKE_ROOT, "sh"])
            .arg(dir.path())
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
    pub(super) fn path(&self, inside: &str) -> PathBuf {
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
    pub(super) fn run(&self, args: &[&str]) -> Run {
        probe::run(self.command(args).stdin(Stdio::null()))
    }

    /// The command that runs `args` in the root, as [`Root::run`] does.
    pub(super) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.bare(&[
            "env",
            "-i",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ]);
        cmd.args(["HOME=/root", "LC_ALL=C"]).args(args);
        cmd
    }

    /// Runs the program `args[0]` of the root as [`Root::bare`] starts it.
    pub(super) fn run_bare(&self, args: &[&str]) -> Run {
        probe::run(self.bare(args).stdin(Stdio::null()))
    }

    /// The command that runs the program `args[0]` of the root straight from chroot(8), with
    /// this process's environment: no other program of the root starts first.
    pub(super) fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", self.holder.id()))
            .args(["--mount", "--", "chroot"])
            .arg(self.dir.path().join("root"))
            .args(args);
        cmd
    }

    /// Every way the root differs from this machine, outside `own` (a program's own files,
    /// such as dpkg's database): for each
    /// directory written in it, the names it holds that the machine's does not (left behind) or
    /// lacks (removed), and for each entry written, a different kind, owner, mode, content or
    /// link target. Empty when the root is as the machine is.
    pub(super) fn differences(&self, own: &[&str]) -> Vec<String> {
        let root = self.path("/");
        let upper = self.upper();
        let mut out = Vec::new();
        let mut dirs = vec![PathBuf::new()];
        while let Some(dir) = dirs.pop() {
            let names = |base: &Path| -> BTreeSet<OsString> {
                std::fs::read_dir(base.join(&dir))
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .filter(|n| !own.iter().any(|own| dir.join(n).starts_with(own)))
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
