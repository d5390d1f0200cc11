//! Converting between C socket addresses and Rust ones, with the kernel's length checks.

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::Path;

use libc::{sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_un, socklen_t};
use torify_core::policy::Destination;

/// The shortest sockaddr_in6 the kernel takes (RFC 2133's, without sin6_scope_id).
const SIN6_LEN_RFC2133: usize = 24;

/// Reads the destination a program passed to connect()/sendto().
///
/// # Safety
/// `ptr` must be null or valid for reads of `len` bytes.
pub(crate) unsafe fn destination(ptr: *const sockaddr, len: socklen_t) -> Result<Destination, i32> {
    let len = len as usize;
    if ptr.is_null() {
        return Err(libc::EFAULT);
    }
    if len < size_of::<sa_family_t>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: at least the family field is readable (checked above); read_unaligned because
    // programs pass byte buffers too.
    let family = i32::from(unsafe { std::ptr::read_unaligned(ptr.cast::<sa_family_t>()) });
    match family {
        libc::AF_INET if len >= size_of::<sockaddr_in>() => {
            // SAFETY: len covers a whole sockaddr_in.
            let sin = unsafe { std::ptr::read_unaligned(ptr.cast::<sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok(Destination::Inet(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            ))))
        }
        libc::AF_INET6 if len >= SIN6_LEN_RFC2133 => {
            // SAFETY: len covers a sockaddr_in6 up to sin6_scope_id; the rest is zero-filled.
            let mut sin6: sockaddr_in6 = unsafe { std::mem::zeroed() };
            let n = len.min(size_of::<sockaddr_in6>());
            // SAFETY: copying n <= len readable bytes into a local of at least n bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    ptr.cast::<u8>(),
                    std::ptr::from_mut(&mut sin6).cast::<u8>(),
                    n,
                );
            }
            Ok(Destination::Inet(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            ))))
        }
        libc::AF_INET | libc::AF_INET6 => Err(libc::EINVAL),
        libc::AF_UNSPEC => Ok(Destination::Unspec),
        other => Ok(Destination::Other(other)),
    }
}

/// A C socket address built from a Rust one.
pub(crate) enum CSockAddr {
    V4(sockaddr_in),
    V6(sockaddr_in6),
    Unix(sockaddr_un, socklen_t),
}

impl CSockAddr {
    /// The C form of an internet address.
    pub(crate) fn inet(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
                let mut sin: sockaddr_in = unsafe { std::mem::zeroed() };
                sin.sin_family = libc::AF_INET as sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                CSockAddr::V4(sin)
            }
            SocketAddr::V6(a) => {
                // SAFETY: as above.
                let mut sin6: sockaddr_in6 = unsafe { std::mem::zeroed() };
                sin6.sin6_family = libc::AF_INET6 as sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_flowinfo = a.flowinfo().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_scope_id = a.scope_id();
                CSockAddr::V6(sin6)
            }
        }
    }

    /// The C form of a unix socket path; `None` when the path does not fit.
    pub(crate) fn unix(path: &Path) -> Option<Self> {
        use std::os::unix::ffi::OsStrExt;
        // SAFETY: sockaddr_un is plain old data; all-zero is a valid value.
        let mut sun: sockaddr_un = unsafe { std::mem::zeroed() };
        sun.sun_family = libc::AF_UNIX as sa_family_t;
        let bytes = path.as_os_str().as_bytes();
        if bytes.len() >= sun.sun_path.len() || bytes.contains(&0) {
            return None;
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let len = size_of::<sa_family_t>() + bytes.len() + 1;
        Some(CSockAddr::Unix(sun, len as socklen_t))
    }

    /// The address family.
    pub(crate) fn family(&self) -> i32 {
        match self {
            CSockAddr::V4(_) => libc::AF_INET,
            CSockAddr::V6(_) => libc::AF_INET6,
            CSockAddr::Unix(..) => libc::AF_UNIX,
        }
    }

    /// Pointer and length for a libc call.
    pub(crate) fn as_raw(&self) -> (*const sockaddr, socklen_t) {
        match self {
            CSockAddr::V4(a) => (
                std::ptr::from_ref(a).cast(),
                size_of::<sockaddr_in>() as socklen_t,
            ),
            CSockAddr::V6(a) => (
                std::ptr::from_ref(a).cast(),
                size_of::<sockaddr_in6>() as socklen_t,
            ),
            CSockAddr::Unix(a, len) => (std::ptr::from_ref(a).cast(), *len),
        }
    }

    /// Copies this address out the way getpeername(2) does: at most `*len` bytes, and `*len`
    /// set to the full size.
    ///
    /// # Safety
    /// `out` must be valid for writes of `*len` bytes and `len` valid for reads and writes.
    pub(crate) unsafe fn write_out(
        &self,
        out: *mut sockaddr,
        len: *mut socklen_t,
    ) -> Result<(), i32> {
        if out.is_null() || len.is_null() {
            return Err(libc::EFAULT);
        }
        let (src, full) = self.as_raw();
        // SAFETY: len is valid for reads (caller contract).
        let room = unsafe { *len } as usize;
        let n = room.min(full as usize);
        // SAFETY: src has `full` readable bytes, out has `room` writable ones; n is the smaller.
        unsafe {
            std::ptr::copy_nonoverlapping(src.cast::<u8>(), out.cast::<u8>(), n);
            *len = full;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_c_form() {
        for text in ["198.51.100.7:80", "[2001:db8::7]:443", "[fe80::1%3]:22"] {
            let addr: SocketAddr = text.parse().unwrap();
            let c = CSockAddr::inet(addr);
            let (ptr, len) = c.as_raw();
            // SAFETY: ptr/len come from a live CSockAddr.
            let back = unsafe { destination(ptr, len) }.unwrap();
            assert_eq!(back, Destination::Inet(addr));
        }
    }

    #[test]
    fn short_lengths_are_einval_like_the_kernel() {
        let c = CSockAddr::inet("1.2.3.4:5".parse().unwrap());
        let (ptr, _) = c.as_raw();
        // SAFETY: ptr is valid for the full length; shorter lengths only read less.
        assert_eq!(unsafe { destination(ptr, 15) }, Err(libc::EINVAL));
        // SAFETY: as above.
        assert_eq!(unsafe { destination(ptr, 1) }, Err(libc::EINVAL));
        // SAFETY: a null pointer is checked before any read.
        let null = unsafe { destination(std::ptr::null(), 16) };
        assert_eq!(null, Err(libc::EFAULT));
    }

    #[test]
    fn write_out_truncates_and_reports_full_length() {
        let c = CSockAddr::inet("[2001:db8::7]:443".parse().unwrap());
        let mut buf = [0u8; 8];
        let mut len: socklen_t = 8;
        // SAFETY: buf has 8 writable bytes.
        unsafe { c.write_out(buf.as_mut_ptr().cast(), &mut len) }.unwrap();
        assert_eq!(len as usize, size_of::<sockaddr_in6>());
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), libc::AF_INET6 as u16);
    }
}
