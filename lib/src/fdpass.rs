//! Descriptors travelling between processes in SCM_RIGHTS messages over unix sockets: an open
//! internet socket may not leave (the receiver could use it outside Tor), and one arriving is
//! kept only when it cannot carry traffic around Tor.

use libc::{c_int, msghdr};
use torify_conf::Settings;
use torify_core::policy::{self, SocketState};
use torify_core::refusal::Refusal;

use crate::{runtime, sys};

/// Calls `f` with every descriptor of the SCM_RIGHTS messages in `msg`'s control data.
///
/// # Safety
/// `msg` points to a msghdr whose control buffer is valid for msg_controllen bytes.
unsafe fn for_each_fd(msg: *const msghdr, mut f: impl FnMut(*mut c_int)) {
    // SAFETY: the CMSG_* accessors walk the caller's control buffer within msg_controllen.
    unsafe {
        if msg.is_null() || (*msg).msg_control.is_null() || (*msg).msg_controllen == 0 {
            return;
        }
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<c_int>();
                let bytes = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                for i in 0..bytes / size_of::<c_int>() {
                    f(data.add(i));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// Refuses sending `msg` when it carries an internet socket.
///
/// # Safety
/// As [`for_each_fd`].
pub(crate) unsafe fn check_outgoing(msg: *const msghdr) -> Result<(), Refusal> {
    let mut verdict = Ok(());
    // SAFETY: caller contract.
    unsafe {
        for_each_fd(msg, |fd| {
            verdict = verdict.and(match sys::socket_kind(*fd) {
                Ok(Some(kind)) => policy::may_pass(kind),
                Ok(None) => Ok(()),
                Err(e) => Err(unclassified(e)),
            });
        });
    }
    verdict
}

fn unclassified(errno: c_int) -> Refusal {
    Refusal {
        errno: libc::EPERM,
        reason: torify_core::refusal::Reason::Unclassified(errno),
    }
}

/// Judges a descriptor this process did not make through torify (received, taken from another
/// process, inherited): kept only when it cannot carry traffic around Tor.
pub(crate) fn judge_foreign(
    fd: c_int,
    settings: Result<&Settings, Refusal>,
) -> Result<(), Refusal> {
    if crate::system::exempt() {
        return Ok(());
    }
    match sys::socket_kind(fd) {
        Ok(Some(kind)) => {
            let s = settings?;
            policy::may_receive(kind, state_of(fd), s)
        }
        Ok(None) => Ok(()),
        Err(e) => Err(unclassified(e)),
    }
}

fn state_of(fd: c_int) -> SocketState {
    if sys::listening(fd) {
        return SocketState::Listening(sys::local_addr(fd));
    }
    match sys::peer_addr(fd) {
        Some(peer) => SocketState::Connected(peer),
        None => SocketState::Unconnected,
    }
}

/// Checks the descriptors `msg` brought in; on a refusal every one of them is closed (and
/// set to -1 in the message) so none is left behind.
///
/// # Safety
/// As [`for_each_fd`], with the control data filled in by the kernel.
pub(crate) unsafe fn check_incoming(msg: *mut msghdr) -> Result<(), Refusal> {
    let settings = runtime::get().map(|rt| &rt.settings);
    let mut verdict = Ok(());
    // SAFETY: caller contract.
    unsafe {
        for_each_fd(msg, |fd| {
            verdict = verdict.and(judge_foreign(*fd, settings))
        });
        if verdict.is_err() {
            for_each_fd(msg, |fd| {
                sys::close(*fd);
                *fd = -1;
            });
        }
    }
    verdict
}
