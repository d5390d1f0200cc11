//! rcmd(3), rexec(3), ruserok(3), iruserok(3): they resolve and connect inside libc, where no preload can
//! route them through Tor (and rcmd needs privileged source ports Tor cannot give). Refused.

use libc::{c_char, c_int, c_ushort};

use crate::{guard, log};

fn refuse(what: &str) -> c_int {
    log::refusal(
        torify_core::refusal::Kind::RemoteLogin,
        &format_args!(
            "refused {what}(): it resolves and connects inside libc, out of torify's reach; use ssh through torify instead"
        ),
    );
    guard::fail(libc::EPERM)
}

/// rcmd(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rcmd(
    ahost: *mut *mut c_char,
    port: c_ushort,
    locuser: *const c_char,
    remuser: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rcmd(ahost, port, locuser, remuser, cmd, fd2p) as fn(*mut *mut c_char, c_ushort, *const c_char, *const c_char, *const c_char, *mut c_int) -> c_int, or refuse("rcmd"));
    refuse("rcmd")
}

/// rcmd_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rcmd_af(
    ahost: *mut *mut c_char,
    port: c_ushort,
    locuser: *const c_char,
    remuser: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
    af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rcmd_af(ahost, port, locuser, remuser, cmd, fd2p, af) as fn(*mut *mut c_char, c_ushort, *const c_char, *const c_char, *const c_char, *mut c_int, libc::sa_family_t) -> c_int, or refuse("rcmd_af"));
    refuse("rcmd_af")
}

/// rexec(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rexec(
    ahost: *mut *mut c_char,
    port: c_int,
    user: *const c_char,
    passwd: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rexec(ahost, port, user, passwd, cmd, fd2p) as fn(*mut *mut c_char, c_int, *const c_char, *const c_char, *const c_char, *mut c_int) -> c_int, or refuse("rexec"));
    refuse("rexec")
}

/// rexec_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rexec_af(
    ahost: *mut *mut c_char,
    port: c_int,
    user: *const c_char,
    passwd: *const c_char,
    cmd: *const c_char,
    fd2p: *mut c_int,
    af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rexec_af(ahost, port, user, passwd, cmd, fd2p, af) as fn(*mut *mut c_char, c_int, *const c_char, *const c_char, *const c_char, *mut c_int, libc::sa_family_t) -> c_int, or refuse("rexec_af"));
    refuse("rexec_af")
}

/// ruserok(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ruserok(
    rhost: *const c_char,
    superuser: c_int,
    ruser: *const c_char,
    luser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(ruserok(rhost, superuser, ruser, luser) as fn(*const c_char, c_int, *const c_char, *const c_char) -> c_int, or refuse("ruserok"));
    refuse("ruserok")
}

/// ruserok_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ruserok_af(
    rhost: *const c_char,
    superuser: c_int,
    ruser: *const c_char,
    luser: *const c_char,
    af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(ruserok_af(rhost, superuser, ruser, luser, af) as fn(*const c_char, c_int, *const c_char, *const c_char, libc::sa_family_t) -> c_int, or refuse("ruserok_af"));
    refuse("ruserok_af")
}

/// iruserok(3): checks hosts.equiv and .rhosts, resolving the names in them inside libc.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn iruserok(
    raddr: u32,
    superuser: c_int,
    ruser: *const c_char,
    luser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(iruserok(raddr, superuser, ruser, luser) as fn(u32, c_int, *const c_char, *const c_char) -> c_int, or refuse("iruserok"));
    refuse("iruserok")
}

/// iruserok_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn iruserok_af(
    raddr: *const libc::c_void,
    superuser: c_int,
    ruser: *const c_char,
    luser: *const c_char,
    af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(iruserok_af(raddr, superuser, ruser, luser, af) as fn(*const libc::c_void, c_int, *const c_char, *const c_char, libc::sa_family_t) -> c_int, or refuse("iruserok_af"));
    refuse("iruserok_af")
}

/// __ivaliduser: ruserok's check of one hosts.equiv-style file, which resolves its names.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __ivaliduser(
    hostf: *mut libc::FILE,
    raddr: u32,
    luser: *const c_char,
    ruser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(__ivaliduser(hostf, raddr, luser, ruser) as fn(*mut libc::FILE, u32, *const c_char, *const c_char) -> c_int, or refuse("__ivaliduser"));
    refuse("__ivaliduser")
}
