//! Passing signals on to a child, from a handler. signal-hook's safe ways set a flag or need a
//! thread to read them (its iterator), its low-level registration takes an `unsafe` closure,
//! and a process after unshare(CLONE_NEWPID) cannot start a thread (clone(2): EINVAL). Its
//! origin information is here too: `si_code` tells a signal a process sent from one the
//! kernel generated.

use std::sync::atomic::{AtomicI32, Ordering};

use libc::c_int;

/// The process the handler passes signals on to; 0 or less: none.
static TARGET: AtomicI32 = AtomicI32::new(0);

/// The handler: passes `sig` on to [`TARGET`] when a process sent it (`si_code` ≤ 0: SI_USER
/// from kill(2), SI_QUEUE, SI_TKILL); one the kernel generated (`si_code` > 0: a terminal's
/// Ctrl-C or window resize, among others) is dropped.
extern "C" fn pass_on(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let code = if info.is_null() {
        0
    } else {
        // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
        unsafe { (*info).si_code }
    };
    let target = TARGET.load(Ordering::Relaxed);
    if code <= 0 && target > 0 {
        // SAFETY: kill(2) takes no pointers and is async-signal-safe.
        unsafe { libc::kill(target, sig) };
    }
}

/// Sets the process that [`pass_on_sent`]'s handler passes signals on to (0: none, for now).
pub fn set_target(pid: i32) {
    TARGET.store(pid, Ordering::Relaxed);
}

/// Handles each of `signals` (SA_SIGINFO, SA_RESTART) by passing it on to the process set with
/// [`set_target`] when another process sent it, and dropping it when the kernel generated it.
/// A signal that cannot be handled (SIGKILL, SIGSTOP) keeps its default.
pub fn pass_on_sent(signals: &[c_int]) {
    for &sig in signals {
        // SAFETY: a zeroed sigaction (plain old data) with our handler, SA_SIGINFO and an
        // emptied mask; the handler makes one atomic load and one async-signal-safe call.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = pass_on as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn a_signal_a_process_sent_reaches_the_target() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        set_target(child.id() as i32);
        pass_on_sent(&[libc::SIGUSR2]);
        let me = rustix::process::getpid();
        rustix::process::kill_process(me, rustix::process::Signal::USR2).unwrap();
        let status = child.wait().unwrap();
        set_target(0);
        assert_eq!(status.signal(), Some(libc::SIGUSR2));
    }
}
