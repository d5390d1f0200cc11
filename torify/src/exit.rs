//! How the launcher and the service fail: the exit statuses they share with env(1) and the
//! one line a failure prints.

/// An exit status of torify's own (otherwise it exits with the command's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 1: `check` found a problem, `resolve` could not resolve.
    Failed = 1,
    /// 125: torify itself failed (as env(1) uses it); nothing was run.
    Torify = 125,
    /// 126: the command exists but cannot be run.
    CannotRun = 126,
    /// 127: the command is not found.
    NotFound = 127,
}

impl Exit {
    /// The status as a process exits with it.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// The status the launcher exits with (it starts through torify_sys::entry, which takes the
/// number: std's ExitCode does not give it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status(pub(crate) u8);

impl Status {
    /// 0.
    pub(crate) const SUCCESS: Status = Status(0);
    /// 1.
    pub(crate) const FAILURE: Status = Status(1);
}

impl From<u8> for Status {
    fn from(code: u8) -> Self {
        Status(code)
    }
}

impl From<Exit> for Status {
    fn from(exit: Exit) -> Self {
        Status(exit.code())
    }
}

/// A failure of the launcher: how it exits and the one line it prints.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit status.
    pub(crate) exit: Exit,
    /// What failed, why, and the setting that changes it.
    pub(crate) line: String,
}

impl Failure {
    /// A failure exiting with `exit`, saying `line`.
    pub(crate) fn new(exit: Exit, line: impl Into<String>) -> Failure {
        Failure {
            exit,
            line: line.into(),
        }
    }
}

/// A failure of torify itself (exit status 125), saying `line`.
pub(crate) fn fail(line: impl Into<String>) -> Failure {
    Failure::new(Exit::Torify, line)
}

/// The async runtime of the cage's stack and of the embedded client's service.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))
}
