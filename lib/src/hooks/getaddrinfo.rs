//! getaddrinfo(3): names are looked up here (locally, in the onion pool, or through Tor's
//! RESOLVE) and the numeric answer is handed to libc's getaddrinfo with AI_NUMERICHOST, so
//! libc builds the list (services, socket types, flags) without ever resolving, and the
//! caller's freeaddrinfo(3) frees libc's own memory.

use std::ffi::CString;
use std::net::IpAddr;

use libc::{addrinfo, c_char, c_int};
use torify_core::dns;

use crate::guard::{self, c_str};
use crate::libc_sym::real;
use crate::resolve::{self, LookupError};

fn default_hints() -> addrinfo {
    addrinfo {
        // glibc's behaviour for a null hints pointer.
        ai_flags: libc::AI_V4MAPPED | libc::AI_ADDRCONFIG,
        ai_family: libc::AF_UNSPEC,
        ai_socktype: 0,
        ai_protocol: 0,
        ai_addrlen: 0,
        ai_addr: std::ptr::null_mut(),
        ai_canonname: std::ptr::null_mut(),
        ai_next: std::ptr::null_mut(),
    }
}

/// The numeric forms to hand to libc for `family`: IPv4 answers become IPv4-mapped for
/// AF_INET6 (Tor's RESOLVE cannot ask for AAAA; the mapped address still connects through Tor
/// as IPv4).
fn numeric_forms(family: c_int, addrs: &[IpAddr]) -> Vec<CString> {
    addrs
        .iter()
        .filter_map(|a| match (family, a) {
            (libc::AF_INET, IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()),
            (libc::AF_INET6, IpAddr::V4(v4)) => Some(v4.to_ipv6_mapped().to_string()),
            _ => Some(a.to_string()),
        })
        .filter_map(|s| CString::new(s).ok())
        .collect()
}

/// # Safety
/// The caller's getaddrinfo arguments.
unsafe fn lookup(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let call = |node: *const c_char, h: &addrinfo, out: *mut *mut addrinfo| {
        // SAFETY: the caller's service and result pointers, our hints.
        unsafe { real::getaddrinfo(node, service, h, out) }.unwrap_or(libc::EAI_SYSTEM)
    };
    let mut h = if hints.is_null() {
        default_hints()
    } else {
        // SAFETY: a non-null hints points to an addrinfo (caller contract).
        unsafe { *hints }
    };
    if node.is_null() {
        // No name: libc only fills in wildcard or loopback addresses.
        return call(node, &h, res);
    }
    // SAFETY: a non-null node is a NUL-terminated string (caller contract).
    let Some(name) = (unsafe { c_str(node) }) else {
        return libc::EAI_NONAME;
    };
    if h.ai_flags & libc::AI_NUMERICHOST != 0 || dns::is_numeric(name) {
        h.ai_flags |= libc::AI_NUMERICHOST;
        return call(node, &h, res);
    }
    if ![libc::AF_UNSPEC, libc::AF_INET, libc::AF_INET6].contains(&h.ai_family) {
        return libc::EAI_FAMILY;
    }
    let addrs = match resolve::runtime().and_then(|rt| resolve::forward(rt, name)) {
        Ok(addrs) => addrs,
        Err(e) => return LookupError::eai(e),
    };
    let forms = numeric_forms(h.ai_family, &addrs);
    if forms.is_empty() {
        return libc::EAI_NODATA;
    }
    let want_canonname = h.ai_flags & libc::AI_CANONNAME != 0;
    // Tor reaches both families whatever this machine has configured.
    h.ai_flags = (h.ai_flags | libc::AI_NUMERICHOST) & !(libc::AI_CANONNAME | libc::AI_ADDRCONFIG);
    let mut head: *mut addrinfo = std::ptr::null_mut();
    let mut tail: *mut addrinfo = std::ptr::null_mut();
    for form in &forms {
        let mut part: *mut addrinfo = std::ptr::null_mut();
        let rc = call(form.as_ptr(), &h, &mut part);
        if rc != 0 {
            if !head.is_null() {
                // SAFETY: a list libc built.
                unsafe { libc::freeaddrinfo(head) };
            }
            return rc;
        }
        if head.is_null() {
            head = part;
        } else {
            // SAFETY: tail is the last node of a list libc built; freeaddrinfo frees node by node,
            // so two of its lists chained are one list to it.
            unsafe { (*tail).ai_next = part };
        }
        tail = part;
        // SAFETY: walking a list libc built.
        unsafe {
            while !tail.is_null() && !(*tail).ai_next.is_null() {
                tail = (*tail).ai_next;
            }
        }
    }
    if want_canonname && !head.is_null() {
        // SAFETY: head is libc's node; the canonical name is ours to set, allocated with libc's
        // malloc so that freeaddrinfo frees it.
        unsafe { (*head).ai_canonname = libc::strdup(node) };
    }
    // SAFETY: res is the caller's result pointer.
    unsafe { *res = head };
    0
}

/// getaddrinfo for one getaddrinfo_a request.
///
/// # Safety
/// The request's getaddrinfo arguments.
pub(super) unsafe fn lookup_for_gaicb(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    // SAFETY: caller contract.
    unsafe { getaddrinfo(node, service, hints, res) }
}

/// getaddrinfo(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if res.is_null() {
        return libc::EAI_SYSTEM;
    }
    if crate::system::exempt() {
        // SAFETY: the caller's arguments.
        return unsafe { real::getaddrinfo(node, service, hints, res) }.unwrap_or(libc::EAI_SYSTEM);
    }
    // SAFETY: the caller's arguments.
    guard::catch(
        "getaddrinfo",
        || libc::EAI_FAIL,
        || unsafe { lookup(node, service, hints, res) },
    )
}
