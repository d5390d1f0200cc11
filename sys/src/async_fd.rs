//! Descriptors registered with tokio's reactor. tokio's `AsyncFd::register` is unsafe for any
//! `T` whose `as_raw_fd` might change or close under it; an `OwnedFd` does neither.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// `fd`, registered for reading and writing with the current runtime's reactor.
pub fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the OwnedFd is open, owned by the AsyncFd, and names the same descriptor until
    // it is dropped.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

/// `fd`, registered for `interest` with the current runtime's reactor.
pub fn register_with_interest(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: as in `register`.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts().1)
}
