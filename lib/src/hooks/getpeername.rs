//! getpeername(2): a proxied descriptor reports the destination the program asked for, not Tor.

use libc::{c_int, sockaddr, sockaddr_storage, socklen_t};
use torify_conf::SocksEndpoint;
use torify_core::policy::{Destination, unmap};

use crate::guard;
use crate::libc_sym::real;
use crate::sockaddr::{CSockAddr, destination};
use crate::{registry, runtime};

/// True when the descriptor's real peer is Tor's SOCKS port, i.e. the registry entry for this
/// number is ours and not left over from a descriptor closed behind our back.
fn peer_is_tor(storage: &sockaddr_storage, len: socklen_t) -> bool {
    let Ok(rt) = runtime::get() else { return false };
    match rt.settings.socks_endpoint() {
        SocksEndpoint::Inet(tor) => {
            // SAFETY: storage is a live sockaddr_storage and len what the kernel filled in.
            match unsafe { destination(std::ptr::from_ref(storage).cast(), len) } {
                Ok(Destination::Inet(peer)) => unmap(peer) == unmap(tor),
                _ => false,
            }
        }
        SocksEndpoint::Unix(path) => {
            CSockAddr::unix(path).is_some_and(|want| {
                let (ptr, want_len) = want.as_raw();
                let n = want_len.min(len) as usize;
                // SAFETY: both buffers hold at least n bytes.
                let (a, b) = unsafe {
                    (
                        std::slice::from_raw_parts(ptr.cast::<u8>(), n),
                        std::slice::from_raw_parts(std::ptr::from_ref(storage).cast::<u8>(), n),
                    )
                };
                want_len == len && a == b
            })
        }
    }
}

/// getpeername(2).
///
/// # Safety
/// Called by C code with getpeername(2)'s contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn getpeername(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    let pass = || {
        // SAFETY: the caller's own arguments, unchanged.
        unsafe { real::getpeername(fd, addr, len) }.unwrap_or_else(guard::unavailable)
    };
    guard::hook("getpeername", libc::EBADF, || {
        let Some(entry) = registry::get(fd) else {
            return pass();
        };
        // SAFETY: sockaddr_storage is plain old data.
        let mut storage: sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut storage_len = size_of::<sockaddr_storage>() as socklen_t;
        // SAFETY: storage/storage_len are locals of the right size.
        let ret = unsafe {
            real::getpeername(
                fd,
                std::ptr::from_mut(&mut storage).cast(),
                &mut storage_len,
            )
        };
        match ret {
            Some(0) if peer_is_tor(&storage, storage_len) => {
                // SAFETY: addr/len are the caller's, with getpeername's contract.
                match unsafe { CSockAddr::inet(entry.peer).write_out(addr, len) } {
                    Ok(()) => 0,
                    Err(errno) => guard::fail(errno),
                }
            }
            Some(0) => {
                registry::remove(fd);
                pass()
            }
            // Not connected (any more): the kernel's answer stands.
            Some(_) => -1,
            None => guard::unavailable(),
        }
    })
}
