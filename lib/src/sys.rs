//! The system calls this library makes on its own behalf.
//!
//! Every call that we also hook goes to the real libc function (a call to `libc::connect` from
//! inside this library would land in our own hook); the rest go to libc directly.

use std::ffi::CStr;
use std::time::{Duration, Instant};

use libc::c_int;
use torify_core::policy::SocketKind;

use crate::libc_sym::real;
use crate::sockaddr::CSockAddr;

/// An errno value.
pub(crate) type Errno = i32;

/// The calling thread's errno.
pub(crate) fn errno() -> Errno {
    // SAFETY: __errno_location always returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
pub(crate) fn set_errno(e: Errno) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = e };
}

/// A -1 return with errno turned into `Err(errno)`.
fn check(ret: c_int) -> Result<c_int, Errno> {
    if ret < 0 { Err(errno()) } else { Ok(ret) }
}

/// The value of `name` in this process's environment as libc holds it now (no copy: for
/// code that must not allocate, at load or in a vfork child). Read it at once: a later
/// setenv or putenv of the program may replace it.
pub(crate) fn env_now(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: a NUL-terminated name; getenv returns null or a pointer into environ, which stays
    // valid until the program replaces that entry (callers read it before calling back into
    // the program).
    let value = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: non-null: a NUL-terminated string in environ.
    (!value.is_null()).then(|| unsafe { CStr::from_ptr(value) }.to_bytes())
}

/// True when the process runs secure-exec (setuid, setgid, file capabilities): the
/// environment is then not ours to trust. The launcher asks the same through
/// `torify_sys::process::secure_exec`; the library cannot link torify-sys, since a workspace
/// build gives one crate one set of features, and the launcher's would put its argv capture
/// (an `.init_array` entry), rustix and seccompiler into every torified program.
pub(crate) fn secure_exec() -> bool {
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

fn sockopt_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, Errno> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as libc::socklen_t;
    // SAFETY: value/len point to locals of the right size. The real getsockopt, found after
    // this library: a program defining its own cannot answer for the kernel.
    let ret = unsafe {
        real::getsockopt(
            fd,
            level,
            name,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    }
    .ok_or(libc::ENOSYS)?;
    check(ret)?;
    Ok(value)
}

/// The family and type of socket `fd`: `Ok(None)` when `fd` is not an open socket (the kernel
/// then gives the call its own error), `Err` when that could not be found out (a seccomp
/// filter refusing getsockopt, say): the caller must refuse, never guess.
pub(crate) fn socket_kind(fd: c_int) -> Result<Option<SocketKind>, Errno> {
    let family = match sockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) {
        Ok(f) => f,
        Err(libc::ENOTSOCK | libc::EBADF) => return Ok(None),
        Err(e) => return Err(e),
    };
    let ty = sockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
    Ok(Some(SocketKind { family, ty }))
}

/// Which open file a descriptor is (device and inode), to tell a socket from whatever later
/// gets its number.
pub(crate) type Identity = (u64, u64);

/// The identity of the file `fd` names, if it is open.
pub(crate) fn identity(fd: c_int) -> Option<Identity> {
    // SAFETY: stat is plain old data.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a local of the right size.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

/// True when `fd` is listening (SO_ACCEPTCONN).
pub(crate) fn listening(fd: c_int) -> bool {
    sockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN).is_ok_and(|v| v != 0)
}

/// The pending error of a socket (SO_ERROR), clearing it.
pub(crate) fn socket_error(fd: c_int) -> Result<Errno, Errno> {
    sockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)
}

/// fcntl through the real function (we hook fcntl).
fn fcntl(fd: c_int, cmd: c_int, arg: libc::c_ulong) -> Result<c_int, Errno> {
    // SAFETY: only integer-argument commands are used here.
    check(unsafe { real::fcntl(fd, cmd, arg) }.ok_or(libc::ENOSYS)?)
}

/// A copy of `fd` at the lowest free number from `lowest` up, not close-on-exec (F_DUPFD).
pub(crate) fn dup_from(fd: c_int, lowest: c_int) -> Result<c_int, Errno> {
    fcntl(fd, libc::F_DUPFD, lowest as libc::c_ulong)
}

/// The file status flags (O_NONBLOCK, …).
pub(crate) fn status_flags(fd: c_int) -> Result<c_int, Errno> {
    fcntl(fd, libc::F_GETFL, 0)
}

/// True when `fd` is in non-blocking mode.
pub(crate) fn nonblocking(fd: c_int) -> bool {
    status_flags(fd).is_ok_and(|f| f & libc::O_NONBLOCK != 0)
}

/// Sets the file status flags.
pub(crate) fn set_status_flags(fd: c_int, flags: c_int) -> Result<(), Errno> {
    fcntl(fd, libc::F_SETFL, flags as libc::c_ulong).map(|_| ())
}

/// True when FD_CLOEXEC is set.
pub(crate) fn cloexec(fd: c_int) -> Result<bool, Errno> {
    fcntl(fd, libc::F_GETFD, 0).map(|f| f & libc::FD_CLOEXEC != 0)
}

/// A new stream socket of `family`, close-on-exec.
pub(crate) fn stream_socket(family: c_int) -> Result<c_int, Errno> {
    // SAFETY: socket takes no pointers.
    let fd = unsafe { real::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    check(fd.ok_or(libc::ENOSYS)?)
}

/// Closes `fd` through the real close().
pub(crate) fn close(fd: c_int) {
    // SAFETY: close takes no pointers; the fd is ours to close.
    let _ = unsafe { real::close(fd) };
}

/// Puts `from` in place of `to` (closing what `to` was), with close-on-exec as asked.
pub(crate) fn dup_onto(from: c_int, to: c_int, cloexec: bool) -> Result<(), Errno> {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: dup3 takes no pointers.
    check(unsafe { real::dup3(from, to, flags) }.ok_or(libc::ENOSYS)?).map(|_| ())
}

/// Time left until `deadline`, as poll(2) milliseconds.
fn poll_timeout(deadline: Instant) -> Result<c_int, Errno> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(libc::ETIMEDOUT);
    }
    Ok(c_int::try_from(left.as_millis().max(1)).unwrap_or(c_int::MAX))
}

/// How a wait treats a signal: restarted (our own requests), or returned as EINTR (a call the
/// program made, which a signal handler may mean to interrupt).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnSignal {
    Restart,
    Interrupt,
}

/// Waits until `fd` has `events` (POLLIN/POLLOUT), an error or a hang-up, or the deadline.
pub(crate) fn wait(
    fd: c_int,
    events: libc::c_short,
    deadline: Instant,
    on_signal: OnSignal,
) -> Result<(), Errno> {
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, poll_timeout(deadline)?) }) {
            Ok(0) => return Err(libc::ETIMEDOUT),
            Ok(_) => return Ok(()),
            Err(libc::EINTR) if on_signal == OnSignal::Restart => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Connects `fd` to `addr` and waits for the outcome, whatever O_NONBLOCK says.
pub(crate) fn connect_wait(
    fd: c_int,
    addr: &CSockAddr,
    deadline: Instant,
    on_signal: OnSignal,
) -> Result<(), Errno> {
    let (ptr, len) = addr.as_raw();
    // SAFETY: ptr/len describe a live CSockAddr.
    let ret = unsafe { real::connect(fd, ptr, len) }.ok_or(libc::ENOSYS)?;
    match check(ret) {
        Ok(_) => Ok(()),
        // The connection goes on in the background after EINTR or on a non-blocking socket.
        Err(libc::EINPROGRESS | libc::EINTR | libc::EALREADY) => {
            wait(fd, libc::POLLOUT, deadline, on_signal)?;
            match socket_error(fd)? {
                0 => Ok(()),
                e => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Writes all of `buf` (never raising SIGPIPE).
pub(crate) fn send_all(
    fd: c_int,
    mut buf: &[u8],
    deadline: Instant,
    on_signal: OnSignal,
) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice; the real send (we hook send).
        let n = unsafe {
            real::send(
                fd,
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        }
        .ok_or(libc::ENOSYS)?;
        match usize::try_from(n) {
            Ok(n) => buf = buf.get(n..).unwrap_or(&[]),
            Err(_) => match errno() {
                libc::EINTR if on_signal == OnSignal::Restart => {}
                libc::EAGAIN => wait(fd, libc::POLLOUT, deadline, on_signal)?,
                e => return Err(e),
            },
        }
    }
    Ok(())
}

/// Reads into `buf`, waiting for at least one byte; `Ok(0)` is end of stream.
pub(crate) fn recv_some(
    fd: c_int,
    buf: &mut [u8],
    deadline: Instant,
    on_signal: OnSignal,
) -> Result<usize, Errno> {
    loop {
        wait(fd, libc::POLLIN, deadline, on_signal)?;
        match recv_now(fd, buf) {
            Err(libc::EAGAIN) => {}
            other => return other,
        }
    }
}

/// Reads what is there without waiting: EAGAIN when nothing is.
pub(crate) fn recv_now(fd: c_int, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: buf is a valid mutable slice; the real recv (we hook recv).
        let n = unsafe { real::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) }
            .ok_or(libc::ENOSYS)?;
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) if errno() == libc::EINTR => {}
            Err(_) => return Err(errno()),
        }
    }
}

/// The send timeout set on `fd` (SO_SNDTIMEO), which bounds connect(2) too.
pub(crate) fn send_timeout(fd: c_int) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: tv/len are locals of the right size.
    let rc = unsafe {
        real::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            std::ptr::from_mut(&mut tv).cast(),
            &mut len,
        )
    }?;
    let d = Duration::from_secs(u64::try_from(tv.tv_sec).ok()?)
        + Duration::from_micros(u64::try_from(tv.tv_usec).ok()?);
    (rc == 0 && !d.is_zero()).then_some(d)
}

/// Gives `fd` a fresh, unconnected socket of the same kind in place of what it was (after an
/// interrupted handshake, so that a retried connect starts over).
pub(crate) fn reset_socket(fd: c_int, kind: SocketKind) {
    let flags = status_flags(fd).unwrap_or(0);
    let keep_cloexec = cloexec(fd).unwrap_or(true);
    // SAFETY: socket takes no pointers.
    let Some(fresh) = (unsafe { real::socket(kind.family, kind.ty | libc::SOCK_CLOEXEC, 0) })
    else {
        return;
    };
    if fresh >= 0 {
        if dup_onto(fresh, fd, keep_cloexec).is_ok() {
            let _ = set_status_flags(fd, flags);
        }
        close(fresh);
    }
}

/// The process id.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// A deadline `secs` from now.
pub(crate) fn deadline_in(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

/// Writes a log line to `fd`, ignoring failures (a log line must never hurt the program).
pub(crate) fn write_log(fd: c_int, line: &[u8]) {
    let mut rest = line;
    while !rest.is_empty() {
        // SAFETY: rest is a valid slice; the real write (we hook write).
        let Some(n) = (unsafe { real::write(fd, rest.as_ptr().cast(), rest.len()) }) else {
            return;
        };
        match usize::try_from(n) {
            Ok(0) => return,
            Ok(n) => rest = rest.get(n..).unwrap_or(&[]),
            Err(_) if errno() == libc::EINTR => {}
            Err(_) => return,
        }
    }
}

/// Opens the log file for appending, close-on-exec, readable by the owner only.
pub(crate) fn open_log(path: &std::path::Path) -> Option<c_int> {
    use std::os::unix::ffi::OsStrExt;
    let mut c_path = path.as_os_str().as_bytes().to_vec();
    c_path.push(0);
    // SAFETY: c_path is NUL-terminated.
    let fd = unsafe {
        libc::open(
            c_path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC,
            0o600,
        )
    };
    (fd >= 0).then_some(fd)
}

/// The machine's host name.
pub(crate) fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length; gethostname NUL-terminates within it on success.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&buf[..end]).ok().map(str::to_owned)
}

/// Registers fork handlers (pthread_atfork(3)).
pub(crate) fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: the handlers are plain functions that live as long as the process (a preloaded
    // library is never unloaded).
    let _ = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

unsafe extern "C" {
    fn __h_errno_location() -> *mut c_int;
}

/// Sets h_errno, the error variable of the netdb functions.
pub(crate) fn set_h_errno(value: c_int) {
    // SAFETY: __h_errno_location returns this thread's h_errno.
    unsafe { *__h_errno_location() = value };
}

/// The address `fd` is bound to (getsockname), if it is an internet one.
pub(crate) fn local_addr(fd: c_int) -> Option<std::net::SocketAddr> {
    // SAFETY: storage/len are locals of the right size.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; the real getsockname.
    if unsafe { real::getsockname(fd, std::ptr::from_mut(&mut storage).cast(), &mut len) }? != 0 {
        return None;
    }
    // SAFETY: the kernel filled len bytes.
    match unsafe { crate::sockaddr::destination(std::ptr::from_ref(&storage).cast(), len) } {
        Ok(torify_core::policy::Destination::Inet(a)) => Some(a),
        _ => None,
    }
}

/// The address `fd` is connected to, as the kernel knows it (our getpeername hook reports the
/// address the program asked for instead).
pub(crate) fn peer_addr(fd: c_int) -> Option<std::net::SocketAddr> {
    // SAFETY: storage/len are locals of the right size.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: as above; the real getpeername.
    let rc = unsafe { real::getpeername(fd, std::ptr::from_mut(&mut storage).cast(), &mut len) }?;
    if rc != 0 {
        return None;
    }
    // SAFETY: the kernel filled len bytes.
    match unsafe { crate::sockaddr::destination(std::ptr::from_ref(&storage).cast(), len) } {
        Ok(torify_core::policy::Destination::Inet(a)) => Some(a),
        _ => None,
    }
}
