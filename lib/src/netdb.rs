//! `struct hostent` answers: laid out in the caller's buffer for the `_r` functions, and in a
//! per-thread buffer for the classic ones (which glibc documents as returning static data
//! overwritten by the next call).

use std::cell::RefCell;
use std::net::IpAddr;

use libc::{c_char, c_int, hostent};

use crate::resolve::{self, LookupError, NETDB_INTERNAL, NO_DATA};
use crate::sys;

/// The addresses of `addrs` as `family` holds them: IPv4 answers are IPv4-mapped for AF_INET6
/// (Tor's RESOLVE cannot ask for AAAA; the mapped address connects through Tor as IPv4), and
/// IPv4-mapped answers are plain IPv4 for AF_INET.
pub(crate) fn addresses_for(family: c_int, addrs: &[IpAddr]) -> Vec<Vec<u8>> {
    addrs
        .iter()
        .filter_map(|a| match (family, a) {
            (libc::AF_INET, IpAddr::V4(v4)) => Some(v4.octets().to_vec()),
            (libc::AF_INET, IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.octets().to_vec()),
            (libc::AF_INET6, IpAddr::V6(v6)) => Some(v6.octets().to_vec()),
            (libc::AF_INET6, IpAddr::V4(v4)) => Some(v4.to_ipv6_mapped().octets().to_vec()),
            _ => None,
        })
        .collect()
}

const PTR: usize = size_of::<*mut c_char>();

/// Lays out a hostent with `name`, no aliases and `addrs` (each `len` bytes) in `buf`.
///
/// # Safety
/// `ret` must be valid for writes of a hostent and `buf` for writes of `buflen` bytes.
pub(crate) unsafe fn fill(
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    name: &str,
    family: c_int,
    addrs: &[Vec<u8>],
) -> Result<(), c_int> {
    if ret.is_null() || buf.is_null() {
        return Err(libc::EINVAL);
    }
    let len = if family == libc::AF_INET6 { 16 } else { 4 };
    let pad = (PTR - (buf as usize) % PTR) % PTR;
    let pointers = (addrs.len() + 1 + 1) * PTR;
    let needed = pad + pointers + addrs.len() * len + name.len() + 1;
    if needed > buflen {
        return Err(libc::ERANGE);
    }
    // SAFETY: buf is valid for buflen >= needed bytes (caller contract, checked above).
    let bytes = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), buflen) };
    let base = buf as usize;
    let list_at = pad;
    let aliases_at = list_at + (addrs.len() + 1) * PTR;
    let mut at = aliases_at + PTR;
    let put_ptr = |slot: usize, value: usize, bytes: &mut [u8]| {
        bytes[slot..slot + PTR].copy_from_slice(&value.to_ne_bytes());
    };
    for (i, addr) in addrs.iter().enumerate() {
        bytes[at..at + len].copy_from_slice(&addr[..len]);
        put_ptr(list_at + i * PTR, base + at, bytes);
        at += len;
    }
    put_ptr(list_at + addrs.len() * PTR, 0, bytes);
    put_ptr(aliases_at, 0, bytes);
    let name_at = at;
    bytes[name_at..name_at + name.len()].copy_from_slice(name.as_bytes());
    bytes[name_at + name.len()] = 0;
    // SAFETY: ret is valid for writes (caller contract); every pointer points into buf.
    unsafe {
        *ret = hostent {
            h_name: (base + name_at) as *mut c_char,
            h_aliases: (base + aliases_at) as *mut *mut c_char,
            h_addrtype: family,
            h_length: len as c_int,
            h_addr_list: (base + list_at) as *mut *mut c_char,
        };
    }
    Ok(())
}

/// The storage behind the classic (non-reentrant) functions, one per thread.
struct Store {
    ent: hostent,
    buf: [c_char; 4096],
}

thread_local! {
    static STORE: RefCell<Box<Store>> = RefCell::new(Box::new(Store {
        ent: hostent {
            h_name: std::ptr::null_mut(),
            h_aliases: std::ptr::null_mut(),
            h_addrtype: 0,
            h_length: 0,
            h_addr_list: std::ptr::null_mut(),
        },
        buf: [0; 4096],
    }));
}

/// An answer for the classic functions: a pointer into this thread's storage, or null with
/// h_errno set.
pub(crate) fn classic(answer: Result<(String, c_int, Vec<Vec<u8>>), c_int>) -> *mut hostent {
    match answer {
        Ok((name, family, addrs)) => STORE
            .try_with(|store| {
                let mut store = store.borrow_mut();
                let store = &mut **store;
                let buf = store.buf.as_mut_ptr();
                // SAFETY: ent and buf are this thread's own storage.
                match unsafe { fill(&mut store.ent, buf, store.buf.len(), &name, family, &addrs) } {
                    Ok(()) => std::ptr::from_mut(&mut store.ent),
                    Err(_) => {
                        sys::set_h_errno(NETDB_INTERNAL);
                        std::ptr::null_mut()
                    }
                }
            })
            .unwrap_or(std::ptr::null_mut()),
        Err(h) => {
            sys::set_h_errno(h);
            std::ptr::null_mut()
        }
    }
}

/// The result the `_r` functions return, having filled their outputs.
///
/// # Safety
/// The pointers are the caller's, with the `_r` functions' contract.
pub(crate) unsafe fn reentrant(
    answer: Result<(String, c_int, Vec<Vec<u8>>), c_int>,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: usize,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    let set = |res: *mut hostent, h: c_int| {
        // SAFETY: caller contract; null pointers are skipped.
        unsafe {
            if !result.is_null() {
                *result = res;
            }
            if !h_errnop.is_null() {
                *h_errnop = h;
            }
        }
    };
    match answer {
        Ok((name, family, addrs)) => {
            // SAFETY: caller contract.
            match unsafe { fill(ret, buf, buflen, &name, family, &addrs) } {
                Ok(()) => {
                    set(ret, 0);
                    0
                }
                Err(e) => {
                    set(std::ptr::null_mut(), NETDB_INTERNAL);
                    sys::set_errno(e);
                    e
                }
            }
        }
        Err(h) => {
            set(std::ptr::null_mut(), h);
            match h {
                resolve::HOST_NOT_FOUND | NO_DATA => libc::ENOENT,
                resolve::TRY_AGAIN => libc::EAGAIN,
                _ => libc::EIO,
            }
        }
    }
}

/// Forward lookup for the gethostbyname family: (name, family, addresses) or an h_errno.
pub(crate) fn by_name(name: &str, family: c_int) -> Result<(String, c_int, Vec<Vec<u8>>), c_int> {
    if family != libc::AF_INET && family != libc::AF_INET6 {
        sys::set_errno(libc::EAFNOSUPPORT);
        return Err(NETDB_INTERNAL);
    }
    let rt = resolve::runtime().map_err(LookupError::h_errno)?;
    let addrs = resolve::forward(rt, name).map_err(LookupError::h_errno)?;
    let addrs = addresses_for(family, &addrs);
    if addrs.is_empty() {
        return Err(NO_DATA);
    }
    Ok((name.to_owned(), family, addrs))
}

/// Reverse lookup for the gethostbyaddr family.
pub(crate) fn by_addr(addr: &[u8], family: c_int) -> Result<(String, c_int, Vec<Vec<u8>>), c_int> {
    let ip = match (family, addr.len()) {
        (libc::AF_INET, 4) => IpAddr::from(<[u8; 4]>::try_from(addr).map_err(|_| NETDB_INTERNAL)?),
        (libc::AF_INET6, 16) => {
            IpAddr::from(<[u8; 16]>::try_from(addr).map_err(|_| NETDB_INTERNAL)?)
        }
        _ => {
            sys::set_errno(libc::EINVAL);
            return Err(NETDB_INTERNAL);
        }
    };
    let rt = resolve::runtime().map_err(LookupError::h_errno)?;
    let name = resolve::reverse(rt, ip).map_err(LookupError::h_errno)?;
    Ok((name, family, vec![addr.to_vec()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostent_layout_in_a_small_buffer() {
        let mut ent = hostent {
            h_name: std::ptr::null_mut(),
            h_aliases: std::ptr::null_mut(),
            h_addrtype: 0,
            h_length: 0,
            h_addr_list: std::ptr::null_mut(),
        };
        let addrs = addresses_for(
            libc::AF_INET,
            &["198.51.100.7".parse().unwrap(), "10.0.0.1".parse().unwrap()],
        );
        let mut buf = [0 as c_char; 128];
        // SAFETY: ent and buf are locals.
        unsafe {
            fill(
                &mut ent,
                buf.as_mut_ptr(),
                buf.len(),
                "web.test",
                libc::AF_INET,
                &addrs,
            )
        }
        .unwrap();
        // SAFETY: fill made every pointer point into buf.
        unsafe {
            assert_eq!(
                std::ffi::CStr::from_ptr(ent.h_name).to_str().unwrap(),
                "web.test"
            );
            assert!((*ent.h_aliases).is_null());
            let first = std::slice::from_raw_parts((*ent.h_addr_list).cast::<u8>(), 4);
            assert_eq!(first, &[198, 51, 100, 7]);
            assert!(!(*ent.h_addr_list.add(1)).is_null());
            assert!((*ent.h_addr_list.add(2)).is_null());
        }
        assert_eq!(ent.h_length, 4);
        let mut tiny = [0 as c_char; 20];
        // SAFETY: as above.
        let err = unsafe {
            fill(
                &mut ent,
                tiny.as_mut_ptr(),
                tiny.len(),
                "web.test",
                libc::AF_INET,
                &addrs,
            )
        };
        assert_eq!(err, Err(libc::ERANGE));
    }

    #[test]
    fn families_map_both_ways() {
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        assert_eq!(
            addresses_for(libc::AF_INET6, &[v4])[0][10..],
            [0xff, 0xff, 198, 51, 100, 7]
        );
        assert_eq!(
            addresses_for(libc::AF_INET, &[mapped])[0],
            vec![198, 51, 100, 7]
        );
        assert!(addresses_for(libc::AF_INET, &["2001:db8::7".parse().unwrap()]).is_empty());
    }
}
