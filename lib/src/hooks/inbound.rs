//! listen(2), accept(2), accept4(2): an internet listener reachable from the network is
//! refused unless allow.inbound (AllowInbound); listeners on loopback are always allowed, as in
//! torsocks (ssh -L and local IPC use them).

use libc::{c_int, sockaddr, socklen_t};
use torify_core::policy::{self, SocketVerdict};

use crate::libc_sym::real;
use crate::{guard, runtime, sys};

/// Whether `fd` may listen or accept.
fn allowed(fd: c_int) -> Result<(), c_int> {
    if crate::system::exempt() {
        return Ok(());
    }
    let Some(kind) = guard::classify(fd)? else {
        return Ok(());
    };
    if policy::is_local_family(kind.family) {
        return Ok(());
    }
    let rt = runtime::get().map_err(guard::refuse)?;
    match policy::inbound(kind, sys::local_addr(fd), &rt.settings) {
        SocketVerdict::Libc => Ok(()),
        SocketVerdict::Refuse(refusal) => Err(guard::refuse(refusal)),
    }
}

/// A descriptor just made by accept: whatever an earlier holder of the number left is void.
fn fresh(fd: c_int) -> c_int {
    if fd >= 0 {
        crate::fdstate::forget(fd);
    }
    fd
}

/// listen(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn listen(fd: c_int, backlog: c_int) -> c_int {
    guard::hook("listen", libc::EPERM, || match allowed(fd) {
        // SAFETY: the caller's arguments.
        Ok(()) => unsafe { real::listen(fd, backlog) }.unwrap_or_else(guard::unavailable),
        Err(ret) => ret,
    })
}

/// accept(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn accept(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard::hook("accept", libc::EPERM, || match allowed(fd) {
        // SAFETY: the caller's arguments.
        Ok(()) => fresh(unsafe { real::accept(fd, addr, len) }.unwrap_or_else(guard::unavailable)),
        Err(ret) => ret,
    })
}

/// accept4(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    guard::hook("accept4", libc::EPERM, || match allowed(fd) {
        Ok(()) => {
            // SAFETY: the caller's arguments.
            let new = unsafe { real::accept4(fd, addr, len, flags) };
            fresh(new.unwrap_or_else(guard::unavailable))
        }
        Err(ret) => ret,
    })
}
