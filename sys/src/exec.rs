//! What a command's process does between fork and exec, where only async-signal-safe calls
//! may be made (std's `pre_exec`, which is unsafe for that reason). Each function adds one
//! step; steps run in the order they were added, after std has set up the command's stdio.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::BpfProgram;

/// Installs the seccomp `program` in the command's process just before it execs
/// (PR_SET_NO_NEW_PRIVS, then seccomp(2) on that thread); a failure fails the spawn with the
/// kernel's errno.
pub fn apply_seccomp(cmd: &mut Command, program: BpfProgram) {
    // SAFETY: seccompiler's apply_filter makes two system calls (prctl, seccomp) and
    // allocates nothing, nor does making an io::Error of an errno: all async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            seccompiler::apply_filter(&program).map_err(|e| match e {
                seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e,
                _ => io::Error::from_raw_os_error(libc::EINVAL),
            })
        })
    };
}

/// Makes the command's process a session (and process group) of its own, setsid(2).
pub fn new_session(cmd: &mut Command) {
    // SAFETY: setsid(2) is async-signal-safe, and so is reading errno.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

/// Puts `fd` at descriptor `at` in the command's process, without close-on-exec (dup2(2), or,
/// when `fd` is already `at`, clearing the flag: dup2 onto itself would leave it set). The
/// command holds `fd` open until it is dropped.
pub fn pass_fd(cmd: &mut Command, fd: OwnedFd, at: RawFd) {
    // SAFETY: dup2(2) and fcntl(2) are async-signal-safe; `fd` is open for as long as the
    // closure, which owns it, lives.
    unsafe {
        cmd.pre_exec(move || {
            let raw = fd.as_raw_fd();
            let placed = if raw == at {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, at)
            };
            if placed < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        })
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_descriptor_is_there_for_the_command() {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo here >&9"]);
        pass_fd(&mut cmd, write, 9);
        new_session(&mut cmd);
        let status = cmd.status().unwrap();
        drop(cmd);
        assert!(status.success());
        let mut got = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut got).unwrap();
        assert_eq!(got, "here\n");
    }
}
