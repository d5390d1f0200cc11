//! The command line: torsocks' flags and words (`on`, `off`, `show`, `--shell`), which keep
//! their meaning, and torify's own.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueHint};
use torify_conf::{FlagValue, Key};

/// Run a program with its TCP through Tor, its name lookups through Tor, and everything Tor
/// cannot carry (UDP, raw sockets, stray DNS) refused.
#[derive(Debug, Parser)]
#[command(
    name = "torify",
    version,
    allow_external_subcommands = true,
    subcommand_value_name = "SUBCOMMAND",
    override_usage = "torify [OPTIONS] [--] COMMAND [ARGS]...\n       torify [OPTIONS] --shell\n       torify [OPTIONS] SUBCOMMAND",
    subcommand_help_heading = "Subcommands",
    disable_help_subcommand = true,
    after_help = "Examples:\n  torify curl http://example.onion/\n  torsocks ssh user@host\n  torify -i git clone http://example.com/repo.git\n  torify --shell\n  eval \"$(torify on)\"   ...   eval \"$(torify off)\"\n  torify check\n\nExit status: the command's own; 125 when torify itself fails (bad settings, no library,\nno Tor), 126 when the command cannot be run, 127 when it is not found."
)]
pub(crate) struct Cli {
    /// The options every subcommand takes too.
    #[command(flatten)]
    pub(crate) opts: Options,

    /// Start your $SHELL (or /bin/sh) torified, its prompt marked "(tor) " as `on` does;
    /// TORIFY_SHELL=1 is set in it
    #[arg(long = "shell")]
    pub(crate) shell: bool,

    /// Run the command in the kernel cage: new namespaces whose only way out is Tor, so static
    /// and Go programs, io_uring and raw system calls go through Tor too [TORIFY_STRICT]
    #[arg(long = "strict")]
    pub(crate) strict: bool,

    #[command(subcommand)]
    pub(crate) sub: Option<Sub>,
}

/// The options of the launcher that every subcommand takes too (`global`), torsocks' own
/// among them.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct Options {
    /// Tor's SOCKS address: an IPv4 or IPv6 address, or unix:/path [TORSOCKS_TOR_ADDRESS]
    #[arg(short = 'a', long = "address", value_name = "ADDR", global = true)]
    pub(crate) address: Option<String>,

    /// Tor's SOCKS port [TORSOCKS_TOR_PORT]
    #[arg(short = 'P', long = "port", value_name = "PORT", global = true)]
    pub(crate) port: Option<String>,

    /// SOCKS5 username, for stream isolation; needs --pass [TORSOCKS_USERNAME]
    #[arg(short = 'u', long = "user", value_name = "NAME", global = true)]
    pub(crate) user: Option<String>,

    /// SOCKS5 password, for stream isolation; needs --user (blanked in the launcher's own
    /// command line; --pass-file keeps it off it) [TORSOCKS_PASSWORD]
    #[arg(short = 'p', long = "pass", value_name = "PASS", global = true)]
    pub(crate) pass: Option<String>,

    /// Read the SOCKS5 password from FILE (its first line)
    #[arg(long = "pass-file", value_name = "FILE", global = true, conflicts_with = "pass", value_hint = ValueHint::FilePath)]
    pub(crate) pass_file: Option<PathBuf>,

    /// Isolate each process on its own circuits (torsocks' IsolatePID) [TORSOCKS_ISOLATE_PID]
    #[arg(short = 'i', long = "isolate", global = true)]
    pub(crate) isolate: bool,

    /// Which Tor: a tor daemon (tor), the embedded client (arti), or the daemon when its
    /// SocksPort answers and the embedded client otherwise (auto) [TORIFY_BACKEND]
    #[arg(long = "backend", value_name = "BACKEND", value_parser = ["tor", "arti", "auto"], global = true)]
    pub(crate) backend: Option<String>,

    /// Where names are resolved: by Tor's exit at connect (exit, one circuit round trip
    /// fewer), or by a RESOLVE at lookup time as torsocks does (resolve) [TORIFY_DNS]
    #[arg(long = "dns", value_name = "MODE", value_parser = ["exit", "resolve"], global = true)]
    pub(crate) dns: Option<String>,

    /// Read settings from FILE (torify.toml, or a torsocks.conf when not ending in .toml)
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true, value_hint = ValueHint::FilePath)]
    pub(crate) config: Option<PathBuf>,

    /// Log every decision (log level 5) [TORSOCKS_LOG_LEVEL=5]
    #[arg(short = 'd', long = "debug", conflicts_with = "quiet", global = true)]
    pub(crate) debug: bool,

    /// Log nothing, not even errors (log level 1) [TORSOCKS_LOG_LEVEL=1]
    #[arg(short = 'q', long = "quiet", global = true)]
    pub(crate) quiet: bool,

    /// Accepted for torsocks' sake and changes nothing: IPv6 TCP always goes through Tor,
    /// and other IPv6 sockets are refused as IPv4 ones are
    #[arg(short = '6', long = "ipv6", global = true)]
    pub(crate) ipv6: bool,
}

/// The name `torify check` resolves unless `--name` says another.
pub(crate) const CHECK_NAME: &str = "torproject.org";

/// What to do besides running a program.
#[derive(Debug, Subcommand)]
pub(crate) enum Sub {
    /// Print the effective settings, where each comes from, and LD_PRELOAD (secrets masked)
    Show,
    /// Diagnose the setup in plain sentences: settings, backend, is Tor there, can it
    /// resolve, does the library load; exits 1 if anything fails
    Check {
        /// The name to resolve through Tor
        #[arg(long = "name", value_name = "NAME", default_value = CHECK_NAME)]
        name: String,
    },
    /// Resolve NAME through Tor (its RESOLVE), or with -x an address back to a name, like
    /// tor-resolve
    Resolve {
        /// Reverse lookup: NAME is an IP address (RESOLVE_PTR)
        #[arg(short = 'x', long = "reverse")]
        reverse: bool,
        /// The name (or with -x the address)
        #[arg(value_name = "NAME")]
        target: String,
    },
    /// Print shell code that torifies this shell: eval "$(torify on)"
    On,
    /// Print shell code that undoes `torify on` exactly: eval "$(torify off)"
    Off,
    /// Listen locally and carry every connection to HOST:PORT through Tor (for programs the
    /// library cannot reach: static binaries, Go, JVMs)
    Forward {
        /// Where to listen: PORT (on 127.0.0.1) or ADDRESS:PORT; 0 picks a free port
        #[arg(
            long = "listen",
            value_name = "[ADDRESS:]PORT",
            default_value = "127.0.0.1:0"
        )]
        listen: String,
        /// Allow a --listen address other than loopback (anyone who reaches it uses your Tor)
        #[arg(long = "expose")]
        expose: bool,
        /// Put each connection on circuits of its own (a new SOCKS identity per connection)
        #[arg(long = "isolate-connections")]
        isolate: bool,
        /// The destination, sent to Tor as given: a name, an .onion name, or an address
        #[arg(value_name = "HOST:PORT")]
        destination: String,
    },
    /// Run the embedded Tor client as your own service, so commands with --backend arti find
    /// their circuits ready: SOCKS on a unix socket in $XDG_RUNTIME_DIR/torify (`serve status`,
    /// `serve stop`)
    Serve {
        /// Stay in the foreground, logging to stderr (for systemd or a terminal)
        #[arg(long = "foreground")]
        foreground: bool,
        /// Stop SECONDS after the last client left (default: run until stopped)
        #[arg(long = "linger", value_name = "SECONDS")]
        linger: Option<u64>,
        /// The descriptor a starting command reads the service's progress from
        #[arg(long = "ready-fd", value_name = "FD", hide = true)]
        ready_fd: Option<i32>,
        #[command(subcommand)]
        action: Option<ServeAction>,
    },
    /// The system-wide mode: every dynamic program on this machine torified through
    /// /etc/ld.so.preload, the tor daemon and PID 1 left alone (as root)
    System {
        #[command(subcommand)]
        action: SystemAction,
    },
    /// Print a completion script for SHELL (bash or zsh)
    Completions {
        /// The shell
        #[arg(value_name = "SHELL")]
        shell: CompletionShell,
    },
    /// COMMAND [ARGS…]: the program to run torified (`torify -- show` runs a program named
    /// show)
    #[command(external_subcommand)]
    Run(Vec<OsString>),
}

/// The shells `torify completions` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CompletionShell {
    /// bash (with bash-completion's helpers when they are there).
    Bash,
    /// zsh.
    Zsh,
}

/// What `torify system` does.
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum SystemAction {
    /// List the library in /etc/ld.so.preload, once it has loaded into a test process; the
    /// tor daemon's users and programs, and torify's own, are exempt
    Enable {
        /// Exempt this user's processes too (a name or a numeric id; repeatable)
        #[arg(long = "exempt-user", value_name = "USER")]
        users: Vec<String>,
        /// Exempt this program too (repeatable)
        #[arg(long = "exempt-program", value_name = "PATH", value_hint = ValueHint::ExecutablePath)]
        programs: Vec<PathBuf>,
    },
    /// Take the library out of /etc/ld.so.preload, leaving the file as it was before enable
    Disable,
    /// Say whether the mode is on (exit status 0) or off (3), and what it exempts
    Status,
}

/// What `torify serve` does besides serving.
#[derive(Clone, Copy, Debug, Subcommand)]
pub(crate) enum ServeAction {
    /// Say whether the service runs (exit status 0) or not (3), and where
    Status,
    /// Stop the running service; its socket is removed
    Stop,
}

/// The subcommands' names: a first word that is none of these is the command to run.
pub(crate) const SUBCOMMANDS: [&str; 9] = [
    "show",
    "check",
    "resolve",
    "on",
    "off",
    "forward",
    "serve",
    "system",
    "completions",
];

/// `torify [OPTIONS] COMMAND [ARGS]...`, the line nearly every start has, read without clap.
/// clap builds every subcommand of `Cli`, each with a copy of the global options, before it
/// reads a word; even a subcommand-free clap command touched enough code for a tenth of the
/// launcher's page faults, and page faults are most of what the launcher costs. This reads
/// only the plainest lines: each option once, values that are not empty and do not start
/// with `-`, no `=` after a short option, no conflict, a command that names no subcommand.
/// Anything else, help and every error included, is left to `Cli` (None), and what this does
/// read, `Cli` reads the same way (tests::the_quick_reading_agrees_with_clap).
fn quick(args: &[OsString]) -> Option<Cli> {
    let mut opts = Options::default();
    let mut strict = false;
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let arg = arg.to_str()?;
        if arg == "--" {
            i += 1;
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, joined) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let flag = if name == "strict" {
                Some(&mut strict)
            } else {
                opts.flag(name)
            };
            if let Some(flag) = flag {
                if joined.is_some() || std::mem::replace(flag, true) {
                    return None;
                }
            } else {
                let value = match joined {
                    Some(v) => v,
                    None => {
                        i += 1;
                        args.get(i)?.to_str()?
                    }
                };
                opts.set(name, value)?;
            }
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (at, short) in cluster.char_indices() {
                if let Some(flag) = opts.short_flag(short) {
                    if std::mem::replace(flag, true) {
                        return None;
                    }
                    continue;
                }
                let rest = &cluster[at + short.len_utf8()..];
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i)?.to_str()?
                } else if rest.starts_with('=') {
                    return None;
                } else {
                    rest
                };
                opts.set(Options::long_of(short)?, value)?;
                break;
            }
        } else {
            break;
        }
        i += 1;
    }
    let command = args.get(i..)?;
    let first = command.first()?.to_str()?;
    let conflict = (opts.pass.is_some() && opts.pass_file.is_some()) || (opts.debug && opts.quiet);
    if conflict || first.starts_with('-') || SUBCOMMANDS.contains(&first) {
        return None;
    }
    Some(Cli {
        opts,
        shell: false,
        strict,
        sub: Some(Sub::Run(command.to_vec())),
    })
}

/// The short flags of [`Options`], with their long names.
const SHORT_FLAGS: [(char, &str); 4] = [
    ('i', "isolate"),
    ('d', "debug"),
    ('q', "quiet"),
    ('6', "ipv6"),
];
/// The short options of [`Options`] that take a value, with their long names.
pub(crate) const SHORT_VALUES: [(char, &str); 5] = [
    ('a', "address"),
    ('P', "port"),
    ('u', "user"),
    ('p', "pass"),
    ('c', "config"),
];

impl Options {
    /// The flag a long name sets.
    fn flag(&mut self, long: &str) -> Option<&mut bool> {
        match long {
            "isolate" => Some(&mut self.isolate),
            "debug" => Some(&mut self.debug),
            "quiet" => Some(&mut self.quiet),
            "ipv6" => Some(&mut self.ipv6),
            _ => None,
        }
    }

    /// The flag a short name sets.
    fn short_flag(&mut self, short: char) -> Option<&mut bool> {
        let (_, long) = SHORT_FLAGS.iter().find(|(s, _)| *s == short)?;
        self.flag(long)
    }

    /// The long name of a short option that takes a value.
    fn long_of(short: char) -> Option<&'static str> {
        SHORT_VALUES
            .iter()
            .find(|(s, _)| *s == short)
            .map(|(_, long)| *long)
    }

    /// Sets the option `long` to `value`, once; None when clap would refuse or read it
    /// otherwise.
    fn set(&mut self, long: &str, value: &str) -> Option<()> {
        if value.is_empty() || value.starts_with('-') {
            return None;
        }
        let slot = match long {
            "address" => &mut self.address,
            "port" => &mut self.port,
            "user" => &mut self.user,
            "pass" => &mut self.pass,
            "backend" if ["tor", "arti", "auto"].contains(&value) => &mut self.backend,
            "dns" if ["exit", "resolve"].contains(&value) => &mut self.dns,
            "pass-file" | "config" => {
                let slot = if long == "config" {
                    &mut self.config
                } else {
                    &mut self.pass_file
                };
                return slot.replace(PathBuf::from(value)).is_none().then_some(());
            }
            _ => return None,
        };
        slot.replace(value.to_owned()).is_none().then_some(())
    }
}

/// The launcher's command line, from `args` (argv, the program's name first).
pub(crate) fn parse(args: Vec<OsString>) -> Result<Cli, clap::Error> {
    match quick(&args) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args),
    }
}

impl Cli {
    /// What -q and -d ask for.
    pub(crate) fn verbosity(&self) -> crate::ui::Verbosity {
        crate::ui::Verbosity::of(self.opts.quiet, self.opts.debug)
    }

    /// The flags that are settings, for the settings loader (later sources win; flags last);
    /// `Err` with a line when --pass-file cannot be read.
    pub(crate) fn setting_flags(&self) -> Result<Vec<FlagValue>, String> {
        let mut flags = Vec::new();
        let mut push = |key, value: &str, flag| {
            flags.push(FlagValue {
                key,
                value: value.to_owned(),
                flag,
            });
        };
        if let Some(a) = &self.opts.address {
            push(Key::TorAddress, a, "-a");
        }
        if let Some(p) = &self.opts.port {
            push(Key::TorPort, p, "-P");
        }
        if let Some(u) = &self.opts.user {
            push(Key::Username, u, "-u");
        }
        if let Some(p) = &self.opts.pass {
            push(Key::Password, p, "-p");
        }
        if let Some(file) = &self.opts.pass_file {
            let mut text = std::fs::read_to_string(file).map_err(|e| {
                format!(
                    "--pass-file {}: cannot read it: {e}; name a readable file holding the password",
                    file.display()
                )
            })?;
            push(
                Key::Password,
                text.lines().next().unwrap_or(""),
                "--pass-file",
            );
            zeroize::Zeroize::zeroize(&mut text);
        }
        if let Some(b) = &self.opts.backend {
            push(Key::Backend, b, "--backend");
        }
        if let Some(m) = &self.opts.dns {
            push(Key::DnsMode, m, "--dns");
        }
        if self.opts.isolate {
            push(Key::IsolatePid, "1", "-i");
        }
        if self.opts.debug {
            push(Key::LogLevel, "5", "-d");
        }
        if self.opts.quiet {
            push(Key::LogLevel, "1", "-q");
        }
        if self.strict {
            push(Key::Strict, "1", "--strict");
        }
        Ok(flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_subcommand_list_is_clap_s() {
        let cmd = Cli::command();
        let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(names, SUBCOMMANDS);
        assert!(
            cmd.get_subcommands()
                .all(|c| c.get_all_aliases().next().is_none())
        );
    }

    /// Every line `quick` reads, `Cli` reads the same way, and the usual lines are read
    /// quickly.
    #[test]
    fn the_quick_reading_agrees_with_clap() {
        let options: &[&[&str]] = &[
            &[],
            &["-q"],
            &["-d"],
            &["-q", "-d"],
            &["-qi"],
            &["-i6"],
            &["--strict"],
            &["--shell"],
            &["-a", "127.0.0.1", "-P", "9050"],
            &["-a127.0.0.1", "-P9050"],
            &["--address=::1", "--port", "9150"],
            &["-u", "alice", "-p", "secret"],
            &["-p", "secret", "--pass-file", "/f"],
            &["--pass-file=/f"],
            &["--backend", "arti", "--dns", "resolve"],
            &["--backend", "nope"],
            &["-c", "/etc/torify/torify.toml"],
            &["-P"],
            &["--"],
            &["-q", "--"],
            &["-x"],
            &["--version"],
            &["-h"],
            &["-a=1.2.3.4"],
            &["-qa", "127.0.0.1"],
            &["-aq"],
            &["-q", "-q"],
            &["-q", "--quiet"],
            &["--quiet=1"],
            &["--strict", "--strict"],
            &["--address="],
            &["-a", ""],
            &["-a", "-q"],
            &["-a", "1", "--address", "2"],
            &["-"],
            &["--backend=tor", "--dns=exit"],
            &["--pass-file", "/f", "--pass", "x"],
            &["-c"],
            &["--config=/c", "-i", "-6"],
            &["--nope"],
            &["-P", "9050", "--shell"],
            &["--", "--"],
        ];
        let commands: &[&[&str]] = &[
            &[],
            &["curl", "-q", "http://x/"],
            &["ssh", "-p", "22", "--", "host"],
            &["sh"],
            &["sh", "-c", "true"],
            &["-q"],
            &["--help"],
            &["help"],
            &["check"],
            &["show"],
            &["serve", "--foreground"],
            &["system", "status"],
            &["resolve", "-x", "1.2.3.4"],
            &["forward", "x:1"],
            &["completions", "bash"],
            &["true", "--strict", "-a", "1"],
            &["-"],
            &["--", "x"],
            &["é"],
        ];
        for o in options {
            for c in commands {
                let argv: Vec<OsString> = std::iter::once("torify")
                    .chain(o.iter().copied())
                    .chain(c.iter().copied())
                    .map(OsString::from)
                    .collect();
                let full = Cli::try_parse_from(&argv).map_err(|e| e.kind());
                let read = parse(argv.clone()).map_err(|e| e.kind());
                assert_eq!(format!("{read:?}"), format!("{full:?}"), "{argv:?}");
            }
        }
        for usual in [
            "torify curl http://x/",
            "torsocks -q ssh -p 22 host",
            "torify -i -a 127.0.0.1 -P9050 --dns exit git clone x",
            "torify --strict -u a -p b -- wget x",
            "torify sh",
        ] {
            let argv: Vec<OsString> = usual.split(' ').map(OsString::from).collect();
            assert!(quick(&argv).is_some(), "{usual}");
        }
    }
}
