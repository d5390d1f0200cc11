//! The real libc functions behind our hooks, found with `dlsym(RTLD_NEXT, …)` on first use.
//!
//! Each lookup is cached in an atomic: a race between threads resolves the same symbol twice and
//! stores the same value, so no lock is needed (and none can be left held across a fork).
//!
//! `dlsym` itself is one of our hooks, so the real one is found in libc's symbol table
//! (`elfsym`); calling it from here makes RTLD_NEXT mean "after this library", as it must.

use std::ffi::{CStr, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::c_char;

/// A cached address: 0 not looked up yet, 1 looked up and missing.
#[inline]
fn cached(slot: &AtomicUsize, find: impl FnOnce() -> usize) -> usize {
    match slot.load(Ordering::Acquire) {
        0 => look_up(slot, find),
        1 => 0,
        known => known,
    }
}

/// The first lookup, kept out of line: inlined, its frame and register saves were paid by
/// every call of every hook.
#[cold]
#[inline(never)]
fn look_up(slot: &AtomicUsize, find: impl FnOnce() -> usize) -> usize {
    let found = find();
    slot.store(if found == 0 { 1 } else { found }, Ordering::Release);
    found
}

/// libc's dlsym, or 0.
pub(crate) fn real_dlsym() -> usize {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    cached(&SLOT, || crate::elfsym::libc_symbol(c"dlsym"))
}

/// libc's dlvsym, or 0.
pub(crate) fn real_dlvsym() -> usize {
    static SLOT: AtomicUsize = AtomicUsize::new(0);
    cached(&SLOT, || crate::elfsym::libc_symbol(c"dlvsym"))
}

/// Calls libc's dlsym from this library (so RTLD_NEXT means the objects after it).
pub(crate) fn dlsym(handle: *mut c_void, name: &CStr) -> usize {
    let f = real_dlsym();
    if f == 0 {
        return 0;
    }
    // SAFETY: f is libc's dlsym, whose C signature this is.
    let f: unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void =
        unsafe { std::mem::transmute(f) };
    // SAFETY: a NUL-terminated name; dlsym is thread-safe.
    unsafe { f(handle, name.as_ptr()) as usize }
}

/// Calls libc's dlvsym from this library.
pub(crate) fn dlvsym(handle: *mut c_void, name: &CStr, version: &CStr) -> usize {
    let f = real_dlvsym();
    if f == 0 {
        return 0;
    }
    // SAFETY: f is libc's dlvsym, whose C signature this is.
    let f: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *mut c_void =
        unsafe { std::mem::transmute(f) };
    // SAFETY: NUL-terminated strings; dlvsym is thread-safe.
    unsafe { f(handle, name.as_ptr(), version.as_ptr()) as usize }
}

/// Finds the next definition of `name` (bytes ending in NUL) after this library, caching it in
/// `slot`. The name is checked only on the first lookup, so a call whose symbol is known costs
/// one atomic load (checking it on every call was a quarter of the instructions of a hooked
/// read or close).
pub(crate) fn resolve(slot: &AtomicUsize, name: &'static [u8]) -> usize {
    cached(slot, || {
        CStr::from_bytes_with_nul(name).map_or(0, |name| dlsym(libc::RTLD_NEXT, name))
    })
}

/// Declares `real::NAME(args) -> Option<ret>`: calls the real libc function, or returns `None`
/// when the symbol cannot be found (callers then fail closed).
macro_rules! real_functions {
    ($( $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty; )*) => {
        $(
            /// Calls the real libc function of this name.
            ///
            /// # Safety
            /// The same contract as the libc function: pointers valid for what it reads/writes.
            #[inline]
            pub(crate) unsafe fn $name($($arg: $ty),*) -> Option<$ret> {
                static SLOT: AtomicUsize = AtomicUsize::new(0);
                /// The first call (or a missing symbol): out of line, so that a hook whose
                /// symbol is known jumps straight to libc and keeps no registers of its own.
                #[cold]
                #[inline(never)]
                unsafe fn resolve_and_call($($arg: $ty),*) -> Option<$ret> {
                    let addr = resolve(&SLOT, concat!(stringify!($name), "\0").as_bytes());
                    if addr == 0 {
                        return None;
                    }
                    // SAFETY: `addr` is the address libc's dynamic linker gave for this
                    // symbol, whose C signature is the one declared here.
                    let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(addr) };
                    // SAFETY: the caller upholds the libc function's contract (see # Safety).
                    Some(unsafe { f($($arg),*) })
                }
                let addr = SLOT.load(Ordering::Acquire);
                if addr <= 1 {
                    // SAFETY: the caller's contract, passed on.
                    return unsafe { resolve_and_call($($arg),*) };
                }
                // SAFETY: as in `resolve_and_call`: a nonzero, non-one slot holds libc's address.
                let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(addr) };
                // SAFETY: the caller upholds the libc function's contract (see # Safety).
                Some(unsafe { f($($arg),*) })
            }
        )*
    };
}

/// The real functions, by their libc names.
pub(crate) mod real {
    #![allow(unreachable_pub)]
    use super::*;
    use libc::{
        FILE, addrinfo, c_char, c_int, c_long, c_uint, c_ulong, c_void, iovec, loff_t, mmsghdr,
        msghdr, off_t, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t, size_t, sockaddr,
        socklen_t, ssize_t, timespec,
    };

    real_functions! {
        sendto(fd: c_int, buf: *const c_void, len: size_t, flags: c_int, addr: *const sockaddr, addrlen: socklen_t) -> ssize_t;
        sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t;
        sendmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int) -> c_int;
        read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t;
        __read_chk(fd: c_int, buf: *mut c_void, count: size_t, buflen: size_t) -> ssize_t;
        readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
        recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t;
        __recv_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int) -> ssize_t;
        recvfrom(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
        __recvfrom_chk(fd: c_int, buf: *mut c_void, len: size_t, buflen: size_t, flags: c_int, addr: *mut sockaddr, addrlen: *mut socklen_t) -> ssize_t;
        recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t;
        recvmmsg(fd: c_int, msgs: *mut mmsghdr, vlen: c_uint, flags: c_int, timeout: *mut timespec) -> c_int;
        listen(fd: c_int, backlog: c_int) -> c_int;
        accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
        accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int;
        dup(fd: c_int) -> c_int;
        dup2(old: c_int, new: c_int) -> c_int;
        dup3(old: c_int, new: c_int, flags: c_int) -> c_int;
        fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
        fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int;
        close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
        closefrom(low: c_int) -> ();
        syscall(n: c_long, a1: c_long, a2: c_long, a3: c_long, a4: c_long, a5: c_long, a6: c_long) -> c_long;
        execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        execveat(dirfd: c_int, path: *const c_char, argv: *const *const c_char, envp: *const *const c_char, flags: c_int) -> c_int;
        fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
        posix_spawn(pid: *mut pid_t, path: *const c_char, actions: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
        posix_spawnp(pid: *mut pid_t, file: *const c_char, actions: *const posix_spawn_file_actions_t, attr: *const posix_spawnattr_t, argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
        system(command: *const c_char) -> c_int;
        popen(command: *const c_char, mode: *const c_char) -> *mut FILE;
        getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int;
        getnameinfo(sa: *const sockaddr, salen: socklen_t, host: *mut c_char, hostlen: socklen_t, serv: *mut c_char, servlen: socklen_t, flags: c_int) -> c_int;
        socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int;
        connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int;
        close(fd: c_int) -> c_int;
        getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
        getsockopt(fd: c_int, level: c_int, name: c_int, value: *mut c_void, len: *mut socklen_t) -> c_int;
        getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int;
        write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t;
        writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t;
        send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t;
        sendfile(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t;
        sendfile64(out_fd: c_int, in_fd: c_int, offset: *mut off_t, count: size_t) -> ssize_t;
        pwritev2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
        pwritev64v2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
        preadv2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
        preadv64v2(fd: c_int, iov: *const iovec, iovcnt: c_int, offset: off_t, flags: c_int) -> ssize_t;
        splice(fd_in: c_int, off_in: *mut loff_t, fd_out: c_int, off_out: *mut loff_t, len: size_t, flags: c_uint) -> ssize_t;
        fdopen(fd: c_int, mode: *const c_char) -> *mut FILE;
        fclose(stream: *mut FILE) -> c_int;
        pidfd_getfd(pidfd: c_int, targetfd: c_int, flags: c_uint) -> c_int;
    }
}

/// The next definition of `name` (libc's), by name, or by name and version for the
/// compatibility symbols (`GLIBC_2.2.5`) old programs bind: 0 when there is none.
pub(crate) fn next_symbol(name: &[u8], version: Option<&[u8]>) -> usize {
    let Ok(name) = CStr::from_bytes_with_nul(name) else {
        return 0;
    };
    match version.map(CStr::from_bytes_with_nul) {
        Some(Ok(v)) => dlvsym(libc::RTLD_NEXT, name, v),
        Some(Err(_)) => 0,
        None => dlsym(libc::RTLD_NEXT, name),
    }
}

/// Returns from the hook with the next definition of `$name` (libc's) called with the hook's
/// arguments, or `$missing` when libc has no such function. For the hooks that have no
/// `real::` wrapper because they normally answer or refuse by themselves.
macro_rules! return_next {
    ($name:ident $(@ $version:literal)? ($($arg:expr),*) as fn($($ty:ty),*) -> $ret:ty, or $missing:expr) => {{
        let at = $crate::libc_sym::next_symbol(
            concat!(stringify!($name), "\0").as_bytes(),
            None $(.or(Some(concat!($version, "\0").as_bytes())))?,
        );
        if at == 0 {
            return $missing;
        }
        // SAFETY: the address the dynamic linker gave for this libc function, whose C
        // signature is the one written here.
        let f: unsafe extern "C" fn($($ty),*) -> $ret = unsafe { std::mem::transmute(at) };
        // SAFETY: the caller's own arguments, as it passed them to the hook.
        return unsafe { f($($arg),*) };
    }};
}
pub(crate) use return_next;

/// [`return_next`] in a process the system-wide mode exempts (`crate::system::exempt`): the
/// hook acts as if this library were not loaded.
macro_rules! pass_if_exempt {
    ($($call:tt)*) => {
        if $crate::system::exempt() {
            $crate::libc_sym::return_next!($($call)*);
        }
    };
}
pub(crate) use pass_if_exempt;
