//! Processes: fork, leaving a forked child, new namespaces, secure-exec.

use std::io;

use rustix::thread::UnshareFlags;

/// Which side of a [`fork`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The caller; the new process has this pid.
    Parent(i32),
}

/// How many threads this process has: the entries of /proc/self/task.
pub fn threads() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// fork(2), in a process of one thread only: its child is then a whole copy of it, free to
/// allocate and run any code (in a process of more threads, another thread may have held a
/// lock at the fork, which the child would never see released). A process of more threads,
/// or one whose threads cannot be counted, gets an error and no child. A single thread
/// cannot gain another between the count and the fork: only it could start one.
pub fn fork() -> io::Result<Forked> {
    let n = threads()?;
    if n != 1 {
        return Err(io::Error::other(format!(
            "this process has {n} threads, and only a single-threaded one forks"
        )));
    }
    // SAFETY: this process has one thread (above), so nothing in the child waits on a lock
    // another thread held.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Ends this process at once with `code`: _exit(2), without the exit handlers and buffers of
/// the process it was forked from (which would otherwise run, or be flushed, twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes no pointers and may be called in any state.
    unsafe { libc::_exit(code) }
}

/// The flags [`unshare_namespaces`] takes: new namespaces only.
const NAMESPACES: UnshareFlags = UnshareFlags::NEWCGROUP
    .union(UnshareFlags::NEWIPC)
    .union(UnshareFlags::NEWNET)
    .union(UnshareFlags::NEWNS)
    .union(UnshareFlags::NEWPID)
    .union(UnshareFlags::NEWTIME)
    .union(UnshareFlags::NEWUSER)
    .union(UnshareFlags::NEWUTS);

/// unshare(2) into new namespaces (`flags` of `CLONE_NEW*` only; any other flag is EINVAL
/// here). rustix leaves unshare unsafe because unsharing the descriptor table (CLONE_FILES)
/// can part a thread from descriptors other threads own; new namespaces cannot.
pub fn unshare_namespaces(flags: UnshareFlags) -> io::Result<()> {
    if !NAMESPACES.contains(flags) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: only namespace flags (above): the descriptor table and everything else a
    // thread shares stay shared.
    unsafe { rustix::thread::unshare_unsafe(flags) }?;
    Ok(())
}

/// True when this process runs set-ID or with file capabilities (AT_SECURE in its auxiliary
/// vector): then its environment, which its caller chose, is not to be trusted.
pub fn secure_exec() -> bool {
    // SAFETY: getauxval takes a number and has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_of_two_threads_is_refused_a_fork() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || wait.recv());
        assert!(threads().unwrap() >= 2);
        assert!(fork().is_err());
        release.send(()).unwrap();
        other.join().unwrap().unwrap();
    }

    #[test]
    fn unshare_takes_namespace_flags_only() {
        let e = unshare_namespaces(UnshareFlags::NEWNET | UnshareFlags::FILES).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let e = unshare_namespaces(UnshareFlags::FS).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn a_test_runs_without_secure_exec() {
        assert!(!secure_exec());
    }
}
