//! The calls that send on a descriptor without naming a destination — write(2), writev(2),
//! send(2), sendfile(2), splice(2), pwritev2(2) — and the reads that skip read(2): splice from
//! a socket, preadv2(2) at offset -1.
//!
//! A send is judged only when its descriptor is a socket torify did not open (`inherited`):
//! one already connected around Tor is refused like a datagram to its peer. A read settles a
//! pending SOCKS reply first, as read(2) does (`pending`), so the program never gets Tor's
//! reply as its data. Everything else passes after one or two atomic loads.

use libc::{c_int, c_uint, c_void, iovec, loff_t, off_t, size_t, ssize_t};

use crate::libc_sym::real;
use crate::pending::{self, Settled};
use crate::{fdstate, guard, inherited};

/// `Err(-1)` (logged, errno set) when sending on `fd` would go around Tor.
pub(super) fn judge_send(fd: c_int) -> Result<(), ssize_t> {
    inherited::judge_send(fd).map_err(|refusal| guard::refuse(refusal) as ssize_t)
}

/// Settles a pending SOCKS reply on `fd` before a read that does not pass through read(2).
pub(super) fn settle_read(fd: c_int, dontwait: bool) -> Result<(), ssize_t> {
    match pending::settle(fd, dontwait, false) {
        Settled::Ready => Ok(()),
        Settled::Fail(e) => Err(guard::fail_len(e)),
    }
}

/// Defines a hook that judges its descriptor as a send, then calls the real function.
macro_rules! send_hook {
    ($(#[$doc:meta])* $name:ident($fd:ident: c_int $(, $arg:ident: $ty:ty)*)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name($fd: c_int $(, $arg: $ty)*) -> ssize_t {
            if fdstate::untouched() {
                // No socket was noted as foreign, so none is judged (see fdstate::untouched).
                // SAFETY: the caller's arguments.
                return unsafe { real::$name($fd $(, $arg)*) }.unwrap_or_else(guard::unavailable_len);
            }
            // Out of line, so the path above needs no frame of its own.
            #[inline(never)]
            unsafe fn judged($fd: c_int $(, $arg: $ty)*) -> ssize_t {
                guard::catch(stringify!($name), || guard::fail_len(libc::EPERM), || {
                    if let Err(ret) = judge_send($fd) {
                        return ret;
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

send_hook!(/// write(2).
    write(fd: c_int, buf: *const c_void, count: size_t));
send_hook!(/// writev(2).
    writev(fd: c_int, iov: *const iovec, iovcnt: c_int));
send_hook!(/// send(2).
    send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int));
send_hook!(/// sendfile(2): `fd` is where the data goes.
    sendfile(fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t));
send_hook!(/// sendfile64, the same call under its large-file name.
    sendfile64(fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t));
send_hook!(/// pwritev2(2): with offset -1 it writes like writev(2), sockets included.
    pwritev2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int));
send_hook!(/// pwritev64v2, pwritev2 under its large-file name.
    pwritev64v2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int));

/// Defines a hook for a positional vector read, which with offset -1 reads like readv(2).
macro_rules! preadv_hook {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// C contract.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name(
            fd: c_int,
            iov: *const iovec,
            iovcnt: c_int,
            offset: off_t,
            flags: c_int,
        ) -> ssize_t {
            if fdstate::untouched() {
                // SAFETY: the caller's arguments.
                return unsafe { real::$name(fd, iov, iovcnt, offset, flags) }
                    .unwrap_or_else(guard::unavailable_len);
            }
            guard::catch(stringify!($name), || guard::fail_len(libc::EIO), || {
                if let Err(ret) = settle_read(fd, flags & libc::RWF_NOWAIT != 0) {
                    return ret;
                }
                // SAFETY: the caller's arguments.
                unsafe { real::$name(fd, iov, iovcnt, offset, flags) }
                    .unwrap_or_else(guard::unavailable_len)
            })
        }
    };
}

preadv_hook!(/// preadv2(2).
    preadv2);
preadv_hook!(/// preadv64v2, preadv2 under its large-file name.
    preadv64v2);

/// splice(2): reading from a socket waiting for Tor's reply settles it first; writing into
/// one is judged as a send.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn splice(
    fd_in: c_int,
    off_in: *mut loff_t,
    fd_out: c_int,
    off_out: *mut loff_t,
    len: size_t,
    flags: c_uint,
) -> ssize_t {
    guard::catch(
        "splice",
        || guard::fail_len(libc::EIO),
        || {
            if let Err(ret) = settle_read(fd_in, flags & libc::SPLICE_F_NONBLOCK != 0)
                .and_then(|()| judge_send(fd_out))
            {
                return ret;
            }
            // SAFETY: the caller's arguments.
            unsafe { real::splice(fd_in, off_in, fd_out, off_out, len, flags) }
                .unwrap_or_else(guard::unavailable_len)
        },
    )
}
