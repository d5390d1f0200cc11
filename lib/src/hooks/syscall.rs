//! syscall(2): the numbers torify polices take the same path as their libc functions; every
//! other number passes through untouched, with all six arguments (torsocks 2.3 answered ENOSYS
//! to numbers it did not know, which broke programs).
//!
//! syscall is variadic. On x86_64 and aarch64 Linux variadic integer and pointer arguments
//! travel in the registers fixed ones use, so a fixed signature of the number plus six longs
//! reads whatever the caller passed, and forwards it all.

use libc::{c_int, c_long};

use super::{connect, dup, exec, getpeername, inbound, pidfd, recv, send, socket, write};
use crate::libc_sym::real;
use crate::{guard, log};

/// io_uring runs connections and sends inside the kernel, where no library function is
/// called: refused, and programs fall back to ordinary calls when they see ENOSYS.
fn refuse_io_uring() -> c_long {
    log::refusal(
        torify_core::refusal::Kind::IoUring,
        &format_args!(
            "refused io_uring_setup(): io_uring opens connections and sends without any call torify sees; the program falls back to ordinary calls"
        ),
    );
    guard::fail(libc::ENOSYS) as c_long
}

/// preadv2/pwritev2 as system calls: the kernel takes the offset in two halves (low, high),
/// so the call is judged here and made with the caller's own arguments.
///
/// # Safety
/// The system call's contract.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_v2(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
    sends: bool,
) -> c_long {
    let fd = a1 as c_int;
    let judged = if sends {
        write::judge_send(fd)
    } else {
        write::settle_read(fd, a6 as c_int & libc::RWF_NOWAIT != 0)
    };
    match judged {
        // SAFETY: the caller's arguments, unchanged.
        Ok(()) => unsafe { real::syscall(n, a1, a2, a3, a4, a5, a6) }
            .unwrap_or_else(|| c_long::from(guard::unavailable())),
        Err(ret) => ret as c_long,
    }
}

/// syscall(2).
///
/// # Safety
/// C contract: the arguments the system call `n` takes.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn syscall(
    n: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    let pass = || {
        // SAFETY: the caller's arguments, to libc's syscall.
        unsafe { real::syscall(n, a1, a2, a3, a4, a5, a6) }
            .unwrap_or_else(|| c_long::from(guard::unavailable()))
    };
    if crate::system::exempt() {
        return pass();
    }
    let (i1, i2, i3) = (a1 as c_int, a2 as c_int, a3 as c_int);
    // SAFETY: every arm gives the caller's arguments to the hook of the same system call,
    // which has the system call's contract.
    unsafe {
        match n {
            libc::SYS_socket => c_long::from(socket::socket(i1, i2, i3)),
            libc::SYS_connect => c_long::from(connect::connect(i1, a2 as _, a3 as _)),
            libc::SYS_sendto => {
                send::sendto(i1, a2 as _, a3 as _, a4 as _, a5 as _, a6 as _) as c_long
            }
            libc::SYS_sendmsg => send::sendmsg(i1, a2 as _, i3) as c_long,
            libc::SYS_sendmmsg => c_long::from(send::sendmmsg(i1, a2 as _, a3 as _, a4 as _)),
            libc::SYS_recvfrom => {
                recv::recvfrom(i1, a2 as _, a3 as _, a4 as _, a5 as _, a6 as _) as c_long
            }
            libc::SYS_recvmsg => recv::recvmsg(i1, a2 as _, i3) as c_long,
            libc::SYS_recvmmsg => {
                c_long::from(recv::recvmmsg(i1, a2 as _, a3 as _, a4 as _, a5 as _))
            }
            libc::SYS_read => recv::read(i1, a2 as _, a3 as _) as c_long,
            libc::SYS_readv => recv::readv(i1, a2 as _, i3) as c_long,
            libc::SYS_listen => c_long::from(inbound::listen(i1, i2)),
            libc::SYS_accept => c_long::from(inbound::accept(i1, a2 as _, a3 as _)),
            libc::SYS_accept4 => c_long::from(inbound::accept4(i1, a2 as _, a3 as _, a4 as _)),
            libc::SYS_getpeername => c_long::from(getpeername::getpeername(i1, a2 as _, a3 as _)),
            libc::SYS_close => c_long::from(super::close::close(i1)),
            libc::SYS_close_range => c_long::from(dup::close_range(a1 as _, a2 as _, i3)),
            libc::SYS_dup => c_long::from(dup::dup(i1)),
            #[cfg(target_arch = "x86_64")]
            libc::SYS_dup2 => c_long::from(dup::dup2(i1, i2)),
            libc::SYS_dup3 => c_long::from(dup::dup3(i1, i2, i3)),
            libc::SYS_fcntl => c_long::from(dup::fcntl(i1, i2, a3 as _)),
            libc::SYS_execve => c_long::from(exec::execve(a1 as _, a2 as _, a3 as _)),
            libc::SYS_execveat => {
                c_long::from(exec::execveat(i1, a2 as _, a3 as _, a4 as _, a5 as _))
            }
            libc::SYS_write => write::write(i1, a2 as _, a3 as _) as c_long,
            libc::SYS_writev => write::writev(i1, a2 as _, i3) as c_long,
            libc::SYS_sendfile => write::sendfile(i1, i2, a3 as _, a4 as _) as c_long,
            libc::SYS_splice => write::splice(i1, a2 as _, i3, a4 as _, a5 as _, a6 as _) as c_long,
            libc::SYS_pwritev2 => raw_v2(n, a1, a2, a3, a4, a5, a6, true),
            libc::SYS_preadv2 => raw_v2(n, a1, a2, a3, a4, a5, a6, false),
            libc::SYS_pidfd_getfd => {
                let fd = real::syscall(n, a1, a2, a3, a4, a5, a6)
                    .unwrap_or_else(|| c_long::from(guard::unavailable()));
                c_long::from(pidfd::taken(fd as c_int))
            }
            libc::SYS_io_uring_setup | libc::SYS_io_uring_enter | libc::SYS_io_uring_register => {
                refuse_io_uring()
            }
            _ => pass(),
        }
    }
}
