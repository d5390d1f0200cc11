//! dup(2), dup2(2), dup3(2), fcntl(F_DUPFD), close_range(2), closefrom(3): a copy of a
//! proxied descriptor keeps reporting the destination to getpeername, and descriptors closed
//! in bulk are forgotten. A copy waits for a pending SOCKS reply first, so that no copy can
//! read it.

use libc::{c_int, c_uint, c_ulong};

use crate::libc_sym::real;
use crate::{fdstate, guard, pending};

/// Before copying `fd`: the SOCKS reply it waits for is consumed.
fn settle(fd: c_int) -> Result<(), c_int> {
    match pending::settle(fd, false, true) {
        pending::Settled::Ready => Ok(()),
        pending::Settled::Fail(e) => Err(guard::fail(e)),
    }
}

/// After `to` became a copy of `from`.
fn copied(from: c_int, to: c_int) -> c_int {
    if to >= 0 && to != from {
        fdstate::copied(from, to);
    }
    to
}

/// dup(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup(fd: c_int) -> c_int {
    if fdstate::untouched() {
        // Nothing pending to settle, nothing recorded to copy (see fdstate::untouched).
        // SAFETY: no pointers.
        return unsafe { real::dup(fd) }.unwrap_or_else(guard::unavailable);
    }
    guard::hook("dup", libc::EBADF, || {
        if let Err(ret) = settle(fd) {
            return ret;
        }
        // SAFETY: no pointers.
        copied(
            fd,
            unsafe { real::dup(fd) }.unwrap_or_else(guard::unavailable),
        )
    })
}

/// dup2(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if fdstate::untouched() {
        // Nothing pending to settle, nothing recorded to copy (see fdstate::untouched).
        // SAFETY: no pointers.
        return unsafe { real::dup2(old, new) }.unwrap_or_else(guard::unavailable);
    }
    guard::hook("dup2", libc::EBADF, || {
        if let Err(ret) = settle(old) {
            return ret;
        }
        // SAFETY: no pointers.
        copied(
            old,
            unsafe { real::dup2(old, new) }.unwrap_or_else(guard::unavailable),
        )
    })
}

/// dup3(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if fdstate::untouched() {
        // Nothing pending to settle, nothing recorded to copy (see fdstate::untouched).
        // SAFETY: no pointers.
        return unsafe { real::dup3(old, new, flags) }.unwrap_or_else(guard::unavailable);
    }
    guard::hook("dup3", libc::EBADF, || {
        if let Err(ret) = settle(old) {
            return ret;
        }
        // SAFETY: no pointers.
        copied(
            old,
            unsafe { real::dup3(old, new, flags) }.unwrap_or_else(guard::unavailable),
        )
    })
}

/// fcntl with its one optional argument, which on x86_64 and aarch64 Linux travels in the
/// same register whether the caller passed an int, a long or a pointer.
fn fcntl_any(
    name: &str,
    fd: c_int,
    cmd: c_int,
    arg: c_ulong,
    call: unsafe fn(c_int, c_int, c_ulong) -> Option<c_int>,
) -> c_int {
    guard::hook(name, libc::EBADF, || {
        let duplicates = cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC;
        if duplicates && let Err(ret) = settle(fd) {
            return ret;
        }
        // SAFETY: the caller's arguments, unchanged.
        let ret = unsafe { call(fd, cmd, arg) }.unwrap_or_else(guard::unavailable);
        if duplicates { copied(fd, ret) } else { ret }
    })
}

/// fcntl(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    if fdstate::untouched() {
        // Only F_DUPFD does anything here, and a copy has nothing recorded to inherit.
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::fcntl(fd, cmd, arg) }.unwrap_or_else(guard::unavailable);
    }
    fcntl_any("fcntl", fd, cmd, arg, real::fcntl)
}

/// fcntl64, the name programs built against glibc 2.28 or later may call.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    if fdstate::untouched() {
        // Only F_DUPFD does anything here, and a copy has nothing recorded to inherit.
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real::fcntl64(fd, cmd, arg) }.unwrap_or_else(guard::unavailable);
    }
    fcntl_any("fcntl64", fd, cmd, arg, real::fcntl64)
}

fn forget(first: c_uint, last: c_uint) {
    fdstate::forget_range(first, last);
}

/// close_range(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    guard::catch(
        "close_range",
        || (),
        || {
            // CLOSE_RANGE_CLOEXEC only marks them; they stay open.
            if flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
                forget(first, last);
            }
        },
    );
    // SAFETY: no pointers.
    unsafe { real::close_range(first, last, flags) }.unwrap_or_else(guard::unavailable)
}

/// closefrom(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn closefrom(low: c_int) {
    guard::catch(
        "closefrom",
        || (),
        || forget(low.max(0) as c_uint, c_uint::MAX),
    );
    // SAFETY: no pointers.
    let _ = unsafe { real::closefrom(low) };
}
