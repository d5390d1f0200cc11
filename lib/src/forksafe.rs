//! State that no fork or clone can catch half made.
//!
//! fork(2) copies only the calling thread: a lock, or a one-time initialisation, that another
//! thread holds at that instant stays held in the child forever, and the child's first call
//! that needs it hangs. pthread_atfork handlers cover fork(3), but a child made by a raw
//! `syscall(SYS_clone, SIGCHLD)` (or clone(2) without CLONE_VM) runs no handler: 19 of 1500
//! such children of a program connecting in threads hung on the settings' OnceLock or the
//! pending-reply mutex. So this library holds no lock that a copy can inherit held:
//!
//! - [`Once`] initialises without a lock: whoever finishes first publishes its value with one
//!   compare-and-swap, the others drop theirs. A child copied in the middle just makes its own.
//! - [`Lock`] is a spin lock whose word holds the owner's process id: a child that finds it
//!   held by a process it is not (its parent, at the instant of the copy) takes it over and
//!   starts from an empty value, since the copied one may be half changed.
//!
//! The fork handlers (registered at load, before the program can start a thread) still take
//! every [`Lock`] across fork(3), so an ordinary fork keeps the tables whole.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// A value made once, on first use, without a lock.
pub(crate) struct Once<T> {
    ptr: AtomicPtr<T>,
}

impl<T> Once<T> {
    /// An empty cell.
    pub(crate) const fn new() -> Self {
        Once {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The value, if made.
    pub(crate) fn get(&'static self) -> Option<&'static T> {
        // SAFETY: a non-null pointer was published by `get_or_init` from Box::into_raw and is
        // never freed (statics live as long as the process).
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    /// The value, made by `init` if no one made it yet. Two threads racing both run `init`;
    /// one value wins and the other is dropped, so `init` must not hand its value out itself.
    pub(crate) fn get_or_init(&'static self, init: impl FnOnce() -> T) -> &'static T {
        if let Some(value) = self.get() {
            return value;
        }
        let mine = Box::into_raw(Box::new(init()));
        match self.ptr.compare_exchange(
            std::ptr::null_mut(),
            mine,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `mine` is the published, never-freed box.
            Ok(_) => unsafe { &*mine },
            Err(winner) => {
                // SAFETY: `mine` lost and was never shared; `winner` is the published box.
                unsafe {
                    drop(Box::from_raw(mine));
                    &*winner
                }
            }
        }
    }
}

/// A lock that a forked or cloned copy of the process can never find held forever.
pub(crate) struct Lock<T> {
    /// 0 when free, else the process id of the holder.
    owner: AtomicU32,
    value: UnsafeCell<T>,
    /// A fresh value, for a child that inherits the lock held.
    fresh: fn() -> T,
}

// SAFETY: access to `value` is serialised by `owner` (a spin lock).
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// A lock around `value`; `fresh` makes the value a child starts from when it inherited
    /// the lock held.
    pub(crate) const fn new(value: T, fresh: fn() -> T) -> Self {
        Lock {
            owner: AtomicU32::new(0),
            value: UnsafeCell::new(value),
            fresh,
        }
    }

    /// Takes the lock.
    pub(crate) fn lock(&'static self) -> LockGuard<T> {
        let me = this_process();
        let mut spins = 0u32;
        loop {
            match self
                .owner
                .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return LockGuard { lock: self },
                Err(0) => continue,
                Err(holder) if holder != me => {
                    // Held by another process: we are its copy, and its holder does not exist
                    // here. Take over, and start from a fresh value (the copy may be half
                    // changed: forgotten, never dropped, as dropping could walk broken links).
                    if self
                        .owner
                        .compare_exchange(holder, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        // SAFETY: we hold the lock now.
                        let value = unsafe { &mut *self.value.get() };
                        std::mem::forget(std::mem::replace(value, (self.fresh)()));
                        return LockGuard { lock: self };
                    }
                }
                Err(_) => {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
}

/// Holds a [`Lock`]; released when dropped.
pub(crate) struct LockGuard<T: 'static> {
    lock: &'static Lock<T>,
}

impl<T> Deref for LockGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<T> {
    fn drop(&mut self) {
        self.lock.owner.store(0, Ordering::Release);
    }
}

/// This process's id, asked of the kernel (a cached one would be the parent's in a child made
/// by a raw clone).
pub(crate) fn this_process() -> u32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    static CELL: Once<u32> = Once::new();
    static TABLE: Lock<Vec<u32>> = Lock::new(Vec::new(), Vec::new);

    #[test]
    fn once_publishes_one_value_to_racing_threads() {
        let seen: Vec<u32> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8u32)
                .map(|i| s.spawn(move || *CELL.get_or_init(|| i)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(seen.iter().all(|v| *v == seen[0]));
        assert_eq!(CELL.get(), Some(&seen[0]));
    }

    #[test]
    fn a_lock_held_by_another_process_is_taken_over_with_a_fresh_value() {
        TABLE.lock().push(1);
        // What a child finds when its parent's thread held the lock at the copy.
        TABLE.owner.store(this_process() + 1, Ordering::Relaxed);
        assert!(TABLE.lock().is_empty());
        TABLE.lock().push(2);
        assert_eq!(*TABLE.lock(), vec![2]);
    }
}
