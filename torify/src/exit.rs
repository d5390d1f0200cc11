//! How the launcher and the service fail: the exit statuses they share with env(1) and the
//! one line a failure prints.

/// Exit status for a failure of torify itself (as env(1) uses it).
pub(crate) const EXIT_TORIFY: u8 = 125;
/// Exit status when the command exists but cannot be run.
pub(crate) const EXIT_CANNOT_RUN: u8 = 126;
/// Exit status when the command is not found.
pub(crate) const EXIT_NOT_FOUND: u8 = 127;

/// A failure of the launcher: the exit status and the one line it prints.
pub(crate) type Failure = (u8, String);

/// A failure of torify itself (exit status 125), saying `line`.
pub(crate) fn fail(line: impl Into<String>) -> Failure {
    (EXIT_TORIFY, line.into())
}

/// The async runtime of the cage's stack and of the embedded client's service.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the async runtime: {e}")))
}
