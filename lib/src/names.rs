//! This process's name state: the `.onion` stand-in pool and the names the machine answers
//! itself (/etc/hosts loopback entries, the host name).
//!
//! The pool sits behind a lock that no fork or clone can leave held (`forksafe::Lock`); the
//! fork handlers take it across fork(3), so an ordinary child starts with its parent's pool.

use std::net::Ipv4Addr;

use torify_conf::Ipv4Net;
use torify_core::dns::LocalNames;
use torify_core::onion::{NamePool, PoolFull};

use crate::forksafe::{Lock, LockGuard, Once};
use crate::sys;

/// The stand-in pool, made on the first `.onion` lookup.
pub(crate) type Pool = Option<NamePool>;

static POOL: Lock<Pool> = Lock::new(None, || None);

fn lock() -> LockGuard<Pool> {
    POOL.lock()
}

/// Takes the pool for the forking thread (see `forksafe`).
pub(crate) fn lock_for_fork() -> LockGuard<Pool> {
    POOL.lock()
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
    static LOCAL: Once<LocalNames> = Once::new();
    LOCAL.get_or_init(|| {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        LocalNames::new(&hosts, sys::hostname().as_deref())
    })
}
