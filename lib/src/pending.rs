//! Connections opened through Tor whose SOCKS reply has not been read yet.
//!
//! A non-blocking connect() sends the SOCKS request and returns EINPROGRESS at once: the
//! program sees the socket writable as soon as it reaches Tor's SOCKS port, and what it writes
//! rides behind the CONNECT (tor accepts data sent before its reply: "optimistic data"), saving
//! a round trip through the circuit for protocols where the client speaks first. Tor's reply
//! arrives first on the stream; the program's first read consumes it here, and reports a
//! failure as the errno of the read.
//!
//! The table sits behind a mutex that fork cannot leave locked (pthread_atfork), and readers
//! check an atomic count first: a program with nothing pending pays one atomic load per read.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use libc::c_int;
use torify_core::socks5::{MAX_REPLIES, Progress, Replies};

use crate::sys::{self, Errno};

/// A reply being waited for.
pub(crate) struct Pending {
    replies: Replies,
    buf: [u8; MAX_REPLIES],
    have: usize,
    /// Where the program asked to go, for the error line.
    target: String,
}

impl Pending {
    /// Waiting for `replies`, of which `already` (the method choice, when it was read during
    /// connect) have arrived.
    pub(crate) fn new(replies: Replies, already: &[u8], target: String) -> Self {
        let mut buf = [0u8; MAX_REPLIES];
        let have = already.len().min(MAX_REPLIES);
        buf[..have].copy_from_slice(&already[..have]);
        Pending {
            replies,
            buf,
            have,
            target,
        }
    }
}

enum Slot {
    Waiting(Box<Pending>),
    /// A reader is consuming the reply right now; others wait for it.
    Busy,
}

/// Descriptors are small integers chosen by the kernel: no need for a keyed hash.
type Table = HashMap<c_int, Slot, BuildHasherDefault<DefaultHasher>>;

static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Const-initialized: nothing lazy for a fork to catch half done.
static TABLE: Mutex<Table> = Mutex::new(HashMap::with_hasher(BuildHasherDefault::new()));

thread_local! {
    static HELD: RefCell<Option<MutexGuard<'static, Table>>> = const { RefCell::new(None) };
}

fn lock() -> MutexGuard<'static, Table> {
    TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the table for the forking thread (see `forksafe`).
pub(crate) fn before_fork() {
    let guard = TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(guard));
}

/// Gives the table back, in parent and child.
pub(crate) fn after_fork() {
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

/// Records that `fd` waits for a reply.
pub(crate) fn insert(fd: c_int, p: Pending) {
    let mut t = lock();
    if t.insert(fd, Slot::Waiting(Box::new(p))).is_none() {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Forgets `fd` (closed).
pub(crate) fn remove(fd: c_int) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    if lock().remove(&fd).is_some() {
        COUNT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Forgets every descriptor from `first` to `last`.
pub(crate) fn remove_range(first: u32, last: u32) {
    if COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut t = lock();
    let before = t.len();
    t.retain(|fd, _| !(first..=last).contains(&(*fd as u32)));
    COUNT.fetch_sub(before - t.len(), Ordering::Relaxed);
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
    let mut p = loop {
        let mut t = lock();
        match t.get_mut(&fd) {
            None => return Settled::Ready,
            Some(Slot::Busy) => {
                drop(t);
                std::thread::yield_now();
            }
            Some(slot) => match std::mem::replace(slot, Slot::Busy) {
                Slot::Waiting(p) => break p,
                Slot::Busy => {}
            },
        }
    };
    let wait = force || (!dontwait && !sys::nonblocking(fd));
    let outcome = consume(fd, &mut p, wait);
    let mut t = lock();
    match outcome {
        Err(e @ (libc::EAGAIN | libc::EINTR)) => {
            t.insert(fd, Slot::Waiting(p));
            Settled::Fail(e)
        }
        Ok(()) => {
            t.remove(&fd);
            COUNT.fetch_sub(1, Ordering::Relaxed);
            Settled::Ready
        }
        Err(e) => {
            t.remove(&fd);
            COUNT.fetch_sub(1, Ordering::Relaxed);
            Settled::Fail(e)
        }
    }
}

/// Reads no more than the reply (what follows is the program's), and judges it.
fn consume(fd: c_int, p: &mut Pending, wait: bool) -> Result<(), Errno> {
    let deadline = sys::deadline_in(crate::proxy::HANDSHAKE_SECS);
    loop {
        match p.replies.progress(&p.buf[..p.have], true) {
            Ok(Progress::Need(n)) => {
                let window = p.buf.get_mut(p.have..n).ok_or(libc::EPROTO)?;
                let got = if wait {
                    sys::recv_some(fd, window, deadline, sys::OnSignal::Interrupt)
                } else {
                    sys::recv_now(fd, window)
                };
                match got {
                    Ok(0) => {
                        tracing::error!(
                            "connection to {} through Tor failed: Tor's SOCKS port closed the connection during the handshake",
                            p.target
                        );
                        return Err(libc::ECONNREFUSED);
                    }
                    Ok(k) => p.have += k,
                    Err(e) => return Err(e),
                }
            }
            Ok(Progress::Done(..)) => {
                tracing::debug!("connection to {} through Tor: open", p.target);
                return Ok(());
            }
            Ok(_) => return Err(libc::EPROTO),
            Err(e) => {
                tracing::error!("connection to {} through Tor failed: {e}", p.target);
                // Whatever the program wrote ahead went nowhere; make it see the end.
                // SAFETY: shutdown takes no pointers.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                return Err(e.errno());
            }
        }
    }
}
