//! socket(2): internet sockets Tor cannot carry, and families that bypass it, are refused here.

use libc::c_int;
use torify_core::policy::{self, SocketVerdict};

use crate::guard;
use crate::libc_sym::real;
use crate::log;
use crate::runtime;

/// socket(2).
///
/// # Safety
/// Called by C code with socket(2)'s contract (no pointers).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    guard::hook("socket", libc::EPERM, || {
        if !policy::is_local_family(domain) && !crate::system::exempt() {
            let rt = match runtime::get() {
                Ok(rt) => rt,
                Err(refusal) => return guard::refuse(refusal),
            };
            if let SocketVerdict::Refuse(refusal) =
                policy::socket(domain, ty, protocol, &rt.settings)
            {
                return guard::refuse(refusal);
            }
            let kind = match ty & 0xf {
                libc::SOCK_STREAM => "SOCK_STREAM",
                libc::SOCK_DGRAM => "SOCK_DGRAM",
                _ => "another type",
            };
            log::debug!(
                "socket({}, {kind}, {protocol}): allowed; connect decides where it goes",
                torify_core::refusal::family_name(domain)
            );
        }
        // SAFETY: socket(2) takes no pointers.
        match unsafe { real::socket(domain, ty, protocol) } {
            Some(fd) => {
                // A fresh descriptor: whatever an earlier holder of the number left is void.
                crate::fdstate::forget(fd);
                fd
            }
            None => guard::unavailable(),
        }
    })
}
