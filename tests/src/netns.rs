//! Network namespaces for tests: the test's own (loopback, plus a veth link to a second
//! namespace that plays "the internet": 198.51.100.7 and 2001:db8::7, TEST-NET addresses, with
//! default routes through it, so a leak has somewhere to go and is seen leaving).
//!
//! Every process a test starts gets SIGKILL when the thread that started it ends
//! (PR_SET_PDEATHSIG): nothing outlives a test, also when it fails or is interrupted.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The address of this side of the link.
pub const LOCAL_V4: &str = "198.51.100.1";
/// The address of the remote side.
pub const REMOTE_V4: &str = "198.51.100.7";
/// The IPv6 address of the remote side.
pub const REMOTE_V6: &str = "2001:db8::7";

/// Runs a command in the calling thread's namespace and insists it succeeds.
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `cmd` (in network namespace `ns` when given) so that it is killed when the calling
/// thread ends.
pub fn spawn_in(cmd: &mut Command, ns: Option<&File>) -> std::io::Result<Child> {
    let ns_fd = ns.map(AsRawFd::as_raw_fd);
    // SAFETY: the closure only makes async-signal-safe system calls (setns, prctl) between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = ns_fd
                && libc::setns(fd, libc::CLONE_NEWNET) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Moves the calling thread into the network namespace `ns`.
pub fn enter(ns: &File) {
    // SAFETY: setns(2) on a namespace file we hold open; affects this thread only.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// The calling thread's network namespace, as a file to enter later.
pub fn current() -> File {
    File::open("/proc/thread-self/ns/net").expect("/proc/thread-self/ns/net")
}

/// Gives the calling thread a new, empty network namespace with loopback up.
pub fn unshare() {
    // SAFETY: unshare(CLONE_NEWNET) only changes this thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        panic!(
            "cannot create a network namespace ({}): the integration tests need root (CAP_SYS_ADMIN); run them as root (tests/run-all runs itself through sudo when it is not)",
            std::io::Error::last_os_error()
        );
    }
    sh("ip link set lo up");
}

/// A second namespace linked to the calling thread's by a veth pair.
pub struct Remote {
    holder: Child,
    ns: File,
}

impl Remote {
    /// Creates the remote namespace and the link `local_if` <-> `remote_if`, with addresses
    /// and default routes, and waits until both ends carry traffic.
    pub fn link(local_if: &str, remote_if: &str) -> Remote {
        let mine = std::fs::read_link("/proc/thread-self/ns/net").ok();
        let mut unshare = Command::new("unshare");
        unshare
            .args(["--net", "--", "sleep", "infinity"])
            .stdin(Stdio::null());
        let holder = spawn_in(&mut unshare, None).expect("unshare (util-linux)");
        let pid = holder.id();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == mine {
            assert!(
                Instant::now() < deadline,
                "the remote namespace did not appear"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let ns = File::open(format!("/proc/{pid}/ns/net")).expect("remote namespace");
        let remote = Remote { holder, ns };
        // Router solicitations and DAD would put noise on the wire; ND itself stays on.
        for (knob, value) in [
            ("router_solicitations", "0"),
            ("accept_ra", "0"),
            ("dad_transmits", "0"),
        ] {
            let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/default/{knob}"), value);
        }
        sh(&format!(
            "ip link add {local_if} type veth peer name {remote_if} netns {pid}"
        ));
        sh(&format!(
            "ip addr add {LOCAL_V4}/24 dev {local_if} && ip -6 addr add 2001:db8::1/64 dev {local_if} nodad && ip link set {local_if} up"
        ));
        remote.sh(&format!(
            "ip link set lo up; ip addr add {REMOTE_V4}/24 dev {remote_if}; ip -6 addr add {REMOTE_V6}/64 dev {remote_if} nodad; ip link set {remote_if} up"
        ));
        sh(&format!(
            "ip route add default via {REMOTE_V4} && ip -6 route add default via {REMOTE_V6}"
        ));
        // Until the kernel's linkwatch has activated both ends (up to a second), a veth drops
        // what it is given without a trace: a leak in that window would go unseen.
        wait_until_up(&format!("ip -o link show {local_if}"));
        wait_until_up(&format!("nsenter -t {pid} -n ip -o link show {remote_if}"));
        remote
    }

    /// The pid holding the remote namespace (for `nsenter -t PID -n`).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The remote namespace, to start processes in.
    pub fn ns(&self) -> &File {
        &self.ns
    }

    /// Runs a shell command inside the remote namespace and insists it succeeds.
    pub fn sh(&self, cmd: &str) {
        sh(&format!("nsenter -t {} -n sh -c '{cmd}'", self.pid()));
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn wait_until_up(show: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("sh").args(["-c", show]).output().expect("ip");
        if String::from_utf8_lossy(&out.stdout).contains("state UP") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{show}` never reported state UP"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The namespace of a test, and its remote side.
pub struct Net {
    remote: Remote,
}

impl Net {
    /// The remote side.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }
}

/// Runs `f` on a thread of its own in a fresh network namespace linked to a remote one (torn
/// down afterwards, also when `f` panics).
pub fn isolated<T: Send>(f: impl FnOnce(&Net) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                unshare();
                let net = Net {
                    remote: Remote::link("v0", "v1"),
                };
                f(&net)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
