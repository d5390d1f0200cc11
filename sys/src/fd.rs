//! Descriptors known by number only: those this process was given at exec (systemd's socket
//! activation, a starter's pipe), and those /proc/self/fd lists.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The numbers [`claim_inherited`] has handed out.
static CLAIMED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// True when descriptor `fd` is open, fcntl(F_GETFD).
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no pointer and only asks about the number.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Takes ownership of descriptor `fd`, which this process was given open at exec under that
/// number by whoever started it: `None` when it is not open, or when it was claimed before
/// (each number is handed out once in the life of the process, so no two owners close it).
///
/// For a number the process's starter named (LISTEN_FDS, a `--ready-fd`): a descriptor
/// this process opened itself has an owner already, and must not be claimed.
pub fn claim_inherited(fd: RawFd) -> Option<OwnedFd> {
    let mut claimed = CLAIMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if claimed.contains(&fd) || !is_open(fd) {
        return None;
    }
    claimed.push(fd);
    // SAFETY: open (above), inherited at exec as the caller says, and never handed out before.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Calls `f` with each descriptor open in this process (as /proc/self/fd lists them; none
/// when it cannot be read), borrowed for that call.
///
/// For a process of one thread, as the launcher is when it looks at what it inherited: then no
/// descriptor listed closes before `f` is done with it, unless `f` closes it.
pub fn for_each_open(mut f: impl FnMut(BorrowedFd<'_>)) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Collected first: the directory's own descriptor is closed before the calls.
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for raw in fds {
        // SAFETY: the number was open a moment ago in this single-threaded process; the borrow
        // lasts one call, and a number closed meanwhile fails each call made on it harmlessly.
        f(unsafe { BorrowedFd::borrow_raw(raw) });
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsRawFd, IntoRawFd};

    use super::*;

    #[test]
    fn an_open_number_is_claimed_once_and_a_closed_one_never() {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        drop(read);
        let raw = write.into_raw_fd();
        let owned = claim_inherited(raw).unwrap();
        assert_eq!(owned.as_raw_fd(), raw);
        assert!(claim_inherited(raw).is_none());
        assert!(claim_inherited(-1).is_none());
        assert!(claim_inherited(1 << 20).is_none());
    }

    #[test]
    fn an_open_descriptor_is_listed() {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let mut seen = Vec::new();
        for_each_open(|fd| seen.push(fd.as_raw_fd()));
        assert!(seen.contains(&read.as_raw_fd()), "{seen:?}");
        assert!(seen.contains(&write.as_raw_fd()), "{seen:?}");
    }
}
