//! This process's name state: the `.onion` stand-in pool and the names the machine answers
//! itself (/etc/hosts loopback entries, the host name).
//!
//! The pool sits behind a const-initialized mutex that fork cannot leave locked: a
//! pthread_atfork handler takes it before fork and releases it in parent and child, so a child
//! always starts with a consistent, unlocked pool (the technique glibc uses for malloc).

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use torify_conf::Ipv4Net;
use torify_core::dns::LocalNames;
use torify_core::onion::{NamePool, PoolFull};

use crate::sys;

static POOL: Mutex<Option<NamePool>> = Mutex::new(None);

thread_local! {
    /// The pool lock held across fork by the forking thread.
    static HELD: RefCell<Option<MutexGuard<'static, Option<NamePool>>>> = const { RefCell::new(None) };
}

fn lock() -> MutexGuard<'static, Option<NamePool>> {
    POOL.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes the pool for the forking thread (see `forksafe`).
pub(crate) fn before_fork() {
    let guard = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = HELD.try_with(|h| *h.borrow_mut() = Some(guard));
}

/// Gives the pool back, in parent and child.
pub(crate) fn after_fork() {
    let _ = HELD.try_with(|h| drop(h.borrow_mut().take()));
}

/// The stand-in address for an onion `name` (the same one on every lookup).
pub(crate) fn assign(range: Ipv4Net, name: &str) -> Result<Ipv4Addr, PoolFull> {
    lock()
        .get_or_insert_with(|| NamePool::new(range))
        .assign(name)
}

/// The onion name a stand-in address was handed out for.
pub(crate) fn name_of(range: Ipv4Net, ip: Ipv4Addr) -> Option<String> {
    if !range.contains(ip) {
        return None;
    }
    lock().as_ref()?.name_of(ip).map(str::to_owned)
}

/// The names this machine answers itself, read once.
pub(crate) fn local() -> &'static LocalNames {
    static LOCAL: OnceLock<LocalNames> = OnceLock::new();
    crate::forksafe::once(&LOCAL, || {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        LocalNames::new(&hosts, sys::hostname().as_deref())
    })
}
