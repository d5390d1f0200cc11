//! gethostbyaddr(3) and relatives: reverse lookups through Tor's RESOLVE_PTR, answered locally
//! for loopback and `.onion` stand-in addresses.

use libc::{c_char, c_int, c_void, hostent, size_t, socklen_t};

use crate::guard;
use crate::netdb;
use crate::resolve::NO_RECOVERY;

fn lookup(
    addr: *const c_void,
    len: socklen_t,
    family: c_int,
) -> Result<(String, c_int, Vec<Vec<u8>>), c_int> {
    if addr.is_null() || len > 16 {
        crate::sys::set_errno(libc::EINVAL);
        return Err(crate::resolve::NETDB_INTERNAL);
    }
    // SAFETY: the caller's address of `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), len as usize) };
    netdb::by_addr(bytes, family)
}

/// gethostbyaddr(3).
///
/// # Safety
/// C contract: `addr` points to `len` bytes.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostbyaddr(
    addr: *const c_void,
    len: socklen_t,
    family: c_int,
) -> *mut hostent {
    crate::libc_sym::pass_if_exempt!(
        gethostbyaddr(addr, len, family) as fn(*const c_void, socklen_t, c_int) -> *mut hostent,
        or std::ptr::null_mut()
    );
    guard::catch(
        "gethostbyaddr",
        || netdb::classic(Err(NO_RECOVERY)),
        || netdb::classic(lookup(addr, len, family)),
    )
}

/// gethostbyaddr_r(3).
///
/// # Safety
/// C contract: the pointers are valid for what gethostbyaddr_r reads and writes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    family: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(
        gethostbyaddr_r(addr, len, family, ret, buf, buflen, result, h_errnop)
            as fn(*const c_void, socklen_t, c_int, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int,
        or libc::ENOSYS
    );
    guard::catch(
        "gethostbyaddr_r",
        // SAFETY: the caller's pointers, with the _r contract.
        || unsafe { netdb::reentrant(Err(NO_RECOVERY), ret, buf, buflen, result, h_errnop) },
        // SAFETY: as above.
        || unsafe {
            netdb::reentrant(
                lookup(addr, len, family),
                ret,
                buf,
                buflen,
                result,
                h_errnop,
            )
        },
    )
}
