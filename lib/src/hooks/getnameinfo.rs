//! getnameinfo(3): the numeric parts come from libc; a host name, when asked for, comes from
//! the onion pool, local names, or Tor's RESOLVE_PTR.

use libc::{c_char, c_int, sockaddr, socklen_t};
use torify_core::policy::Destination;

use crate::guard;
use crate::libc_sym::real;
use crate::resolve;
use crate::sockaddr::destination;

/// # Safety
/// The caller's getnameinfo arguments.
unsafe fn lookup(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    // NI_NUMERICHOST keeps libc from resolving anything (and it refuses NI_NAMEREQD with it).
    let numeric = (flags | libc::NI_NUMERICHOST) & !libc::NI_NAMEREQD;
    // SAFETY: the caller's arguments.
    let rc = unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, numeric) }
        .unwrap_or(libc::EAI_SYSTEM);
    if rc != 0 || host.is_null() || hostlen == 0 || flags & libc::NI_NUMERICHOST != 0 {
        return rc;
    }
    // SAFETY: libc just read salen bytes of sa successfully.
    let Ok(Destination::Inet(addr)) = (unsafe { destination(sa, salen) }) else {
        return rc;
    };
    let name = resolve::runtime().and_then(|rt| resolve::reverse(rt, addr.ip()));
    match name {
        Ok(name) => {
            if name.len() + 1 > hostlen as usize {
                return libc::EAI_OVERFLOW;
            }
            // SAFETY: host has hostlen writable bytes, and the name with its NUL fits.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr(), host.cast::<u8>(), name.len());
                *host.add(name.len()) = 0;
            }
            0
        }
        Err(e) if flags & libc::NI_NAMEREQD != 0 => e.eai(),
        // No name: the numeric form libc wrote stands, as getnameinfo promises.
        Err(_) => 0,
    }
}

/// getnameinfo(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    if crate::system::exempt() {
        // SAFETY: the caller's arguments.
        return unsafe { real::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags) }
            .unwrap_or(libc::EAI_SYSTEM);
    }
    // SAFETY: the caller's arguments.
    guard::catch(
        "getnameinfo",
        || libc::EAI_FAIL,
        || unsafe { lookup(sa, salen, host, hostlen, serv, servlen, flags) },
    )
}
