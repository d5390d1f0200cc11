//! What every hook shares: no panic crosses into C, and a refusal is logged once and returned
//! as -1 with errno.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use libc::c_int;
use torify_core::policy::SocketKind;
use torify_core::refusal::Refusal;
use torify_core::socks5::Target;

use crate::{log, sys};

/// Runs a hook body; a panic is logged and becomes `on_panic()`, never an unwind into C.
/// Never inlined: inlined, its landing pad made a hook save five registers even on the path
/// that never reaches it (the fast path of close, dup and fcntl: 4 instructions a call more,
/// callgrind).
#[inline(never)]
pub(crate) fn catch<T>(name: &str, on_panic: impl FnOnce() -> T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(ret) => ret,
        Err(_) => {
            // Logging could be what panicked; try, but under the same protection.
            let _ = catch_unwind(|| log::error!("internal error in {name}(); the call is refused"));
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

/// Fails the call for `refusal`: logs its line (at the default level, a few times per kind),
/// sets errno, returns -1.
pub(crate) fn refuse(refusal: Refusal) -> c_int {
    log::refusal(refusal.reason.kind(), &refusal);
    sys::set_errno(refusal.errno);
    -1
}

/// What socket `fd` is: `Ok(None)` when it is no open socket (the call goes to libc, and the
/// kernel gives its own answer), `Err(-1)` when that cannot be found out: refused, never
/// guessed (a program whose getsockopt fails would otherwise connect around Tor).
pub(crate) fn classify(fd: c_int) -> Result<Option<SocketKind>, c_int> {
    sys::socket_kind(fd).map_err(|e| {
        refuse(Refusal {
            errno: libc::EPERM,
            reason: torify_core::refusal::Reason::Unclassified(e),
        })
    })
}

/// Fails the call with `errno` (already explained in the log, or the kernel's own answer).
pub(crate) fn fail(errno: c_int) -> c_int {
    sys::set_errno(errno);
    -1
}

/// `fail` for the calls that return ssize_t.
pub(crate) fn fail_len(errno: c_int) -> libc::ssize_t {
    fail(errno) as libc::ssize_t
}

/// A real libc call that could not be made (symbol missing): fail closed, with ENOSYS, the
/// same way everywhere.
pub(crate) fn unavailable() -> c_int {
    fail(libc::ENOSYS)
}

/// [`unavailable`] for the calls that return ssize_t.
pub(crate) fn unavailable_len() -> libc::ssize_t {
    fail_len(libc::ENOSYS)
}

/// [`unavailable`] for the calls that return a pointer (NULL and errno).
pub(crate) fn unavailable_ptr<T>() -> *mut T {
    sys::set_errno(libc::ENOSYS);
    std::ptr::null_mut()
}

/// Shows a SOCKS target the way a person writes it.
pub(crate) struct Shown<'a>(pub(crate) &'a Target<'a>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Name(n, p) => write!(f, "{n}:{p}"),
        }
    }
}
