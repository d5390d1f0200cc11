//! The raw resolver API: res_query(3), res_search, res_querydomain, res_send and their
//! res_n* forms, under both names glibc exports (`res_query@GLIBC_2.34` for new programs,
//! `__res_query@GLIBC_2.2.5` for old ones). glibc's resolver opens its sockets internally,
//! where no preload can see them, so these entry points are where DNS must stop.
//!
//! res_search does not append the search domains of resolv.conf: asking the exit for
//! `name.corp.example` would tell it which network this machine is in.

use libc::{c_char, c_int, c_uchar, c_void};

use crate::answer;
use crate::guard::{self, c_str};
use crate::resolve::NO_RECOVERY;
use crate::sys;

fn failed() -> c_int {
    sys::set_h_errno(NO_RECOVERY);
    -1
}

/// # Safety
/// The caller's arguments, with res_query's contract.
unsafe fn query(
    name: *const c_char,
    domain: *const c_char,
    class: c_int,
    qtype: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    guard::catch("res_query", failed, || {
        // SAFETY: NUL-terminated strings or null (caller contract).
        let (Some(name), domain) = (unsafe { c_str(name) }, unsafe { c_str(domain) }) else {
            return failed();
        };
        // SAFETY: caller contract.
        unsafe { answer::query(&answer::join(name, domain), class, qtype, answer, anslen) }
    })
}

/// # Safety
/// The caller's arguments, with res_send's contract.
unsafe fn send(msg: *const c_uchar, msglen: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
    // SAFETY: caller contract.
    guard::catch("res_send", failed, || unsafe {
        answer::send(msg, msglen, answer, anslen)
    })
}

macro_rules! query_hooks {
    ($($name:ident),*) => {$(
        /// A res_query(3)-shaped entry point.
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name(name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
            // SAFETY: the caller's arguments.
            unsafe { query(name, std::ptr::null(), class, qtype, answer, anslen) }
        }
    )*};
}

macro_rules! nquery_hooks {
    ($($name:ident),*) => {$(
        /// A res_nquery(3)-shaped entry point (the resolver state is not used).
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name(_state: *mut c_void, name: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
            // SAFETY: the caller's arguments.
            unsafe { query(name, std::ptr::null(), class, qtype, answer, anslen) }
        }
    )*};
}

query_hooks!(res_query, __res_query, res_search, __res_search);
nquery_hooks!(res_nquery, __res_nquery, res_nsearch, __res_nsearch);

macro_rules! querydomain_hooks {
    ($($name:ident),*) => {$(
        /// res_querydomain(3).
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name(name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
            // SAFETY: the caller's arguments.
            unsafe { query(name, domain, class, qtype, answer, anslen) }
        }
    )*};
}

macro_rules! nquerydomain_hooks {
    ($($name:ident),*) => {$(
        /// res_nquerydomain(3).
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name(_state: *mut c_void, name: *const c_char, domain: *const c_char, class: c_int, qtype: c_int, answer: *mut c_uchar, anslen: c_int) -> c_int {
            // SAFETY: the caller's arguments.
            unsafe { query(name, domain, class, qtype, answer, anslen) }
        }
    )*};
}

querydomain_hooks!(res_querydomain, __res_querydomain);
nquerydomain_hooks!(res_nquerydomain, __res_nquerydomain);

/// res_send(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn res_send(
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { send(msg, msglen, answer, anslen) }
}

/// The old name of res_send.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __res_send(
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { send(msg, msglen, answer, anslen) }
}

/// res_nsend(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn res_nsend(
    _state: *mut c_void,
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { send(msg, msglen, answer, anslen) }
}

/// The old name of res_nsend.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __res_nsend(
    _state: *mut c_void,
    msg: *const c_uchar,
    msglen: c_int,
    answer: *mut c_uchar,
    anslen: c_int,
) -> c_int {
    // SAFETY: the caller's arguments.
    unsafe { send(msg, msglen, answer, anslen) }
}
