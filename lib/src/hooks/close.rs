//! close(2): forget the descriptor, then close it.

use libc::c_int;

use crate::libc_sym::real;
use crate::{fdstate, guard};

/// close(2).
///
/// # Safety
/// Called by C code with close(2)'s contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn close(fd: c_int) -> c_int {
    if fdstate::untouched() {
        // No table holds anything to forget (see fdstate::untouched).
        // SAFETY: close(2) takes no pointers.
        return unsafe { real::close(fd) }.unwrap_or_else(guard::unavailable);
    }
    // Forgetting cannot fail the close: the descriptor is closed whatever happens here.
    let _ = guard::hook("close", 0, || {
        fdstate::forget(fd);
        0
    });
    // SAFETY: close(2) takes no pointers.
    unsafe { real::close(fd) }.unwrap_or_else(guard::unavailable)
}
