//! `torify-rescue`: takes torify's library out of /etc/ld.so.preload (tsocks' `saveme`).
//!
//! When a broken library in /etc/ld.so.preload stops every dynamic program, this program,
//! linked statically, still runs: from a shell that is still open (`exec
//! /usr/sbin/torify-rescue`), or as the first process (boot with `init=/usr/sbin/torify-rescue
//! rw`), where it then starts the real init. It removes every entry naming libtorify.so,
//! wherever installed, keeps the others, and undoes what `torify system enable` changed
//! around its line.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;

use torify_preload::{PRELOAD_FILE, Removed, STATE_FILE, State};

const USAGE: &str = "usage: torify-rescue [--all]
Takes torify's library (every entry naming libtorify.so) out of /etc/ld.so.preload, so that
dynamic programs start without it; --all sets the whole file aside as
/etc/ld.so.preload.torify-rescue. As init (init=/usr/sbin/torify-rescue rw), it then starts
/sbin/init.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let init = std::process::id() == 1;
    let all = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => false,
        ["--all"] => true,
        ["-h" | "--help"] => {
            say(USAGE);
            return ExitCode::SUCCESS;
        }
        // As init, the kernel passes its unknown command-line words on: not ours to judge.
        _ if init => false,
        _ => {
            say(USAGE);
            return ExitCode::from(2);
        }
    };
    let code = match rescue(all) {
        Ok(line) => {
            say(&format!("torify-rescue: {line}"));
            ExitCode::SUCCESS
        }
        Err(line) => {
            say(&format!("torify-rescue: {line}"));
            ExitCode::FAILURE
        }
    };
    if init {
        // PID 1 must not exit (the kernel would panic): hand over to the real init, which the
        // library leaves alone as PID 1 even if it is still listed.
        let err = std::process::Command::new("/sbin/init").exec();
        say(&format!("torify-rescue: cannot start /sbin/init: {err}"));
        loop {
            std::thread::park();
        }
    }
    code
}

fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn rescue(all: bool) -> Result<String, String> {
    let preload = Path::new(PRELOAD_FILE);
    let read_only = |e: std::io::Error| {
        if e.raw_os_error() == Some(30) {
            format!(
                "{PRELOAD_FILE} cannot be changed: the root filesystem is read-only (boot with `rw` after init=/usr/sbin/torify-rescue, or run `mount -o remount,rw /`)"
            )
        } else {
            format!("cannot change {PRELOAD_FILE}: {e}")
        }
    };
    if all {
        let aside = format!("{PRELOAD_FILE}.torify-rescue");
        return match std::fs::rename(preload, &aside) {
            Ok(()) => {
                forget_state();
                Ok(format!(
                    "set {PRELOAD_FILE} aside as {aside}: no library is preloaded now"
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(format!("there is no {PRELOAD_FILE}: nothing to do"))
            }
            Err(e) => Err(read_only(e)),
        };
    }
    let before = std::fs::read_to_string(STATE_FILE)
        .ok()
        .and_then(|t| State::parse(&t).ok())
        .map(|s| s.before);
    match torify_preload::take_out(preload, torify_preload::names_the_library, before)
        .map_err(read_only)?
    {
        Removed::NotListed => Ok(format!(
            "{PRELOAD_FILE} names no libtorify.so: nothing to do (--all sets the whole file aside)"
        )),
        Removed::Delete => {
            forget_state();
            Ok(format!(
                "removed {PRELOAD_FILE} (torify system enable had created it): dynamic programs start without torify now"
            ))
        }
        Removed::Write(_) => {
            forget_state();
            Ok(format!(
                "took libtorify.so out of {PRELOAD_FILE}, keeping its other entries: dynamic programs start without torify now"
            ))
        }
    }
}

/// The system-wide mode is off now: its state file would only mislead `torify system status`.
fn forget_state() {
    let _ = std::fs::remove_file(STATE_FILE);
}
