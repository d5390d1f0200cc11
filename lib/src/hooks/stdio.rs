//! fdopen(3) and fclose(3): stdio reads, writes and closes its descriptor inside libc, where
//! none of our read, write or close hooks sees it. So a socket gets its pending SOCKS reply
//! consumed before it becomes a FILE (else `fgets` returns Tor's reply, "\x05…"), a socket
//! that would send around Tor never becomes one, and fclose forgets what we knew of the number.

use libc::{FILE, c_char, c_int};

use crate::libc_sym::real;
use crate::pending::{self, Settled};
use crate::{fdstate, guard, inherited};

/// fdopen(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut FILE {
    guard::catch("fdopen", std::ptr::null_mut, || {
        // Waits for the reply whatever O_NONBLOCK says: stdio reads past anything it is given.
        if let Settled::Fail(e) = pending::settle(fd, false, true) {
            guard::fail(e);
            return std::ptr::null_mut();
        }
        if let Err(refusal) = inherited::judge_send(fd) {
            guard::refuse(refusal);
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's arguments.
        unsafe { real::fdopen(fd, mode) }.unwrap_or_else(guard::unavailable_ptr)
    })
}

/// fclose(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fclose(stream: *mut FILE) -> c_int {
    guard::catch(
        "fclose",
        || (),
        || {
            if !stream.is_null() {
                // SAFETY: a FILE of the caller's (fileno only reads its descriptor).
                let fd = unsafe { libc::fileno(stream) };
                if fd >= 0 {
                    fdstate::forget(fd);
                }
            }
        },
    );
    // SAFETY: the caller's argument.
    unsafe { real::fclose(stream) }.unwrap_or_else(guard::unavailable)
}
