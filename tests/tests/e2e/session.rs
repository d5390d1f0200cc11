//! torify as a finished tool, through the private network: interactive shell sessions under
//! tmux, `torify check` and `torify resolve` against both backends, and an installed copy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use torify_tests::artifacts;
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::probe;
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::{in_net, torify, torify_arti};

/// A tmux server of this test's own (its own socket), killed when the test ends however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str) -> Tmux {
        Tmux {
            socket: format!("torify-e2e-{}-{name}", std::process::id()),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", std::env::temp_dir())
            .env("TERM", "xterm")
            .env("PS1", "p> ")
            .args(["-L", &self.socket]);
        cmd
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A window running `shell` interactively.
    fn open(&self, window: &str, shell: &[&str]) {
        let mut args = vec!["new-session", "-d", "-s", window, "-x", "220", "-y", "60"];
        args.extend_from_slice(shell);
        self.tmux(&args);
    }

    /// Types `line` and Enter, as a user would.
    fn type_line(&self, window: &str, line: &str) {
        self.tmux(&["send-keys", "-t", window, "-l", line]);
        self.tmux(&["send-keys", "-t", window, "Enter"]);
    }

    /// The screen and scrollback of `window`.
    fn screen(&self, window: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-500", "-t", window])
    }

    /// Waits until the screen shows `text` (which the command typed does not contain).
    fn wait_for(&self, window: &str, text: &str, within: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen(window);
            if screen.contains(text) {
                return screen;
            }
            assert!(
                start.elapsed() < within,
                "{window}: no {text:?} after {within:?}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// `eval "$(torify on)"` in an interactive bash, zsh and sh: the prompt says so, curl
/// fetches the page by name through an exit, `torify on` again says it is on, and `torify off`
/// puts LD_PRELOAD back as it was.
#[test]
fn torify_on_and_off_in_interactive_shells_under_tmux() {
    in_net(|_| {
        let t = artifacts::torify();
        let t = t.display();
        let tmux = Tmux::start("on");
        let page = PAGE.trim_end();
        let libc = artifacts::libc();
        for (window, shell) in [
            ("bash", &["bash", "--norc", "--noprofile", "-i"][..]),
            ("zsh", &["zsh", "-f", "-i"][..]),
            ("sh", &["sh", "-i"][..]),
        ] {
            tmux.open(window, shell);
            tmux.type_line(window, &format!("export LD_PRELOAD={libc}; PS1='p> '"));
            tmux.type_line(window, &format!("eval \"$({t} on)\""));
            tmux.type_line(
                window,
                &format!("curl -s -m 90 http://{DEST_NAME}/; echo \"curl=$? end $((6*7))\""),
            );
            // The typed line never contains what its output will: `end 42`, `curl=0`.
            let screen = tmux.wait_for(window, "end 42", Duration::from_secs(120));
            assert!(
                screen.contains(&format!("{page}\ncurl=0")),
                "{window}:\n{screen}"
            );
            assert!(
                screen.contains("(tor) p> "),
                "{window}: no marker in the prompt:\n{screen}"
            );
            tmux.type_line(window, &format!("{t} on"));
            tmux.wait_for(window, "already torified", Duration::from_secs(10));
            tmux.type_line(window, &format!("eval \"$({t} off)\""));
            tmux.type_line(
                window,
                "echo \"after:[$LD_PRELOAD][${TORIFY_SHELL-unset}][$PS1]\"; curl -s -m 5 http://web.test/; echo \"direct=$? end $((6*8))\"",
            );
            let screen = tmux.wait_for(window, "end 48", Duration::from_secs(20));
            assert!(
                screen.contains(&format!("after:[{libc}][unset][p> ]")),
                "{window}:\n{screen}"
            );
            // Off again: this network namespace has no resolver, so the name does not resolve.
            assert!(!screen.contains("direct=0"), "{window}:\n{screen}");
        }
    })
}

/// `torify --shell` typed at an interactive bash: a torified child shell with the marker, the
/// page through Tor, and its exit status handed back.
#[test]
fn torify_shell_is_interactive_and_returns_the_exit_status() {
    in_net(|_| {
        let t = artifacts::torify();
        let tmux = Tmux::start("shell");
        tmux.open("s", &["bash", "--norc", "--noprofile", "-i"]);
        tmux.type_line("s", &format!("SHELL=/bin/bash {} --shell", t.display()));
        tmux.wait_for("s", "`exit` leaves it", Duration::from_secs(20));
        tmux.type_line(
            "s",
            &format!("echo \"marker=$TORIFY_SHELL\"; curl -s -m 90 http://{DEST_NAME}/"),
        );
        let screen = tmux.wait_for("s", PAGE.trim_end(), Duration::from_secs(120));
        assert!(screen.contains("marker=1"), "{screen}");
        tmux.type_line("s", "exit 5");
        tmux.type_line("s", "echo \"status=$?\"");
        tmux.wait_for("s", "status=5", Duration::from_secs(20));
    })
}

/// The kernel cage is usable at a terminal: `torify --strict --shell` gives a shell whose
/// only network is the cage's, curl fetches the page by name, Ctrl-C ends the foreground job
/// and not the shell, the exit status comes back; `torify --strict ssh` opens an interactive
/// session on the onion service.
#[test]
fn strict_shell_and_ssh_are_interactive_in_the_cage() {
    in_net(|net| {
        let t = artifacts::torify();
        let t = t.display();
        let tmux = Tmux::start("strict");
        tmux.open("s", &["bash", "--norc", "--noprofile", "-i"]);
        tmux.type_line("s", &format!("SHELL=/bin/bash {t} --strict --shell"));
        tmux.wait_for("s", "`exit` leaves it", Duration::from_secs(20));
        tmux.type_line(
            "s",
            &format!(
                "grep -c torify0 /proc/net/dev; curl -s -m 90 http://{DEST_NAME}/; echo \"c=$? end $((6*7))\""
            ),
        );
        let screen = tmux.wait_for("s", "end 42", Duration::from_secs(120));
        // (curl's one refused UDP socket, its IPv6 probe, may print a line between.)
        assert!(screen.contains("\n1\n"), "{screen}");
        assert!(
            screen.contains(&format!("{}\nc=0", PAGE.trim_end())),
            "{screen}"
        );
        tmux.type_line("s", "sleep 100");
        std::thread::sleep(Duration::from_millis(500));
        tmux.tmux(&["send-keys", "-t", "s", "C-c"]);
        tmux.type_line("s", "echo \"int=$? end $((7*7))\"");
        let screen = tmux.wait_for("s", "end 49", Duration::from_secs(10));
        assert!(screen.contains("int=130"), "{screen}");
        tmux.type_line("s", "exit 3");
        tmux.type_line("s", "echo \"status=$?\"");
        tmux.wait_for("s", "status=3", Duration::from_secs(20));

        tmux.type_line(
            "s",
            &format!(
                "{t} --strict ssh -p 22 {} {}@{}",
                net.ssh_options().join(" "),
                net.ssh_user,
                net.onion
            ),
        );
        tmux.type_line("s", "echo \"remote $((6*9)) $(tty)\"");
        let screen = tmux.wait_for("s", "remote 54 /dev/pts/", Duration::from_secs(120));
        let session = &screen[screen.find("--strict ssh").unwrap_or(0)..];
        assert!(!session.contains("torify:"), "{screen}");
        tmux.type_line("s", "exit");
        // What is typed before ssh has gone would be ssh's input.
        tmux.wait_for("s", "logout", Duration::from_secs(30));
        std::thread::sleep(Duration::from_secs(1));
        tmux.type_line("s", "echo \"ssh=$? end $((5*5))\"");
        let screen = tmux.wait_for("s", "end 25", Duration::from_secs(30));
        assert!(screen.contains("ssh=0"), "{screen}");
    })
}

/// `torify check` passes against the daemon and the embedded client, and fails, saying why,
/// against a closed port and against a SOCKS server that is not Tor.
#[test]
fn check_reports_each_finding_and_a_verdict() {
    in_net(|net| {
        let ready = |run: &probe::Run| {
            assert_eq!(run.code, 0, "{run:?}");
            let last = run.stdout.lines().last().unwrap_or_default();
            assert!(last.starts_with("verdict: ready"), "{run:?}");
            assert!(run.stdout.contains("ok It is Tor"), "{run:?}");
            assert!(
                run.stdout.contains(&format!(
                    "ok Tor resolves names: {DEST_NAME} is 198.51.100.7"
                )),
                "{run:?}"
            );
            assert!(
                run.stdout.contains("ok The library loads into programs"),
                "{run:?}"
            );
        };
        let daemon = torify(&["check", "--name", DEST_NAME]);
        ready(&daemon);
        // The daemon's optimistic data is timed; on this undelayed network the verdict depends
        // on the machine's load, but the request to the destination must have worked.
        assert!(
            daemon
                .stdout
                .lines()
                .any(|l| l.contains("optimistic data") && !l.contains("is unknown")),
            "{daemon:?}"
        );
        let arti = torify_arti(net, &["-q"], &["check", "--name", DEST_NAME]);
        ready(&arti);
        assert!(
            arti.stdout.contains("the client embedded in torify"),
            "{arti:?}"
        );

        let closed = torify(&["--backend", "tor", "-P", "1", "check", "--name", DEST_NAME]);
        assert_eq!(closed.code, 1, "{closed:?}");
        assert!(
            closed
                .stdout
                .contains("NO Nothing answers SOCKS5 at 127.0.0.1:1."),
            "{closed:?}"
        );
        assert!(closed.stdout.contains("verdict: NOT ready"), "{closed:?}");

        let other = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        let port = other.port().to_string();
        let not_tor = torify(&[
            "--backend",
            "tor",
            "-P",
            &port,
            "check",
            "--name",
            DEST_NAME,
        ]);
        assert_eq!(not_tor.code, 1, "{not_tor:?}");
        assert!(
            not_tor.stdout.contains("ok A SOCKS5 server answers"),
            "{not_tor:?}"
        );
        assert!(
            not_tor
                .stdout
                .lines()
                .any(|l| l.starts_with("NO ") && l.contains("not Tor")),
            "{not_tor:?}"
        );
    })
}

/// `torify resolve` does what tor-resolve does, through the daemon and the embedded client.
#[test]
fn resolve_forward_and_reverse_like_tor_resolve() {
    in_net(|net| {
        for run in [
            torify(&["resolve", DEST_NAME]),
            torify_arti(net, &["-q"], &["resolve", DEST_NAME]),
        ] {
            assert_eq!(
                (run.code, run.stdout.as_str()),
                (0, "198.51.100.7\n"),
                "{run:?}"
            );
        }
        for run in [
            torify(&["resolve", "-x", "198.51.100.7"]),
            torify_arti(net, &["-q"], &["resolve", "-x", "198.51.100.7"]),
        ] {
            assert_eq!(
                (run.code, run.stdout.as_str()),
                (0, format!("{DEST_NAME}\n").as_str()),
                "{run:?}"
            );
        }
        let missing = torify(&["resolve", "no-such-host.invalid"]);
        assert_eq!(missing.code, 1, "{missing:?}");
        assert_eq!(missing.stdout, "");
        assert!(
            missing
                .stderr
                .starts_with("torify: Tor could not resolve no-such-host.invalid: "),
            "{missing:?}"
        );
        assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    })
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// `make install` into a temporary prefix (through DESTDIR, as a package build does), the
/// installed `torsocks curl` through Tor, its man page, and `make uninstall` leaving no file.
#[test]
fn make_install_runs_end_to_end_and_uninstall_removes_it_all() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stage = tempfile::tempdir().unwrap();
    let target = artifacts::target_dir();
    let make = |what: &str| {
        let out = Command::new("make")
            .arg("-C")
            .arg(&repo)
            .arg(what)
            .arg("PREFIX=/usr")
            .arg(format!("DESTDIR={}", stage.path().display()))
            .arg(format!(
                "CARGO_TARGET_DIR={}",
                target.parent().unwrap().display()
            ))
            .output()
            .expect("make");
        assert!(out.status.success(), "make {what}: {out:?}");
    };
    make("install");
    assert_eq!(
        files_under(stage.path()),
        [
            "usr/bin/torify",
            "usr/bin/torsocks",
            "usr/lib/pkgconfig/torify.pc",
            "usr/lib/systemd/user/torify.service",
            "usr/lib/systemd/user/torify.socket",
            "usr/lib/torify/libtorify.so",
            "usr/lib/torify/torify-serve",
            "usr/sbin/torify-rescue",
            "usr/share/bash-completion/completions/torify",
            "usr/share/bash-completion/completions/torsocks",
            "usr/share/doc/torify/torify.toml",
            "usr/share/man/man1/torify.1",
            "usr/share/man/man5/torify.toml.5",
            "usr/share/man/man8/libtorify.8",
            "usr/share/man/man8/torify-rescue.8",
            "usr/share/zsh/site-functions/_torify",
        ]
    );
    // The user unit runs the installed launcher.
    let unit =
        std::fs::read_to_string(stage.path().join("usr/lib/systemd/user/torify.service")).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/torify serve --foreground\n"),
        "{unit}"
    );
    let bin = stage.path().join("usr/bin");
    // The installed launcher starts the installed service program.
    let show = probe::run(Command::new(bin.join("torify")).arg("show"));
    let service = stage.path().join("usr/lib/torify/torify-serve");
    assert!(
        show.stdout.contains(&format!(
            "# embedded client's service: {}\n",
            service.display()
        )),
        "{show:?}"
    );
    in_net(|_| {
        let run = probe::run(Command::new(bin.join("torsocks")).args([
            "curl",
            "-s",
            "-m",
            "90",
            &format!("http://{DEST_NAME}/"),
        ]));
        assert_eq!((run.code, run.stdout.as_str()), (0, PAGE), "{run:?}");
        let check =
            probe::run(Command::new(bin.join("torify")).args(["check", "--name", DEST_NAME]));
        assert_eq!(check.code, 0, "{check:?}");
        let lib = stage.path().join("usr/lib/torify/libtorify.so");
        assert!(
            check.stdout.contains(&format!(
                "ok The library loads into programs: {}",
                lib.display()
            )),
            "the installed torify uses the installed library: {check:?}"
        );
    });
    let man = probe::run(
        Command::new("man")
            .args(["--warnings", "-l"])
            .arg(stage.path().join("usr/share/man/man1/torify.1"))
            .env("MANWIDTH", "100"),
    );
    assert!(man.code == 0 && man.stderr.is_empty(), "{man:?}");
    // Its FILES name this install's places.
    assert!(
        man.stdout.contains("/usr/lib/torify/libtorify.so")
            && man.stdout.contains("/usr/lib/systemd/user/torify.socket")
            && !man.stdout.contains("/usr/local"),
        "{man:?}"
    );
    make("uninstall");
    assert_eq!(files_under(stage.path()), Vec::<String>::new());
}
