//! Connections opened through Tor whose SOCKS reply has not been read yet.
//!
//! A non-blocking connect() sends the SOCKS request and returns EINPROGRESS at once: the
//! program sees the socket writable as soon as it reaches Tor's SOCKS port, and what it writes
//! rides behind the CONNECT (tor accepts data sent before its reply: "optimistic data"), saving
//! a round trip through the circuit for protocols where the client speaks first. Tor's reply
//! arrives first on the stream; the program's first read consumes it here, and reports a
//! failure as the errno of the read.
//!
//! The table sits behind a lock no fork or clone can leave held (`forksafe::Lock`), and
//! readers check an atomic count first: a program with nothing pending pays one atomic load per
//! read.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::c_int;
use torify_core::socks5::{MAX_REPLIES, Progress, Replies};

use crate::forksafe::{Lock, LockGuard};
use crate::log;
use crate::sys::{self, Errno};

/// A reply being waited for.
pub(crate) struct Pending {
    replies: Replies,
    buf: [u8; MAX_REPLIES],
    have: usize,
    /// Where the program asked to go, for the error line.
    target: String,
    /// The socket this is for, so that a descriptor number closed behind our back (fclose of
    /// an fdopen'ed socket closes inside libc) and reused is not mistaken for it.
    identity: sys::Identity,
}

impl Pending {
    /// Waiting for `replies` on the socket `identity`.
    pub(crate) fn new(replies: Replies, target: String, identity: sys::Identity) -> Self {
        Pending {
            replies,
            buf: [0u8; MAX_REPLIES],
            have: 0,
            target,
            identity,
        }
    }
}

enum Slot {
    Waiting(Box<Pending>),
    /// A reader (of this process id) is consuming the reply right now; others wait for it.
    Busy(u32),
}

/// The pending replies by descriptor. Descriptors are small integers chosen by the kernel: no
/// need for a keyed hash.
pub(crate) struct Table {
    slots: HashMap<c_int, Slot, BuildHasherDefault<DefaultHasher>>,
}

impl Table {
    const fn new() -> Self {
        Table {
            slots: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }
}

static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Const-initialized: nothing lazy for a fork to catch half done.
static TABLE: Lock<Table> = Lock::new(Table::new(), || {
    // A child that inherited the table mid-change starts empty; so must the count.
    COUNT.store(0, Ordering::Relaxed);
    Table::new()
});

fn lock() -> LockGuard<Table> {
    TABLE.lock()
}

/// Takes the table for the forking thread (see `forksafe`).
pub(crate) fn lock_for_fork() -> LockGuard<Table> {
    TABLE.lock()
}

/// Records that `fd` waits for a reply.
pub(crate) fn insert(fd: c_int, p: Pending) {
    crate::fdstate::recording();
    let mut t = lock();
    if t.slots.insert(fd, Slot::Waiting(Box::new(p))).is_none() {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Forgets `fd` (closed).
pub(crate) fn remove(fd: c_int) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    forget_locked(&mut lock(), fd);
}

/// Forgets every descriptor from `first` to `last`.
pub(crate) fn remove_range(first: u32, last: u32) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut t = lock();
    let before = t.slots.len();
    t.slots
        .retain(|fd, _| !(first..=last).contains(&(*fd as u32)));
    COUNT.fetch_sub(before - t.slots.len(), Ordering::Relaxed);
}

/// How a read should go on after [`settle`].
pub(crate) enum Settled {
    /// Nothing pending (any more): read as usual.
    Ready,
    /// Fail the read with this errno (EAGAIN while the reply is not complete on a non-blocking
    /// socket; the SOCKS failure's errno once).
    Fail(Errno),
}

/// Consumes the SOCKS reply on `fd` if one is pending, before a read of the program's.
/// It waits for the rest of the reply when the socket is blocking and `dontwait` is not set
/// (MSG_DONTWAIT), and always when `force` (before dup: the copy must not see the reply).
pub(crate) fn settle(fd: c_int, dontwait: bool, force: bool) -> Settled {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return Settled::Ready;
    }
    let me = crate::forksafe::this_process();
    let mut p = loop {
        let mut t = lock();
        match t.slots.get_mut(&fd) {
            None => return Settled::Ready,
            Some(Slot::Busy(reader)) if *reader != me => {
                // The reader was a thread of the process this one was copied from: it will
                // never finish here.
                forget_locked(&mut t, fd);
                return Settled::Ready;
            }
            Some(Slot::Busy(_)) => {
                drop(t);
                std::thread::yield_now();
            }
            Some(slot) => match std::mem::replace(slot, Slot::Busy(me)) {
                Slot::Waiting(p) => break p,
                Slot::Busy(_) => {}
            },
        }
    };
    if sys::identity(fd) != Some(p.identity) {
        // The number now names another file: the socket was closed without our close().
        forget_locked(&mut lock(), fd);
        return Settled::Ready;
    }
    let wait = force || (!dontwait && !sys::nonblocking(fd));
    let outcome = consume(fd, &mut p, wait);
    let mut t = lock();
    match outcome {
        Err(e @ (libc::EAGAIN | libc::EINTR)) => {
            // The slot is there (Busy) unless a close forgot it meanwhile.
            if t.slots.insert(fd, Slot::Waiting(p)).is_none() {
                COUNT.fetch_add(1, Ordering::Relaxed);
            }
            Settled::Fail(e)
        }
        Ok(()) => {
            forget_locked(&mut t, fd);
            Settled::Ready
        }
        Err(e) => {
            forget_locked(&mut t, fd);
            Settled::Fail(e)
        }
    }
}

fn forget_locked(t: &mut Table, fd: c_int) {
    if t.slots.remove(&fd).is_some() {
        COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reads no more than the reply (what follows is the program's), and judges it.
fn consume(fd: c_int, p: &mut Pending, wait: bool) -> Result<(), Errno> {
    let deadline = sys::deadline_in(crate::proxy::HANDSHAKE_SECS);
    loop {
        match p.replies.progress(&p.buf[..p.have]) {
            Ok(Progress::Need(n)) => {
                let window = p.buf.get_mut(p.have..n).ok_or(libc::EPROTO)?;
                let got = if wait {
                    sys::recv_some(fd, window, deadline, sys::OnSignal::Interrupt)
                } else {
                    sys::recv_now(fd, window)
                };
                match got {
                    Ok(0) => {
                        log::error!(
                            "connection to {} through Tor failed: Tor's SOCKS port closed the connection during the handshake",
                            p.target
                        );
                        return Err(libc::ECONNREFUSED);
                    }
                    Ok(k) => p.have += k,
                    Err(e @ (libc::EAGAIN | libc::EINTR)) => return Err(e),
                    Err(e) => {
                        // A reset before the reply was read (tor closing with the program's
                        // early data unread) loses the reply: still never a silent failure.
                        log::error!(
                            "connection to {} through Tor failed: {}",
                            p.target,
                            std::io::Error::from_raw_os_error(e)
                        );
                        return Err(e);
                    }
                }
            }
            Ok(Progress::Done(..)) => {
                log::debug!("connection to {} through Tor: open", p.target);
                return Ok(());
            }
            Err(e) => {
                log::error!("connection to {} through Tor failed: {e}", p.target);
                // Whatever the program wrote ahead went nowhere; make it see the end.
                // SAFETY: shutdown takes no pointers.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                return Err(e.errno());
            }
        }
    }
}
