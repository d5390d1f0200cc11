//! A network namespace per test: loopback, plus a veth link to a second namespace that plays
//! "the internet" (198.51.100.7 and 2001:db8::7, TEST-NET addresses) with default routes
//! through it, so a leak has somewhere to go and is seen leaving.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs a command in the calling thread's namespace and insists it succeeds.
pub fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespace of a test, and the process that holds the "remote" namespace open.
pub struct Net {
    remote: Child,
}

impl Net {
    /// The pid whose namespace is the remote side (for `nsenter -t PID -n`).
    pub fn remote_pid(&self) -> u32 {
        self.remote.id()
    }

    /// Runs a shell command inside the remote namespace.
    pub fn remote_sh(&self, cmd: &str) {
        sh(&format!(
            "nsenter -t {} -n sh -c '{cmd}'",
            self.remote_pid()
        ));
    }

    /// Starts a long-running command in the remote namespace.
    pub fn remote_spawn(&self, cmd: &str) -> Child {
        Command::new("nsenter")
            .args(["-t", &self.remote_pid().to_string(), "-n", "sh", "-c", cmd])
            .stdin(Stdio::null())
            .spawn()
            .expect("nsenter")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.remote.kill();
        let _ = self.remote.wait();
    }
}

fn own_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn setup() -> Net {
    // SAFETY: unshare(CLONE_NEWNET) only changes this thread's network namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        panic!(
            "cannot create a network namespace ({}): the integration tests need root (CAP_SYS_ADMIN); run them as root, e.g. `sudo tests/run-all`",
            std::io::Error::last_os_error()
        );
    }
    sh("ip link set lo up");
    let mine = own_netns();
    let remote = Command::new("unshare")
        .args(["--net", "--", "sleep", "3600"])
        .stdin(Stdio::null())
        .spawn()
        .expect("unshare (util-linux)");
    let pid = remote.id();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|p| p.display().to_string())
        .ok()
        .as_ref()
        == Some(&mine)
    {
        assert!(
            Instant::now() < deadline,
            "the remote namespace did not appear"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let net = Net { remote };
    // Router solicitations and DAD would put noise on the wire; ND itself stays on.
    for knob in ["router_solicitations=0", "accept_ra=0", "dad_transmits=0"] {
        let (k, v) = knob.split_once('=').unwrap_or_default();
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/default/{k}"), v);
    }
    sh(&format!(
        "ip link add v0 type veth peer name v1 netns {pid}"
    ));
    sh(
        "ip addr add 198.51.100.1/24 dev v0 && ip -6 addr add 2001:db8::1/64 dev v0 nodad && ip link set v0 up",
    );
    net.remote_sh(
        "ip link set lo up; ip addr add 198.51.100.7/24 dev v1; ip -6 addr add 2001:db8::7/64 dev v1 nodad; ip link set v1 up",
    );
    sh("ip route add default via 198.51.100.7 && ip -6 route add default via 2001:db8::7");
    // Until the kernel's linkwatch has activated both ends (up to a second), a veth drops what
    // it is given without a trace: a leak in that window would go unseen. Wait for it.
    wait_until_up("ip -o link show v0");
    wait_until_up(&format!("nsenter -t {pid} -n ip -o link show v1"));
    net
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

/// Runs `f` on a thread of its own in a fresh network namespace (torn down afterwards, also
/// when `f` panics).
pub fn isolated<T: Send>(f: impl FnOnce(&Net) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let net = setup();
                f(&net)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
