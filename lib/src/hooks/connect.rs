//! connect(2): the heart of torify. Internet destinations go through Tor's SOCKS port.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use libc::{c_int, sockaddr, socklen_t};
use torify_core::policy::{self, ConnectVerdict, Destination, SocketKind};
use torify_core::refusal::{Reason, Refusal};
use torify_core::socks5::Target;

use crate::guard::{self, Shown};
use crate::libc_sym::real;
use crate::log;
use crate::proxy::ProxyError;
use crate::registry::{self, Entry};
use crate::runtime::{self, Runtime};
use crate::{names, proxy, sys};

/// connect(2).
///
/// # Safety
/// Called by C code with connect(2)'s contract: `addr` valid for `len` bytes.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let pass = || {
        // SAFETY: the caller's own arguments, unchanged.
        unsafe { real::connect(fd, addr, len) }.unwrap_or_else(guard::unavailable)
    };
    guard::hook("connect", libc::ECONNREFUSED, || {
        if crate::system::exempt() {
            return pass();
        }
        let kind = match guard::classify(fd) {
            Ok(Some(kind)) => kind,
            // Not a socket, or not open: the kernel gives the right error.
            Ok(None) => return pass(),
            Err(refused) => return refused,
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
        if registry::get(fd).is_some() {
            // Connected through Tor already (a second connect() is how some programs check on
            // a non-blocking one).
            return guard::fail(libc::EISCONN);
        }
        match open(fd, kind, dest, rt) {
            Ok(Opened::Direct) => {
                log::debug!("connect({fd}, {dest:?}): direct");
                pass()
            }
            Ok(Opened::Connected) => 0,
            Ok(Opened::InProgress) => guard::fail(libc::EINPROGRESS),
            Err(ret) => ret,
        }
    })
}

/// What [`open`] did.
pub(super) enum Opened {
    /// Nothing: libc may connect directly (local sockets, Tor itself, allowed loopback).
    Direct,
    /// Connected through Tor.
    Connected,
    /// Non-blocking: the request is on its way to Tor; the reply is read with the first read.
    InProgress,
}

/// Decides `connect(fd, dest)` and opens the stream through Tor when that is the answer; the
/// shared path of connect() and sendto(MSG_FASTOPEN). `Err(ret)`: the call fails with `ret`
/// (errno set, the reason logged).
pub(super) fn open(
    fd: c_int,
    kind: SocketKind,
    dest: Destination,
    rt: &Runtime,
) -> Result<Opened, c_int> {
    let to_tor = |target: &Target<'_>| {
        let Destination::Inet(asked) = dest else {
            return Err(guard::fail(libc::EINVAL));
        };
        through_tor(fd, kind, target, asked, rt)
    };
    match policy::connect(kind, dest, &rt.settings) {
        ConnectVerdict::Libc => Ok(Opened::Direct),
        ConnectVerdict::Direct(to) => {
            say_direct(fd, to);
            Ok(Opened::Direct)
        }
        ConnectVerdict::Refuse(refusal) => Err(guard::refuse(refusal)),
        ConnectVerdict::Proxy(to) => to_tor(&Target::Addr(to)),
        ConnectVerdict::ProxyName(pool, ip, port) => match names::name_of(&rt.settings, pool, ip) {
            Some(name) => to_tor(&Target::Name(&name, port)),
            None => Err(guard::refuse(Refusal {
                errno: libc::EHOSTUNREACH,
                reason: Reason::UnknownCookie(SocketAddr::new(ip.into(), port), pool),
            })),
        },
    }
}

/// Set once this process has said that it connects around Tor (a forked child inherits it:
/// the same program, already announced).
static SAID_DIRECT: AtomicBool = AtomicBool::new(false);

/// Says that a connection goes around Tor: once per process where the user sees it, then
/// at debug level.
fn say_direct(fd: c_int, to: SocketAddr) {
    if !SAID_DIRECT.swap(true, Ordering::Relaxed) {
        // At error level, the default one, though it is a warning: traffic outside Tor deserves
        // one visible line even when the settings ask for it (a forgotten TORIFY_DIRECT in a
        // shell's environment). Log level 1 (-q) silences it like everything else.
        log::error!("warning: connecting to {to} directly, not through Tor (allow.direct)");
    } else {
        log::debug!("connect({fd}, {to}): directly, not through Tor (allow.direct)");
    }
}

/// Opens the stream through Tor and records the address the program asked for. A blocking
/// socket returns once the destination answered; a non-blocking one as soon as the request is
/// on its way.
fn through_tor(
    fd: c_int,
    kind: SocketKind,
    target: &Target<'_>,
    asked: SocketAddr,
    rt: &Runtime,
) -> Result<Opened, c_int> {
    let nonblocking = sys::nonblocking(fd);
    let result = if nonblocking {
        proxy::connect_nonblocking(fd, kind, target, rt)
    } else {
        proxy::connect(fd, kind, target, rt)
    };
    match result {
        Ok(()) => {
            registry::insert(fd, Entry { peer: asked });
            if nonblocking {
                log::debug!(
                    "connect({fd}, {}): request sent to Tor, in progress",
                    Shown(target)
                );
                Ok(Opened::InProgress)
            } else {
                log::debug!("connect({fd}, {}): through Tor", Shown(target));
                Ok(Opened::Connected)
            }
        }
        Err(ProxyError::Io(e @ (libc::EINTR | libc::ETIMEDOUT))) => {
            log::debug!("connect({fd}, {}): interrupted ({e})", Shown(target));
            Err(guard::fail(e))
        }
        Err(e) => {
            log::error!("connection to {} through Tor failed: {e}", Shown(target));
            Err(guard::fail(e.errno()))
        }
    }
}
