//! The real libc functions behind our hooks, found with `dlsym(RTLD_NEXT, …)` on first use.
//!
//! Each lookup is cached in an atomic: a race between threads resolves the same symbol twice and
//! stores the same value, so no lock is needed (and none can be left held across a fork).

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Finds the next definition of `name` after this library, caching it in `slot`.
pub(crate) fn resolve(slot: &AtomicUsize, name: &CStr) -> usize {
    let cached = slot.load(Ordering::Acquire);
    if cached != 0 {
        return cached;
    }
    // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name is thread-safe and has no
    // preconditions; a null result is handled by the caller.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
    slot.store(found, Ordering::Release);
    found
}

/// Declares `real::NAME(args) -> Option<ret>`: calls the real libc function, or returns `None`
/// when the symbol cannot be found (callers then fail closed).
macro_rules! real_functions {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        $(
            /// Calls the real libc function of this name.
            ///
            /// # Safety
            /// The same contract as the libc function: pointers valid for what it reads/writes.
            pub(crate) unsafe fn $name($($arg: $ty),*) -> Option<$ret> {
                static SLOT: AtomicUsize = AtomicUsize::new(0);
                let name = concat!(stringify!($name), "\0");
                let name = CStr::from_bytes_with_nul(name.as_bytes()).ok()?;
                let addr = resolve(&SLOT, name);
                if addr == 0 {
                    return None;
                }
                // SAFETY: `addr` is the address libc's dynamic linker gave for this symbol,
                // whose C signature is the one declared here.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(addr) };
                // SAFETY: the caller upholds the libc function's contract (see # Safety).
                Some(unsafe { f($($arg),*) })
            }
        )*
    };
}

/// The real functions, by their libc names.
pub(crate) mod real {
    #![allow(unreachable_pub)]
    use super::*;
    use libc::{addrinfo, c_char, c_int, sockaddr, socklen_t};

    real_functions! {
        getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
        getnameinfo(sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t, serv: *mut c_char, servlen: socklen_t, flags: c_int) -> c_int;
        socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
        connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
        close(fd: c_int) -> c_int;
        getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
    }
}
