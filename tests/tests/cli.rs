//! The launcher as a tool, without a Tor network: shell sessions (`torify on`/`off`), completion
//! scripts, `torify show`, and the messages users see. What needs Tor (check, resolve, a
//! session under tmux fetching a page) is in e2e.rs.

use std::process::Command;

use torify_tests::artifacts;
use torify_tests::mock::{Behaviour, MockSocks};
use torify_tests::netns::isolated;
use torify_tests::probe::{self, Run};

/// The launcher with a clean environment: never the embedded client (nothing answers on 9050
/// here, and `auto` would go looking for the public Tor network).
fn torify() -> Command {
    let mut cmd = Command::new(artifacts::torify());
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", std::env::temp_dir())
        .env("TORIFY_BACKEND", "tor");
    cmd
}

fn run(cmd: &mut Command) -> Run {
    probe::run(cmd)
}

#[test]
fn on_then_off_restores_the_session_exactly_in_bash_zsh_and_sh() {
    let dir = tempfile::tempdir().unwrap();
    let t = artifacts::torify();
    let lib = artifacts::library().canonicalize().unwrap();
    let libc = artifacts::libc();
    for shell in ["bash", "zsh", "sh"] {
        let before = dir.path().join(format!("{shell}.before"));
        let after = dir.path().join(format!("{shell}.after"));
        let script = format!(
            r#"PS1='p> '
env | sort > {before}
eval "$({t} on)"
echo "on: LD_PRELOAD=$LD_PRELOAD TORIFY_SHELL=$TORIFY_SHELL PS1=$PS1"
{t} on
eval "$({t} off)"
env | sort > {after}
echo "off: PS1=$PS1"
eval "$({t} off)"
"#,
            t = t.display(),
            before = before.display(),
            after = after.display(),
        );
        let out = run(Command::new(shell)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TORIFY_BACKEND", "tor")
            .env("TORSOCKS_TOR_PORT", "9999")
            .env("LD_PRELOAD", &libc)
            .args(["-c", &script]));
        assert_eq!(out.code, 0, "{shell}: {out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                format!(
                    "on: LD_PRELOAD={}:{libc} TORIFY_SHELL=1 PS1=(tor) p> ",
                    lib.display()
                ),
                "off: PS1=p> ".to_owned(),
            ],
            "{shell}: {out:?}"
        );
        let before = std::fs::read_to_string(&before).unwrap();
        let after = std::fs::read_to_string(&after).unwrap();
        assert_eq!(
            before, after,
            "{shell}: torify off left the environment changed"
        );
        let stderr: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(stderr.len(), 2, "{shell}: {}", out.stderr);
        assert!(
            stderr[0].starts_with("torify: this shell is already torified"),
            "{shell}: {}",
            out.stderr
        );
        assert!(
            stderr[1].starts_with("torify: this shell is not torified"),
            "{shell}: {}",
            out.stderr
        );
    }
}

/// `torify --shell` marks the prompt "(tor) " as `on` does, after the user's own start-up
/// file ran (its prompt is kept behind the mark), in bash, zsh and sh; under a terminal (script
/// gives the shell a pseudo-terminal, so it is interactive and reads its start-up files).
#[test]
fn shell_marks_the_prompt_after_the_user_s_own_start_up_file_in_bash_zsh_and_sh() {
    let home = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".bashrc"), "PS1='mine> '\n").unwrap();
    std::fs::write(home.path().join(".zshrc"), "PS1='mine> '\n").unwrap();
    std::fs::write(home.path().join(".shrc"), "PS1='mine> '\n").unwrap();
    for shell in ["/bin/bash", "/usr/bin/zsh", "/bin/sh"] {
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c"])
            .arg(format!("{} --shell", artifacts::torify().display()))
            .arg("/dev/null")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("SHELL", shell)
            .env("TERM", "dumb")
            .env("TORIFY_BACKEND", "tor")
            .env("TORSOCKS_TOR_PORT", "9999");
        if shell == "/bin/sh" {
            cmd.env("ENV", home.path().join(".shrc"));
        }
        let run = probe::run_with_input(
            &mut cmd,
            "echo \"marker=$TORIFY_SHELL end $((6*7))\"\nexit 5\n",
        );
        assert!(run.stdout.contains("marker=1 end 42"), "{shell}: {run:?}");
        assert!(run.stdout.contains("(tor) mine> "), "{shell}: {run:?}");
        assert_eq!(run.code, 5, "{shell}: {run:?}");
    }
}

/// The long flags and subcommands `torify --help` lists.
fn help_words() -> (Vec<String>, Vec<String>) {
    let help = run(torify().arg("--help")).stdout;
    let flags = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(',').to_owned())
        .collect();
    let subcommands = help
        .split("Subcommands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    (flags, subcommands)
}

#[test]
fn completion_scripts_come_from_the_cli_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let (flags, subcommands) = help_words();
    assert!(flags.len() >= 10, "{flags:?}");
    assert_eq!(
        subcommands,
        [
            "show",
            "check",
            "resolve",
            "on",
            "off",
            "forward",
            "serve",
            "system",
            "completions"
        ]
    );
    for (shell, check) in [("bash", "-n"), ("zsh", "-n")] {
        let out = run(torify().args(["completions", shell]));
        assert_eq!(out.code, 0, "{out:?}");
        let file = dir.path().join(format!("torify.{shell}"));
        std::fs::write(&file, &out.stdout).unwrap();
        let parsed = run(Command::new(shell).arg(check).arg(&file));
        assert_eq!(parsed.code, 0, "{shell} -n: {parsed:?}");
        for word in flags.iter().chain(&subcommands) {
            assert!(
                out.stdout.contains(word.as_str()),
                "{shell} completion lacks {word}"
            );
        }
    }
    let zsh = run(torify().args(["completions", "zsh"])).stdout;
    assert!(zsh.starts_with("#compdef torify torsocks\n"), "{zsh}");
    // Loaded into bash, it completes both names: flags after a dash, subcommands and
    // commands first, an option's value, and after the command that command's own words
    // (bash-completion's _command_offset, stubbed here to show where it is asked to start).
    let bash = dir.path().join("torify.bash");
    let complete = |line: &str| {
        format!(
            r#"COMP_LINE="{line}"; read -ra COMP_WORDS <<<"$COMP_LINE"; [[ $COMP_LINE == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); COMP_POINT=${{#COMP_LINE}}; COMPREPLY=()
_torify_command "${{COMP_WORDS[0]}}" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
echo "reply[{line}]: ${{COMPREPLY[*]}}""#
        )
    };
    let script = [
        format!(
            "source {}
complete -p torify torsocks",
            bash.display()
        ),
        "_command_offset() { COMPREPLY=(\"offset=$1\"); }".to_owned(),
        complete("torsocks --back"),
        complete("torify che"),
        complete("torify -i trun"),
        complete("torify --backend "),
        complete("torify -c /tmp/x.toml ls -"),
        complete("torsocks -- git "),
    ]
    .join("\n");
    let out = run(Command::new("bash").args(["-c", &script]));
    assert_eq!(out.code, 0, "{out:?}");
    let said = &out.stdout;
    assert!(said.contains("-F _torify_command torify\n"), "{out:?}");
    assert!(said.contains("-F _torify_command torsocks\n"), "{out:?}");
    assert!(
        said.contains("reply[torsocks --back]: --backend"),
        "{out:?}"
    );
    assert!(said.contains("reply[torify che]: check"), "{out:?}");
    assert!(said.contains("reply[torify -i trun]: truncate"), "{out:?}");
    assert!(
        said.contains("reply[torify --backend ]: tor arti auto"),
        "{out:?}"
    );
    assert!(
        said.contains("reply[torify -c /tmp/x.toml ls -]: offset=3"),
        "{out:?}"
    );
    assert!(
        said.contains("reply[torsocks -- git ]: offset=2"),
        "{out:?}"
    );
    let unknown = run(torify().args(["completions", "fish"]));
    assert_eq!(unknown.code, 125, "{unknown:?}");
}

/// A torsocks.conf with an unknown directive stops programs, while `show` and `check` say so
/// and go on with the rest (the settings without the file).
#[test]
fn a_bad_legacy_file_stops_programs_but_not_show_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("torsocks.conf");
    std::fs::write(&file, "TorPort 9999\nTorPortt 9050\n").unwrap();
    let ran = run(torify().arg("-c").arg(&file).arg("true"));
    assert_eq!(ran.code, 125, "{ran:?}");
    assert!(ran.stderr.contains("unknown directive TorPortt"), "{ran:?}");
    // torsocks' `sh` alone is `show`; `-- sh` and `sh ARGS` run sh.
    let sh = run(torify().arg("sh"));
    assert!(sh.code == 0 && sh.stdout.contains("# library:"), "{sh:?}");
    let ran = run(torify().args(["sh", "-c", "echo ran"]));
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "ran\n"), "{ran:?}");
    let ran = run(torify()
        .args(["--", "sh"])
        .stdin(std::process::Stdio::null()));
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(!ran.stdout.contains("# library:"), "{ran:?}");
    let show = run(torify().arg("-c").arg(&file).arg("show"));
    assert_eq!(show.code, 1, "{show:?}");
    assert!(
        show.stderr.contains("unknown directive TorPortt"),
        "{show:?}"
    );
    assert!(
        show.stderr.contains("every torified program stops"),
        "{show:?}"
    );
    assert!(show.stdout.contains("# library:"), "{show:?}");
    let check = run(torify().arg("-c").arg(&file).args(["-P", "9", "check"]));
    assert_eq!(check.code, 1, "{check:?}");
    assert!(
        check.stdout.contains("The settings file cannot be used")
            && check.stdout.contains("unknown directive TorPortt"),
        "{check:?}"
    );
    assert!(check.stdout.contains("Nothing answers SOCKS5"), "{check:?}");
    // A torify.toml read as a torsocks.conf (its name does not end in .toml) says so.
    let toml = dir.path().join("torify.conf");
    std::fs::write(&toml, "[tor]\nport = 9150\n").unwrap();
    let ran = run(torify().arg("-c").arg(&toml).arg("true"));
    assert!(ran.stderr.contains("does not end in .toml"), "{ran:?}");
}

#[test]
fn show_names_the_source_of_each_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("torify.toml");
    std::fs::write(
        &file,
        "[tor]\nport = 9150\naddress = \"127.0.0.1\"\n[arti]\nbootstrap_timeout = 30\n",
    )
    .unwrap();
    let out = run(torify()
        .env("TORSOCKS_TOR_ADDRESS", "127.0.0.2")
        .env("TORSOCKS_PASSWORD", "env-secret-pass")
        .env("TORSOCKS_USERNAME", "env-secret-user")
        .arg("-c")
        .arg(&file)
        .args(["-i", "show"]));
    // -i replaces the credentials from the environment, and show says so.
    assert_eq!(out.code, 0, "{out:?}");
    let shown = out.stdout;
    let f = file.display();
    for line in [
        format!("# settings file: {f}"),
        format!("tor.port = 9150  # file {f}:2:8"),
        "tor.address = 127.0.0.2  # env TORSOCKS_TOR_ADDRESS".to_owned(),
        "tor.isolation = process  # flag -i".to_owned(),
        "# note: SOCKS credentials from environment variable TORSOCKS_PASSWORD are replaced by the isolation setting".to_owned(),
        "allow.inbound = false  # default".to_owned(),
        format!("arti.bootstrap_timeout = 30  # file {f}"),
        "arti.network = the public Tor network  # default".to_owned(),
    ] {
        assert!(shown.lines().any(|l| l == line), "no {line:?} in:\n{shown}");
    }
    assert!(!shown.contains("env-secret"), "{shown}");
}

/// Asserts a message is one line naming what, why, and the setting or flag that changes it.
fn one_line(out: &Run, code: i32, parts: &[&str]) {
    assert_eq!(out.code, code, "{out:?}");
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "not one line: {}", out.stderr);
    assert!(
        line.starts_with("torify: ") || line.starts_with("torify["),
        "{line}"
    );
    for part in parts {
        assert!(line.contains(part), "{line:?} lacks {part:?}");
    }
}

#[test]
fn launcher_errors_are_one_line_with_what_why_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let out = run(torify().arg("-c").arg(&missing).arg("true"));
    one_line(
        &out,
        125,
        &[
            &format!("{}: cannot read the configuration file", missing.display()),
            "No such file",
            "flag -c",
        ],
    );
    let out = run(torify().env("TORSOCKS_TOR_PORT", "0").arg("true"));
    one_line(&out, 125, &["TORSOCKS_TOR_PORT", "0"]);
    let out = run(torify().args(["no-such-command-anywhere"]));
    one_line(&out, 127, &["no-such-command-anywhere: command not found"]);
    let out = run(torify().args(["resolve", "-x", "not-an-address"]));
    one_line(&out, 1, &["not-an-address is not an IP address", "-x"]);
    let onion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion";
    let out = run(torify().args(["resolve", onion]));
    one_line(&out, 1, &["is an onion service", "connect to it by name"]);
    let out = run(torify().args(["resolve", "expyuzz4wqqyqhjn.onion"]));
    one_line(
        &out,
        1,
        &["is not a valid onion address", "v2 onion address"],
    );
    let typo = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wie.onion";
    let out = run(torify().args(["resolve", typo]));
    one_line(&out, 1, &["is not a valid onion address", "version"]);
    let out = run(torify().args(["-P", "1", "resolve", "web.test"]));
    one_line(&out, 1, &["127.0.0.1:1", "-P"]);
    // `torify on` with the embedded client starts its service, which cannot reach Tor here
    // (no relay answers in this namespace): after its progress, one line saying so, and
    // nothing for the shell to eval.
    let runtime = dir.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    isolated(|_| {
        let out = run(torify()
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["--backend", "arti", "on"]));
        assert_eq!((out.code, out.stdout.as_str()), (125, ""), "{out:?}");
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("cannot reach any Tor relay") && last.contains("--backend tor"),
            "{out:?}"
        );
        assert!(
            out.stderr
                .lines()
                .all(|l| l == last || l.starts_with("torify: bootstrapping Tor (embedded): ")),
            "{out:?}"
        );
    });
    // In a torified shell the embedded client cannot start (its own connections would be
    // refused), and the library puts itself back into any child, so torify says so.
    isolated(|_| {
        let out = run(torify()
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("LD_PRELOAD", artifacts::library())
            .args(["--backend", "arti", "true"]));
        one_line(
            &out,
            125,
            &[
                "refused to start the embedded Tor client",
                "torify off",
                "--backend tor",
            ],
        );
    });
}

#[test]
fn library_messages_are_one_line_and_level_5_traces_each_decision_without_secrets() {
    isolated(|_| {
        let socks = MockSocks::start("127.0.0.1:0", Behaviour::default()).unwrap();
        // A refusal: what (a UDP datagram to where), why (Tor carries TCP only), no setting.
        let out = probe::run(
            probe::torify(socks.port())
                .arg(artifacts::probe("probe"))
                .args(["raw"]),
        );
        one_line(&out, 0, &["refused a raw socket", "no setting allows it"]);
        // The trace: each hooked call, its destination and the verdict; never the credentials.
        let out = probe::run(
            probe::torify(socks.port())
                .env("TORSOCKS_LOG_LEVEL", "5")
                .env("TORSOCKS_USERNAME", "trace-user-secret")
                .env("TORSOCKS_PASSWORD", "trace-pass-secret")
                .arg(artifacts::probe("probe"))
                .args(["tcp", "198.51.100.7", "80", "x"]),
        );
        assert_eq!(out.errno("connect"), "0", "{out:?}");
        let trace = &out.stderr;
        for expected in [
            "debug: socket(AF_INET, SOCK_STREAM, 0): allowed",
            "connect(3, 198.51.100.7:80): through Tor",
        ] {
            assert!(trace.contains(expected), "no {expected:?} in:\n{trace}");
        }
        assert!(!trace.contains("secret"), "{trace}");
        assert!(
            trace.lines().all(|l| l.starts_with("torify[")),
            "every trace line is the library's: {trace}"
        );
        let _ = socks.seen();
    });
}

#[test]
fn a_launcher_without_its_library_says_how_to_install_it() {
    // What `cargo install --path torify` leaves: the launcher alone in a bin directory.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("torify");
    std::fs::copy(artifacts::torify(), &lone).unwrap();
    let out = run(torify().arg("true").env("PATH", "/usr/bin:/bin"));
    assert_eq!(out.code, 0, "the built launcher finds its library: {out:?}");
    let mut cmd = Command::new(&lone);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TORIFY_BACKEND", "tor")
        .arg("true");
    // A copy just written can be ETXTBSY for a moment: another test thread's fork may still
    // hold the write descriptor until it execs.
    let mut tries = 0;
    let out = loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break probe::Run::from(other.expect("spawn the copied launcher")),
        }
    };
    one_line(
        &out,
        125,
        &[
            "libtorify.so not found",
            &dir.path().join("libtorify.so").display().to_string(),
            "make install",
            "cargo install",
        ],
    );
}

fn readelf(args: &[&str], file: &std::path::Path) -> String {
    let out = Command::new("readelf")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "readelf {args:?} {}: {out:?}",
        file.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What makes `torify true` cheap (torify/build.rs, lib/build.rs): the launcher is a static
/// PIE, started with no dynamic loader and still laid out at a random address, and the
/// library carries its own unwinder instead of loading libgcc_s into every program, without
/// exporting it (a C++ program's exceptions keep their libgcc_s).
#[test]
fn the_launcher_is_a_static_pie_and_the_library_needs_only_libc() {
    let launcher = artifacts::torify();
    let headers = readelf(&["-hlW"], &launcher);
    assert!(
        headers.contains("DYN (Position-Independent Executable file)"),
        "{headers}"
    );
    assert!(!headers.contains("INTERP"), "{headers}");
    assert!(!readelf(&["-dW"], &launcher).contains("(NEEDED)"));

    let lib = artifacts::library();
    let dynamic = readelf(&["-dW"], &lib);
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert_eq!(needed.len(), 2, "{dynamic}");
    assert!(
        needed
            .iter()
            .all(|l| l.contains("[libc.so.6]") || l.contains("[ld-linux")),
        "{dynamic}"
    );
    let symbols = readelf(&["--dyn-syms", "-W"], &lib);
    let unwinder: Vec<&str> = symbols
        .lines()
        .filter(|l| l.contains("_Unwind_") && !l.contains(" UND "))
        .collect();
    assert!(unwinder.is_empty(), "{unwinder:?}");
}

/// The command starts with SIGPIPE at its default whatever the launcher got (std's exec sets
/// it back, as it did when the launcher started through std's start, which ignored it).
#[test]
fn the_command_starts_with_sigpipe_at_its_default() {
    let t = artifacts::torify();
    for restore in ["True", "False"] {
        let script = format!(
            "import signal, subprocess, sys\n\
             signal.signal(signal.SIGPIPE, signal.SIG_IGN)\n\
             r = subprocess.run([sys.argv[1], '-q', 'sh', '-c', 'grep ^SigIgn: /proc/self/status'],\n\
             capture_output=True, text=True, restore_signals={restore})\n\
             print(r.returncode, r.stdout.split()[-1] if r.stdout else r.stderr)"
        );
        let out = run(Command::new("python3")
            .args(["-c", &script])
            .arg(&t)
            .env("TORIFY_BACKEND", "tor"));
        let mut words = out.stdout.split_whitespace();
        assert_eq!(words.next(), Some("0"), "{out:?}");
        let mask = u64::from_str_radix(words.next().unwrap_or(""), 16).expect("a SigIgn mask");
        // SIGPIPE is signal 13: bit 12 of the mask.
        assert_eq!(mask & (1 << 12), 0, "restore_signals={restore}: {out:?}");
    }
}
