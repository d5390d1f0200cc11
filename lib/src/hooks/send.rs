//! sendto(2), sendmsg(2), sendmmsg(2): a datagram with a destination is judged as connect()
//! judges it; MSG_FASTOPEN on a TCP socket (a connect and a send in one call) is opened
//! through Tor first and the data sent after; SCM_RIGHTS may not carry an internet socket.

use libc::{c_int, c_uint, c_void, mmsghdr, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use torify_core::policy::{self, ConnectVerdict, Destination, SocketKind};
use torify_core::refusal::{Reason, Refusal};

use super::connect::{Opened, open};
use crate::libc_sym::real;
use crate::log;
use crate::sockaddr::destination;
use crate::{fdpass, guard, registry, runtime};

/// What a send naming a destination may do.
enum Judged {
    /// Send it as the program asked.
    Pass,
    /// The connection went through Tor: send the data without destination or MSG_FASTOPEN.
    Opened,
    /// Fail with -1 (errno set, reason logged).
    Failed,
}

/// Judges a send on `fd` to `(addr, len)` with `flags`.
fn judge(fd: c_int, addr: *const sockaddr, len: socklen_t, flags: c_int) -> Judged {
    let fast_open = flags & libc::MSG_FASTOPEN != 0;
    if (addr.is_null() && !fast_open) || crate::system::exempt() {
        return Judged::Pass;
    }
    let kind = match guard::classify(fd) {
        Ok(Some(kind)) => kind,
        Ok(None) => return Judged::Pass,
        Err(_) => return Judged::Failed,
    };
    if policy::is_local_family(kind.family) {
        return Judged::Pass;
    }
    let rt = match runtime::get() {
        Ok(rt) => rt,
        Err(refusal) => {
            guard::refuse(refusal);
            return Judged::Failed;
        }
    };
    // SAFETY: the caller's address, read within len with the kernel's checks.
    let dest = match unsafe { destination(addr, len) } {
        Ok(d) => d,
        Err(_) if addr.is_null() => Destination::Unspec,
        Err(e) => {
            guard::fail(e);
            return Judged::Failed;
        }
    };
    if kind.ty == libc::SOCK_STREAM {
        // Without MSG_FASTOPEN, or once connected, the kernel ignores the address (or fails
        // with EISCONN): nothing leaves but on the existing connection.
        if !fast_open || registry::get(fd).is_some() {
            return Judged::Pass;
        }
        return match open(fd, kind, dest, rt) {
            Ok(Opened::Direct) => Judged::Pass,
            Ok(Opened::Connected | Opened::InProgress) => Judged::Opened,
            Err(_) => Judged::Failed,
        };
    }
    match policy::connect(kind, dest, &rt.settings) {
        ConnectVerdict::Libc => Judged::Pass,
        ConnectVerdict::Refuse(refusal) => {
            guard::refuse(refusal);
            Judged::Failed
        }
        _ => {
            guard::refuse(datagram_refusal(kind, dest));
            Judged::Failed
        }
    }
}

fn datagram_refusal(kind: SocketKind, dest: Destination) -> Refusal {
    match dest {
        Destination::Inet(a) => Refusal {
            errno: libc::EPERM,
            reason: Reason::Datagram(a),
        },
        _ => Refusal {
            errno: libc::EPERM,
            reason: Reason::Family(kind.family),
        },
    }
}

/// sendto(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    guard::catch(
        "sendto",
        || guard::fail_len(libc::EPERM),
        || {
            match judge(fd, addr, addrlen, flags) {
                Judged::Pass => {
                    // SAFETY: the caller's arguments.
                    unsafe { real::sendto(fd, buf, len, flags, addr, addrlen) }
                        .unwrap_or_else(guard::unavailable_len)
                }
                // SAFETY: the caller's buffer, without the destination now connected.
                Judged::Opened => unsafe {
                    real::sendto(
                        fd,
                        buf,
                        len,
                        flags & !libc::MSG_FASTOPEN,
                        std::ptr::null(),
                        0,
                    )
                }
                .unwrap_or_else(guard::unavailable_len),
                Judged::Failed => -1,
            }
        },
    )
}

/// sendmsg(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    guard::catch(
        "sendmsg",
        || guard::fail_len(libc::EPERM),
        || {
            if msg.is_null() {
                // SAFETY: the kernel reports EFAULT.
                return unsafe { real::sendmsg(fd, msg, flags) }
                    .unwrap_or_else(guard::unavailable_len);
            }
            // SAFETY: a msghdr of the caller's.
            if let Err(refusal) = unsafe { fdpass::check_outgoing(msg) } {
                guard::refuse(refusal);
                return -1;
            }
            // SAFETY: as above.
            let (name, namelen) = unsafe {
                (
                    (*msg).msg_name.cast::<sockaddr>().cast_const(),
                    (*msg).msg_namelen,
                )
            };
            match judge(fd, name, namelen, flags) {
                Judged::Pass => {
                    // SAFETY: the caller's arguments.
                    unsafe { real::sendmsg(fd, msg, flags) }.unwrap_or_else(guard::unavailable_len)
                }
                Judged::Opened => {
                    // SAFETY: a copy of the caller's msghdr without the destination.
                    let mut copy = unsafe { *msg };
                    copy.msg_name = std::ptr::null_mut();
                    copy.msg_namelen = 0;
                    // SAFETY: as above.
                    unsafe { real::sendmsg(fd, &copy, flags & !libc::MSG_FASTOPEN) }
                        .unwrap_or_else(guard::unavailable_len)
                }
                Judged::Failed => -1,
            }
        },
    )
}

/// sendmmsg(2): every message is judged; one refused fails the call.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sendmmsg(
    fd: c_int,
    msgs: *mut mmsghdr,
    vlen: c_uint,
    flags: c_int,
) -> c_int {
    guard::hook("sendmmsg", libc::EPERM, || {
        let kind = match guard::classify(fd) {
            Ok(kind) => kind,
            Err(refused) => return refused,
        };
        if flags & libc::MSG_FASTOPEN != 0 && kind.is_some_and(|k| k.ty == libc::SOCK_STREAM) {
            log::error!(
                "refused sendmmsg() with MSG_FASTOPEN: use connect() or sendto() to open the connection"
            );
            return guard::fail(libc::EOPNOTSUPP);
        }
        for i in 0..vlen as usize {
            if msgs.is_null() {
                break;
            }
            // SAFETY: the caller's array of vlen messages.
            let hdr = unsafe { std::ptr::addr_of!((*msgs.add(i)).msg_hdr) };
            // SAFETY: as above.
            if let Err(refusal) = unsafe { fdpass::check_outgoing(hdr) } {
                return guard::refuse(refusal);
            }
            // SAFETY: as above.
            let (name, namelen) = unsafe {
                (
                    (*hdr).msg_name.cast::<sockaddr>().cast_const(),
                    (*hdr).msg_namelen,
                )
            };
            if let Judged::Failed = judge(fd, name, namelen, flags & !libc::MSG_FASTOPEN) {
                return -1;
            }
        }
        // SAFETY: the caller's arguments.
        unsafe { real::sendmmsg(fd, msgs, vlen, flags) }.unwrap_or_else(guard::unavailable)
    })
}
