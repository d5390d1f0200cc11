//! What every hook shares: no panic crosses into C, and a refusal is logged once and returned
//! as -1 with errno.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use libc::c_int;
use torify_core::refusal::Refusal;
use torify_core::socks5::Target;

use crate::{log, sys};

/// Runs a hook body; a panic is logged and becomes `on_panic()`, never an unwind into C.
pub(crate) fn catch<T>(name: &str, on_panic: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(ret) => ret,
        Err(_) => {
            // Logging could be what panicked; try, but under the same protection.
            let _ =
                catch_unwind(|| tracing::error!("internal error in {name}(); the call is refused"));
            on_panic()
        }
    }
}

/// Runs the body of a hook that returns -1 and errno on failure; a panic fails with `errno`.
pub(crate) fn hook(name: &str, errno: c_int, body: impl FnOnce() -> c_int) -> c_int {
    catch(name, || fail(errno), body)
}

/// A C string argument as UTF-8 (`None` for null or invalid UTF-8).
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn c_str<'a>(p: *const libc::c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated (caller contract).
    unsafe { std::ffi::CStr::from_ptr(p) }.to_str().ok()
}

/// Fails the call for `refusal`: logs its line, sets errno, returns -1.
pub(crate) fn refuse(refusal: Refusal) -> c_int {
    if is_probe(&refusal) {
        // Creating a datagram socket sends nothing, and programs do it to probe for IPv6 or
        // UDP support (curl on every run); a program that needs it gets EPERM and says so.
        tracing::info!("{refusal}");
    } else {
        log::refusal(refusal.reason.kind(), &refusal);
    }
    sys::set_errno(refusal.errno);
    -1
}

fn is_probe(refusal: &Refusal) -> bool {
    matches!(
        refusal.reason,
        torify_core::refusal::Reason::SocketType {
            ty: libc::SOCK_DGRAM,
            ..
        }
    )
}

/// Fails the call with `errno` (already explained in the log, or the kernel's own answer).
pub(crate) fn fail(errno: c_int) -> c_int {
    sys::set_errno(errno);
    -1
}

/// A real libc call that could not be made (symbol missing): fail closed.
pub(crate) fn unavailable() -> c_int {
    fail(libc::ENOSYS)
}

/// Shows a SOCKS target the way a person writes it.
pub(crate) struct Shown<'a>(pub(crate) &'a Target<'a>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(n, p) => write!(f, "{n}:{p}"),
            _ => f.write_str("?"),
        }
    }
}
