//! Everything this library remembers per descriptor number, forgotten in one place: when the
//! number is closed, or made to name something new (a fresh socket, an accepted connection, a
//! copy). The tables: proxied connections (`registry`), SOCKS replies still to read
//! (`pending`), sockets not opened through torify (`inherited`), and the log file.

use std::sync::atomic::{AtomicBool, Ordering};

use libc::c_int;

use crate::{inherited, log, pending, registry};

/// Set for good the first time any table records a descriptor: a proxied connection, a
/// pending reply, a socket noted at load (inherited, received), a log file. Until then no
/// descriptor is in any table, so a hook whose only work is to consult them (read, write,
/// close, dup, fcntl and their kin) can call libc at once after this one load: a program that
/// never networks pays one predictable branch per call. Never cleared: once set, every hook
/// takes its full path, as before the flag existed (a fork's child inherits it, which is
/// also safe).
static RECORDED: AtomicBool = AtomicBool::new(false);

/// A table is about to record a descriptor; called before the entry is written, so a reader
/// that finds the entry finds the flag set too.
pub(crate) fn recording() {
    RECORDED.store(true, Ordering::Release);
}

/// True while no descriptor was ever recorded: every descriptor is one this library never
/// proxied, noted or opened, and the tables have nothing to say about it.
#[inline]
pub(crate) fn untouched() -> bool {
    !RECORDED.load(Ordering::Acquire)
}

/// `fd` is closed, or names something new.
pub(crate) fn forget(fd: c_int) {
    registry::remove(fd);
    pending::remove(fd);
    inherited::forget(fd);
    log::forget_fd(fd);
}

/// Descriptors `first` to `last` are closed.
pub(crate) fn forget_range(first: u32, last: u32) {
    registry::remove_range(first, last);
    pending::remove_range(first, last);
    for fd in first..=last.min(first.saturating_add(65_535)) {
        inherited::forget(c_int::try_from(fd).unwrap_or(c_int::MAX));
    }
    log::forget_range(first, last);
}

/// `to` became a copy of `from` (whose SOCKS reply, if any, was consumed first).
pub(crate) fn copied(from: c_int, to: c_int) {
    pending::remove(to);
    log::forget_fd(to);
    registry::copy(from, to);
    inherited::copy(from, to);
}
