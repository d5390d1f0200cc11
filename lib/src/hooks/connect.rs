//! connect(2): the heart of torify. Internet destinations go through Tor's SOCKS port.

use std::net::SocketAddr;

use libc::{c_int, sockaddr, socklen_t};
use torify_core::policy::{self, ConnectVerdict, Destination, SocketKind};
use torify_core::refusal::{Reason, Refusal};
use torify_core::socks5::Target;

use crate::guard::{self, Shown};
use crate::libc_sym::real;
use crate::registry::{self, Entry};
use crate::runtime::{self, Runtime};
use crate::{names, proxy, sys};

/// connect(2).
///
/// # Safety
/// Called by C code with connect(2)'s contract: `addr` valid for `len` bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let pass = || {
        // SAFETY: the caller's own arguments, unchanged.
        unsafe { real::connect(fd, addr, len) }.unwrap_or_else(guard::unavailable)
    };
    guard::hook("connect", libc::ECONNREFUSED, || {
        let kind = match sys::socket_kind(fd) {
            Ok(kind) => kind,
            // Not a socket, or not open: the kernel gives the right error.
            Err(_) => return pass(),
        };
        if policy::is_local_family(kind.family) {
            return pass();
        }
        // SAFETY: addr/len are the caller's, read within len with the kernel's checks.
        let dest = match unsafe { crate::sockaddr::destination(addr, len) } {
            Ok(dest) => dest,
            Err(errno) => return guard::fail(errno),
        };
        let rt = match runtime::get() {
            Ok(rt) => rt,
            Err(refusal) => return guard::refuse(refusal),
        };
        match policy::connect(kind, dest, &rt.settings) {
            ConnectVerdict::Libc => {
                tracing::debug!("connect({fd}, {dest:?}): direct");
                pass()
            }
            ConnectVerdict::Refuse(refusal) => guard::refuse(refusal),
            ConnectVerdict::Proxy(to) => {
                let Destination::Inet(asked) = dest else {
                    return guard::fail(libc::EINVAL);
                };
                through_tor(fd, kind, &Target::Addr(to), asked, rt)
            }
            ConnectVerdict::ProxyOnion(ip, port) => {
                let Destination::Inet(asked) = dest else {
                    return guard::fail(libc::EINVAL);
                };
                match names::name_of(rt.settings.onion_range, ip) {
                    Some(name) => through_tor(fd, kind, &Target::Name(&name, port), asked, rt),
                    None => guard::refuse(Refusal {
                        errno: libc::EHOSTUNREACH,
                        reason: Reason::UnknownCookie(SocketAddr::new(ip.into(), port)),
                    }),
                }
            }
            _ => guard::fail(libc::EPERM),
        }
    })
}

/// Opens the stream through Tor and records the address the program asked for.
fn through_tor(
    fd: c_int,
    kind: SocketKind,
    target: &Target<'_>,
    asked: SocketAddr,
    rt: &Runtime,
) -> c_int {
    match proxy::connect(fd, kind, target, rt) {
        Ok(()) => {
            registry::insert(fd, Entry { peer: asked });
            tracing::debug!("connect({fd}, {}): through Tor", Shown(target));
            0
        }
        Err(e) => {
            tracing::error!("connection to {} through Tor failed: {e}", Shown(target));
            guard::fail(e.errno())
        }
    }
}
