//! pidfd_getfd(2): a copy of another process's descriptor. A socket taken this way is judged
//! as one received by SCM_RIGHTS: kept only when it cannot carry traffic around Tor.

use libc::{c_int, c_uint};

use crate::libc_sym::real;
use crate::{fdpass, fdstate, guard, runtime, sys};

/// Judges a descriptor just taken from another process; closes it when refused.
pub(super) fn taken(fd: c_int) -> c_int {
    if fd < 0 {
        return fd;
    }
    fdstate::forget(fd);
    match fdpass::judge_foreign(fd, runtime::get().map(|rt| &rt.settings)) {
        Ok(()) => fd,
        Err(refusal) => {
            sys::close(fd);
            guard::refuse(refusal)
        }
    }
}

/// pidfd_getfd(2).
///
/// # Safety
/// C contract (no pointers).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn pidfd_getfd(pidfd: c_int, targetfd: c_int, flags: c_uint) -> c_int {
    guard::hook("pidfd_getfd", libc::EPERM, || {
        // SAFETY: no pointers.
        match unsafe { real::pidfd_getfd(pidfd, targetfd, flags) } {
            Some(fd) => taken(fd),
            None => guard::unavailable(),
        }
    })
}
