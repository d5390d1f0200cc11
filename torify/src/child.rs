//! Running the command as a child (when the launcher must stay: holding the embedded Tor
//! service for it, or serving the cage): signals sent to the launcher reach the command, and
//! its exit status is ours.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;

use crate::exit::{self, Failure};
use crate::launch::{self, EnvChanges};

/// Signals the launcher passes on.
pub(crate) const FORWARDED: [libc::c_int; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGWINCH,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGCONT,
];

/// Passes the signals in [`FORWARDED`] that a process sends to this one (kill, a service
/// manager) on to `pid`. One the terminal generated (Ctrl-C, a window resize) went to the whole
/// foreground process group, the command included: passing it on would deliver it twice.
///
/// A signal handler (torify-sys), not signal-hook's thread: the cage's processes forward
/// signals after unshare(CLONE_NEWPID), and such a process cannot start a thread (clone(2):
/// EINVAL).
pub(crate) fn forward_signals_to(pid: i32) {
    torify_sys::signal::set_target(pid);
    install_forwarding();
}

fn install_forwarding() {
    torify_sys::signal::pass_on_sent(&FORWARDED);
}

/// Runs the command with the library and `changes` (plus `extra` variables), forwards signals,
/// and returns its exit status (128 + N when signal N ended it, as shells report it).
pub(crate) fn run(
    command: &[OsString],
    program: &Path,
    lib: &Path,
    changes: &EnvChanges,
    extra: &[(&str, String)],
    filters: Option<crate::seccomp::Filters>,
) -> Result<u8, Failure> {
    let mut cmd = Command::new(program);
    cmd.arg0(&command[0]).args(&command[1..]);
    launch::apply(&mut cmd, lib, changes);
    launch::filter(&mut cmd, filters);
    cmd.envs(extra.iter().map(|(k, v)| (k, v)));
    install_forwarding();
    let mut child = cmd.spawn().map_err(|e| {
        let status = if e.kind() == std::io::ErrorKind::NotFound {
            exit::Exit::NotFound
        } else {
            exit::Exit::CannotRun
        };
        Failure::new(status, format!("{}: {e}", program.display()))
    })?;
    torify_sys::signal::set_target(i32::try_from(child.id()).unwrap_or(0));
    let status = child
        .wait()
        .map_err(|e| exit::fail(format!("waiting for the command: {e}")))?;
    torify_sys::signal::set_target(0);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        _ => 1,
    })
}
