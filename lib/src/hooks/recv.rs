//! The read family: a connection opened without waiting for Tor's SOCKS reply has that reply
//! consumed before the program's first read (see `pending`); recvmsg(2) and recvmmsg(2) also
//! check internet sockets arriving by SCM_RIGHTS. Everything else passes straight through,
//! after one atomic load (`fdstate::untouched`, while nothing was ever recorded; then the
//! pending table's count).

use libc::{
    c_int, c_uint, c_void, iovec, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t, timespec,
};

use crate::libc_sym::real;
use crate::pending::{self, Settled};
use crate::{fdpass, fdstate, guard};

/// Settles a pending SOCKS reply on `fd`; `Some(errno)` fails the read.
fn before_read(fd: c_int, flags: c_int) -> Option<c_int> {
    match pending::settle(fd, flags & libc::MSG_DONTWAIT != 0, false) {
        Settled::Ready => None,
        Settled::Fail(e) => Some(e),
    }
}

macro_rules! read_hook {
    ($(#[$doc:meta])* $name:ident($fd:ident: c_int $(, $arg:ident: $ty:ty)*) flags = $flags:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> ssize_t {
            if fdstate::untouched() {
                // Nothing can be pending: no check to make (see fdstate::untouched).
                // SAFETY: the caller's arguments.
                return unsafe { real::$name($fd $(, $arg)*) }.unwrap_or_else(guard::unavailable_len);
            }
            // Out of line, so the path above needs no frame of its own.
            #[inline(never)]
            unsafe fn judged($fd: c_int $(, $arg: $ty)*) -> ssize_t {
                guard::catch(stringify!($name), || guard::fail_len(libc::EIO), || {
                    if let Some(e) = before_read($fd, $flags) {
                        return guard::fail_len(e);
                    }
                    // SAFETY: the caller's arguments, passed on from the hook.
                    unsafe { real::$name($fd $(, $arg)*) }.unwrap_or_else(guard::unavailable_len)
                })
            }
            // SAFETY: the caller's arguments.
            unsafe { judged($fd $(, $arg)*) }
        }
    };
}

read_hook!(/// read(2).
    read(fd: c_int, buf: *mut c_void, count: size_t) flags = 0);
read_hook!(/// read(2) with _FORTIFY_SOURCE.
    __read_chk(fd: c_int, buf: *mut c_void, count: size_t, buflen: size_t) flags = 0);
read_hook!(/// readv(2).
    readv(fd: c_int, iov: *const iovec, iovcnt: c_int) flags = 0);
read_hook!(/// recv(2).
    recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) flags = flags);
read_hook!(/// recv(2) with _FORTIFY_SOURCE.
    __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) flags = flags);
read_hook!(/// recvfrom(2).
    recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) flags = flags);
read_hook!(/// recvfrom(2) with _FORTIFY_SOURCE.
    __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) flags = flags);

/// recvmsg(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    guard::catch(
        "recvmsg",
        || guard::fail_len(libc::EIO),
        || {
            if let Some(e) = before_read(fd, flags) {
                return guard::fail_len(e);
            }
            // SAFETY: the caller's arguments.
            let n = unsafe { real::recvmsg(fd, msg, flags) }.unwrap_or_else(guard::unavailable_len);
            if n < 0 {
                return n;
            }
            // SAFETY: the kernel filled the caller's msghdr.
            if let Err(refusal) = unsafe { fdpass::check_incoming(msg) } {
                guard::refuse(refusal);
                return -1;
            }
            n
        },
    )
}

/// recvmmsg(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn recvmmsg(
    fd: c_int,
    msgs: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
    timeout: *mut timespec,
) -> c_int {
    guard::hook("recvmmsg", libc::EIO, || {
        if let Some(e) = before_read(fd, flags) {
            return guard::fail(e);
        }
        // SAFETY: the caller's arguments.
        let n = unsafe { real::recvmmsg(fd, msgs, vlen, flags, timeout) }
            .unwrap_or_else(guard::unavailable);
        for i in 0..usize::try_from(n).unwrap_or(0) {
            // SAFETY: the kernel filled the first n messages.
            let hdr = unsafe { std::ptr::addr_of_mut!((*msgs.add(i)).msg_hdr) };
            // SAFETY: as above.
            if let Err(refusal) = unsafe { fdpass::check_incoming(hdr) } {
                return guard::refuse(refusal);
            }
        }
        n
    })
}
