//! Other names glibc exports for the functions we hook: public aliases (`__connect`,
//! `__send`, …) and GLIBC_PRIVATE ones (`__socket`, `__sendmmsg`, `__recv`, the `_nocancel`
//! calls, `__libc_system`), and libresolv's BIND-compatible `res_gethostby*`. A program or
//! library bound to one of these names would reach the kernel around the hook of the same
//! function; each is that hook.

use libc::{
    c_char, c_int, c_uint, c_ulong, c_void, hostent, mmsghdr, size_t, sockaddr, socklen_t, ssize_t,
};

use super::{close, connect, dup, exec, gethostbyaddr, gethostbyname, recv, send, socket, write};

/// Defines `alias(args) -> ret` as the hook `target(args)`.
macro_rules! aliases {
    ($($alias:ident => $module:ident :: $target:ident ($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        #[doc = concat!("`", stringify!($alias), "`, another name of `", stringify!($target), "`.")]
        ///
        /// # Safety
        /// The contract of the function it names.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $alias($($arg: $ty),*) -> $ret {
            // SAFETY: the caller's arguments, to the hook of the same function.
            unsafe { $module::$target($($arg),*) }
        }
    )*};
}

aliases! {
    __connect => connect::connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
    __socket => socket::socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
    __send => write::send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
    __sendmmsg => send::sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
    __recv => recv::recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
    __read => recv::read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    __read_nocancel => recv::read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
    __write => write::write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    __write_nocancel => write::write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
    __close => close::close(fd: c_int) -> c_int;
    __close_nocancel => close::close(fd: c_int) -> c_int;
    __dup2 => dup::dup2(old: c_int, new: c_int) -> c_int;
    __fcntl => dup::fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    __libc_fcntl64 => dup::fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
    __libc_system => exec::system(command: *const c_char) -> c_int;
    res_gethostbyname => gethostbyname::gethostbyname(name: *const c_char) -> *mut hostent;
    res_gethostbyname2 => gethostbyname::gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent;
    res_gethostbyaddr => gethostbyaddr::gethostbyaddr(addr: *const c_void, len: socklen_t, family: c_int) -> *mut hostent;
}
