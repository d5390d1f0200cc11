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
    _ahost: *mut *mut c_char,
    _port: c_ushort,
    _locuser: *const c_char,
    _remuser: *const c_char,
    _cmd: *const c_char,
    _fd2p: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rcmd(_ahost, _port, _locuser, _remuser, _cmd, _fd2p) as fn(*mut *mut c_char, c_ushort, *const c_char, *const c_char, *const c_char, *mut c_int) -> c_int, or refuse("rcmd"));
    refuse("rcmd")
}

/// rcmd_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rcmd_af(
    _ahost: *mut *mut c_char,
    _port: c_ushort,
    _locuser: *const c_char,
    _remuser: *const c_char,
    _cmd: *const c_char,
    _fd2p: *mut c_int,
    _af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rcmd_af(_ahost, _port, _locuser, _remuser, _cmd, _fd2p, _af) as fn(*mut *mut c_char, c_ushort, *const c_char, *const c_char, *const c_char, *mut c_int, libc::sa_family_t) -> c_int, or refuse("rcmd_af"));
    refuse("rcmd_af")
}

/// rexec(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rexec(
    _ahost: *mut *mut c_char,
    _port: c_int,
    _user: *const c_char,
    _passwd: *const c_char,
    _cmd: *const c_char,
    _fd2p: *mut c_int,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rexec(_ahost, _port, _user, _passwd, _cmd, _fd2p) as fn(*mut *mut c_char, c_int, *const c_char, *const c_char, *const c_char, *mut c_int) -> c_int, or refuse("rexec"));
    refuse("rexec")
}

/// rexec_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn rexec_af(
    _ahost: *mut *mut c_char,
    _port: c_int,
    _user: *const c_char,
    _passwd: *const c_char,
    _cmd: *const c_char,
    _fd2p: *mut c_int,
    _af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(rexec_af(_ahost, _port, _user, _passwd, _cmd, _fd2p, _af) as fn(*mut *mut c_char, c_int, *const c_char, *const c_char, *const c_char, *mut c_int, libc::sa_family_t) -> c_int, or refuse("rexec_af"));
    refuse("rexec_af")
}

/// ruserok(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ruserok(
    _rhost: *const c_char,
    _superuser: c_int,
    _ruser: *const c_char,
    _luser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(ruserok(_rhost, _superuser, _ruser, _luser) as fn(*const c_char, c_int, *const c_char, *const c_char) -> c_int, or refuse("ruserok"));
    refuse("ruserok")
}

/// ruserok_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn ruserok_af(
    _rhost: *const c_char,
    _superuser: c_int,
    _ruser: *const c_char,
    _luser: *const c_char,
    _af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(ruserok_af(_rhost, _superuser, _ruser, _luser, _af) as fn(*const c_char, c_int, *const c_char, *const c_char, libc::sa_family_t) -> c_int, or refuse("ruserok_af"));
    refuse("ruserok_af")
}

/// iruserok(3): checks hosts.equiv and .rhosts, resolving the names in them inside libc.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn iruserok(
    _raddr: u32,
    _superuser: c_int,
    _ruser: *const c_char,
    _luser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(iruserok(_raddr, _superuser, _ruser, _luser) as fn(u32, c_int, *const c_char, *const c_char) -> c_int, or refuse("iruserok"));
    refuse("iruserok")
}

/// iruserok_af(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn iruserok_af(
    _raddr: *const libc::c_void,
    _superuser: c_int,
    _ruser: *const c_char,
    _luser: *const c_char,
    _af: libc::sa_family_t,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(iruserok_af(_raddr, _superuser, _ruser, _luser, _af) as fn(*const libc::c_void, c_int, *const c_char, *const c_char, libc::sa_family_t) -> c_int, or refuse("iruserok_af"));
    refuse("iruserok_af")
}

/// __ivaliduser: ruserok's check of one hosts.equiv-style file, which resolves its names.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __ivaliduser(
    _hostf: *mut libc::FILE,
    _raddr: u32,
    _luser: *const c_char,
    _ruser: *const c_char,
) -> c_int {
    crate::libc_sym::pass_if_exempt!(__ivaliduser(_hostf, _raddr, _luser, _ruser) as fn(*mut libc::FILE, u32, *const c_char, *const c_char) -> c_int, or refuse("__ivaliduser"));
    refuse("__ivaliduser")
}
