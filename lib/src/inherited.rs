//! Sockets this process did not open through torify: inherited across exec (a parent outside
//! torify left them open), received, or taken from another process. A socket already connected
//! around Tor carries whatever is written to it (`echo x >&7` on an inherited UDP socket), so
//! every call that sends on one of them is judged like a send to its peer.
//!
//! The launcher closes such descriptors before it starts the command; this covers a library
//! preloaded some other way. At load, the descriptors that are open internet sockets are noted
//! in a bitmap (no allocation: a stack buffer for /proc/self/fd). A send on a noted descriptor
//! is judged once: kept (and forgotten) when it cannot go around Tor, refused every time
//! otherwise. A program with no such descriptor pays one atomic load per send.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use libc::c_int;
use torify_core::policy;
use torify_core::refusal::Refusal;

use crate::{fdpass, runtime, sys};

const WORDS: usize = 1024;
/// Descriptors below this are tracked one bit each; higher ones share [`HIGH`].
const TRACKED: usize = WORDS * 64;

static NOTED: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
/// Set when a descriptor at or above [`TRACKED`] was noted: every high descriptor is judged.
static HIGH: AtomicU64 = AtomicU64::new(0);
/// How many are noted; zero is the fast path.
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn bit(fd: c_int) -> Option<(&'static AtomicU64, u64)> {
    let fd = usize::try_from(fd).ok()?;
    if fd >= TRACKED {
        return Some((&HIGH, 1));
    }
    Some((NOTED.get(fd / 64)?, 1u64 << (fd % 64)))
}

/// Notes `fd` as not opened through torify.
pub(crate) fn note(fd: c_int) {
    crate::fdstate::recording();
    if let Some((word, mask)) = bit(fd)
        && word.fetch_or(mask, Ordering::Relaxed) & mask == 0
    {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// `fd` now names something torify made or judged (a fresh socket, a closed number).
pub(crate) fn forget(fd: c_int) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    if let Ok(fd) = usize::try_from(fd)
        && fd >= TRACKED
    {
        return;
    }
    if let Some((word, mask)) = bit(fd)
        && word.fetch_and(!mask, Ordering::Relaxed) & mask != 0
    {
        COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `to` became a copy of `from` (dup and friends): it is what `from` is.
pub(crate) fn copy(from: c_int, to: c_int) {
    forget(to);
    if is_noted(from) {
        note(to);
    }
}

fn is_noted(fd: c_int) -> bool {
    COUNT.load(Ordering::Relaxed) != 0
        && bit(fd).is_some_and(|(word, mask)| word.load(Ordering::Relaxed) & mask != 0)
}

/// Before a call that sends on `fd` (write, send, sendfile, splice, …): `Err` when `fd` is a
/// socket torify did not open that would carry the data around Tor.
pub(crate) fn judge_send(fd: c_int) -> Result<(), Refusal> {
    if !is_noted(fd) {
        return Ok(());
    }
    let settings = runtime::get().map(|rt| &rt.settings);
    let verdict = fdpass::judge_foreign(fd, settings).map_err(|r| Refusal {
        errno: libc::EPERM,
        reason: match r.reason {
            torify_core::refusal::Reason::ReceivedSocket(peer) => {
                torify_core::refusal::Reason::ForeignSocket(peer)
            }
            other => other,
        },
    });
    if verdict.is_ok() && usize::try_from(fd).is_ok_and(|f| f < TRACKED) {
        forget(fd);
    }
    verdict
}

/// Notes the internet (and other non-local) sockets open at load. Runs from `.init_array`,
/// before `main` and before any thread: no allocation, no lock.
pub(crate) fn note_at_load() {
    // The launcher that exec'd this very process closed them already (the seal mark names
    // this process); a process started any other way, its children included, looks.
    let sealed = crate::sys::env_now(torify_core::exec::SEALED_VARIABLE)
        .is_some_and(|v| torify_core::exec::sealed_for(v, crate::sys::pid()));
    if sealed {
        return;
    }
    // SAFETY: a NUL-terminated path; the descriptor is ours and closed below.
    let dir = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is writable for its length; getdents64 fills it with whole records.
        let n = unsafe {
            crate::libc_sym::real::syscall(
                libc::SYS_getdents64,
                libc::c_long::from(dir),
                buf.as_mut_ptr() as libc::c_long,
                buf.len() as libc::c_long,
                0,
                0,
                0,
            )
        };
        let Some(Ok(n)) = n.map(usize::try_from) else {
            break;
        };
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at + 19 < n {
            // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
            let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
            if reclen == 0 || at + reclen > n {
                break;
            }
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            if let Some(fd) = parse_fd(name)
                && fd != dir
                && is_foreign_kind(fd)
            {
                note(fd);
            }
            at += reclen;
        }
    }
    sys::close(dir);
}

fn parse_fd(name: &[u8]) -> Option<c_int> {
    if name.is_empty() || name.len() > 9 || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        name.iter()
            .fold(0, |n: c_int, d| n * 10 + c_int::from(d - b'0')),
    )
}

/// True for a socket that is not local: those are judged at their first send.
fn is_foreign_kind(fd: c_int) -> bool {
    match sys::socket_kind(fd) {
        Ok(Some(kind)) => !policy::is_local_family(kind.family),
        Ok(None) => false,
        // Not knowing is judged at the first send (and refused there if still unknown).
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_proc_fd() {
        assert_eq!(parse_fd(b"7"), Some(7));
        assert_eq!(parse_fd(b"1023"), Some(1023));
        assert_eq!(parse_fd(b"."), None);
        assert_eq!(parse_fd(b".."), None);
        assert_eq!(parse_fd(b""), None);
        assert_eq!(parse_fd(b"1234567890"), None);
    }
}
