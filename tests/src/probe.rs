//! Running the C probe (or any program) under torify, and reading what it reported.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use crate::artifacts;

/// What a run printed.
#[derive(Debug)]
pub struct Run {
    /// Exit status code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error (torify's and the library's messages).
    pub stderr: String,
}

impl Run {
    /// What a finished command printed.
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// (ret, errno name) of a probe step such as "connect".
    pub fn step(&self, name: &str) -> Option<(i64, String)> {
        let prefix = format!("step={name} ");
        self.stdout.lines().find_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let mut ret = None;
            let mut errno = None;
            for field in rest.split(' ') {
                match field.split_once('=') {
                    Some(("ret", v)) => ret = v.parse().ok(),
                    Some(("errno", v)) => errno = Some(v.to_owned()),
                    _ => {}
                }
            }
            Some((ret?, errno?))
        })
    }

    /// The errno name of a step (panics with the whole output when the step is missing).
    pub fn errno(&self, name: &str) -> String {
        self.step(name)
            .unwrap_or_else(|| panic!("no step {name} in:\n{}\n{}", self.stdout, self.stderr))
            .1
    }

    /// The value of a `key=value` line.
    pub fn value(&self, key: &str) -> Option<&str> {
        let prefix = format!("{key}=");
        self.stdout.lines().find_map(|l| l.strip_prefix(&prefix))
    }
}

/// `torify --backend tor -a 127.0.0.1 -P PORT` with nothing else in its environment but PATH:
/// the library against that SOCKS port, never the embedded client (not even when nothing
/// answers there, which some tests arrange). With TORIFY_TEST_STRICT=1 in the tests'
/// environment, `--strict` too: the suites run again with every command in the kernel cage.
pub fn torify(socks_port: u16) -> Command {
    let mut cmd = Command::new(artifacts::torify());
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("TORIFY_BACKEND", "tor")
        .args(["-a", "127.0.0.1", "-P", &socks_port.to_string()])
        .stdin(Stdio::null());
    if strict_run() {
        cmd.arg("--strict");
    }
    cmd
}

/// `torify --backend tor -a 127.0.0.1 -P PORT`, with nothing in its environment but PATH, in
/// a mount namespace of its own after `setup` (a shell command, `$0` being `arg0`) ran there.
pub fn torify_after_mounting(socks_port: u16, setup: &str, arg0: &OsStr) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .args(["--mount", "sh", "-c", &format!("{setup} && exec \"$@\"")])
        .arg(arg0)
        .arg(artifacts::torify())
        .args([
            "--backend",
            "tor",
            "-a",
            "127.0.0.1",
            "-P",
            &socks_port.to_string(),
        ]);
    cmd
}

/// The same where /dev/net/tun is /dev/null (`tun: false`), so the kernel cage cannot be
/// built, or is the real device.
pub fn torify_with_tun(socks_port: u16, tun: bool) -> Command {
    let setup = if tun {
        "true"
    } else {
        "mount --bind /dev/null /dev/net/tun"
    };
    torify_after_mounting(socks_port, setup, OsStr::new("sh"))
}

/// True when the suites run with every command in the kernel cage (TORIFY_TEST_STRICT=1).
pub fn strict_run() -> bool {
    std::env::var_os("TORIFY_TEST_STRICT").is_some_and(|v| v == "1")
}

/// Runs a command and collects what it printed.
pub fn run(cmd: &mut Command) -> Run {
    Run::from(cmd.output().expect("spawn"))
}

/// Runs a command with `input` on its standard input, written a moment after it started (an
/// interactive shell under script(1) reads it as typed), and collects what it printed.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    Run::from(out)
}

/// Runs the probe with `args` under `torify -a 127.0.0.1 -P PORT`.
pub fn probe<S: AsRef<OsStr>>(socks_port: u16, args: &[S]) -> Run {
    run(torify(socks_port).arg(artifacts::probe("probe")).args(args))
}

/// Runs `cmd` while tcpdump watches every interface; returns the run and every packet that was
/// not the conversation with the SOCKS port on `socks_port` (a short wait lets late packets in).
pub fn captured(socks_port: u16, cmd: &mut Command) -> (Run, Vec<String>) {
    let cap = crate::capture::Capture::start(&crate::capture::leak_filter(socks_port));
    let run = run(cmd);
    std::thread::sleep(std::time::Duration::from_millis(300));
    (run, cap.stop())
}

/// A command that runs `program args` in a mount and UTS namespace of its own where
/// /etc/resolv.conf names the "remote" host (a query that escapes goes on the wire), the host
/// name is `escape-host`, which /etc/hosts does not know, and /etc/hostid is empty. With
/// `launcher`, under `torify -a 127.0.0.1 -P PORT`.
pub fn in_sealed_etc(
    dir: &std::path::Path,
    launcher: Option<u16>,
    program: &std::path::Path,
) -> Command {
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 198.51.100.7\noptions timeout:1 attempts:1\n",
    )
    .expect("resolv.conf");
    let empty = dir.join("empty");
    std::fs::write(&empty, "").expect("empty file");
    let mut cmd = Command::new("unshare");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("TORIFY_BACKEND", "tor")
        .stdin(Stdio::null())
        .args([
            "--mount",
            "--uts",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/resolv.conf && { [ ! -e /etc/hostid ] || mount --bind \"$1\" /etc/hostid; } && hostname escape-host && shift && exec \"$@\"",
        ])
        .arg(&resolv)
        .arg(&empty);
    if let Some(port) = launcher {
        cmd.arg(artifacts::torify())
            .args(["-a", "127.0.0.1", "-P", &port.to_string()]);
        if strict_run() {
            cmd.arg("--strict");
        }
    }
    cmd.arg(program);
    cmd
}
