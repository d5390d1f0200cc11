//! gethostbyname(3) and relatives, including libresolv's res_gethostbyname*: answered through
//! Tor's RESOLVE, never by the system resolver.

use libc::{c_char, c_int, hostent, size_t};

use crate::guard::{self, c_str};
use crate::netdb;
use crate::resolve::{HOST_NOT_FOUND, NO_RECOVERY};

fn lookup(name: *const c_char, family: c_int) -> Result<(String, c_int, Vec<Vec<u8>>), c_int> {
    // SAFETY: the caller's name argument, NUL-terminated per the netdb contract.
    let name = unsafe { c_str(name) }.ok_or(HOST_NOT_FOUND)?;
    netdb::by_name(name, family)
}

fn classic(name: *const c_char, family: c_int) -> *mut hostent {
    guard::catch(
        "gethostbyname",
        || netdb::classic(Err(NO_RECOVERY)),
        || netdb::classic(lookup(name, family)),
    )
}

/// gethostbyname(3).
///
/// # Safety
/// C contract: `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    crate::libc_sym::pass_if_exempt!(gethostbyname(name) as fn(*const c_char) -> *mut hostent, or std::ptr::null_mut());
    classic(name, libc::AF_INET)
}

/// gethostbyname2(3).
///
/// # Safety
/// C contract: `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    crate::libc_sym::pass_if_exempt!(gethostbyname2(name, af) as fn(*const c_char, c_int) -> *mut hostent, or std::ptr::null_mut());
    classic(name, af)
}

#[allow(clippy::too_many_arguments)]
fn reentrant(
    name: *const c_char,
    family: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    guard::catch(
        "gethostbyname_r",
        // SAFETY: the caller's pointers, with the _r contract.
        || unsafe { netdb::reentrant(Err(NO_RECOVERY), ret, buf, buflen, result, h_errnop) },
        // SAFETY: as above.
        || unsafe { netdb::reentrant(lookup(name, family), ret, buf, buflen, result, h_errnop) },
    )
}

/// gethostbyname_r(3).
///
/// # Safety
/// C contract: the pointers are valid for what gethostbyname_r writes.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(
        gethostbyname_r(name, ret, buf, buflen, result, h_errnop)
            as fn(*const c_char, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int,
        or libc::ENOSYS
    );
    reentrant(name, libc::AF_INET, ret, buf, buflen, result, h_errnop)
}

/// gethostbyname2_r(3).
///
/// # Safety
/// C contract: the pointers are valid for what gethostbyname2_r writes.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(
        gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop)
            as fn(*const c_char, c_int, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int,
        or libc::ENOSYS
    );
    reentrant(name, af, ret, buf, buflen, result, h_errnop)
}
