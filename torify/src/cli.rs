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

impl Cli {
    /// What -q and -d ask for.
    pub(crate) fn verbosity(&self) -> crate::ui::Verbosity {
        crate::ui::Verbosity::of(self.quiet, self.debug)
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
        if let Some(a) = &self.address {
            push(Key::TorAddress, a, "-a");
        }
        if let Some(p) = &self.port {
            push(Key::TorPort, p, "-P");
        }
        if let Some(u) = &self.user {
            push(Key::Username, u, "-u");
        }
        if let Some(p) = &self.pass {
            push(Key::Password, p, "-p");
        }
        if let Some(file) = &self.pass_file {
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
        if let Some(b) = &self.backend {
            push(Key::Backend, b, "--backend");
        }
        if let Some(m) = &self.dns {
            push(Key::DnsMode, m, "--dns");
        }
        if self.isolate {
            push(Key::IsolatePid, "1", "-i");
        }
        if self.debug {
            push(Key::LogLevel, "5", "-d");
        }
        if self.quiet {
            push(Key::LogLevel, "1", "-q");
        }
        if self.strict {
            push(Key::Strict, "1", "--strict");
        }
        Ok(flags)
    }
}
