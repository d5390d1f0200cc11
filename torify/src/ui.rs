//! What the launcher says to the person running it: one line each, prefixed with its name.

use std::fmt;
use std::io::Write;

/// How much the launcher and the service say: `-q` nothing, `-d` every detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verbosity {
    /// -q: nothing, not even errors of the library.
    Quiet,
    /// What a user needs: errors, warnings, progress.
    Normal,
    /// -d: every decision.
    Debug,
}

impl Verbosity {
    /// From the -q and -d flags (clap lets only one be given).
    pub(crate) fn of(quiet: bool, debug: bool) -> Verbosity {
        match (quiet, debug) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Debug,
            _ => Verbosity::Normal,
        }
    }

    /// Whether nothing is said.
    pub(crate) fn quiet(self) -> bool {
        self == Verbosity::Quiet
    }

    /// Whether details are said.
    pub(crate) fn debug(self) -> bool {
        self == Verbosity::Debug
    }
}

/// The name the launcher was invoked under (`torify` or `torsocks`).
pub(crate) fn name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "torify".to_owned())
}

/// Prints `name: message` on stderr.
pub(crate) fn error(message: impl fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{}: {message}", name());
}

/// Prints `text` on stdout as is.
pub(crate) fn out(text: impl fmt::Display) {
    let _ = write!(std::io::stdout(), "{text}");
}

/// Writes `bytes` to stdout as they are (shell code that may carry any byte).
pub(crate) fn out_bytes(bytes: &[u8]) {
    let _ = std::io::stdout().write_all(bytes);
}
