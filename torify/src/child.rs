//! Running the command as a child (when the launcher must stay: holding the embedded Tor
//! service for it, or serving the cage): signals sent to the launcher reach the command, and
//! its exit status is ours.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::exit::{self, Failure};
use crate::launch::{self, EnvChanges};

/// The child's pid, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

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

/// Passes the signals in [`FORWARDED`] that a process sends to this one on to `pid`.
pub(crate) fn forward_signals_to(pid: i32) {
    CHILD.store(pid, Ordering::Relaxed);
    install_forwarding();
}

/// From now on, passes a signal on to the command when a process sent it (kill, a service
/// manager). One the terminal generated (Ctrl-C, a window resize) went to the whole
/// foreground process group, the command included: passing it on would deliver it twice.
/// signal-hook tells the two apart by the signal's origin (its siginfo), on a thread of its
/// own, started once.
fn install_forwarding() {
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::origin::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let mut signals = match SignalsInfo::<WithOrigin>::new(FORWARDED) {
            Ok(signals) => signals,
            Err(e) => {
                crate::ui::error(format!(
                    "signals sent to torify will not reach the command: {e}"
                ));
                return;
            }
        };
        std::thread::spawn(move || {
            for origin in signals.forever() {
                let child = rustix::process::Pid::from_raw(CHILD.load(Ordering::Relaxed));
                let signal = rustix::process::Signal::from_named_raw(origin.signal);
                if let (Some(child), Some(signal), Cause::Sent(_)) = (child, signal, origin.cause) {
                    let _ = rustix::process::kill_process(child, signal);
                }
            }
        });
    });
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
    CHILD.store(i32::try_from(child.id()).unwrap_or(0), Ordering::Relaxed);
    let status = child
        .wait()
        .map_err(|e| exit::fail(format!("waiting for the command: {e}")))?;
    CHILD.store(0, Ordering::Relaxed);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        _ => 1,
    })
}
