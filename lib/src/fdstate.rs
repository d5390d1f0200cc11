//! Everything this library remembers per descriptor number, forgotten in one place: when the
//! number is closed, or made to name something new (a fresh socket, an accepted connection, a
//! copy). The tables: proxied connections (`registry`), SOCKS replies still to read
//! (`pending`), sockets not opened through torify (`inherited`), and the log file.

use libc::c_int;

use crate::{inherited, log, pending, registry};

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
