//! This process's name state: the stand-in pools (onion names, and names resolved at the
//! exit) and the names the machine answers itself (/etc/hosts loopback entries, the host
//! name).
//!
//! The pools write into the session's table (`names_table`), shared by every process of the
//! torify session, and fall back to this process's own slots when the table cannot be had
//! (what a child then connects to by an address its parent looked up is refused, never
//! guessed). The pools sit behind a lock that no fork or clone can leave held
//! (`forksafe::Lock`); the fork handlers take it across fork(3).

use std::net::Ipv4Addr;

use torify_conf::Settings;
use torify_core::dns::LocalNames;
use torify_core::pool::{NamePool, Pool, PoolError};

use crate::forksafe::{Lock, LockGuard, Once};
use crate::names_table::SharedSlots;
use crate::{log, sys};

/// The pools, each made on its first use.
#[derive(Default)]
pub(crate) struct Pools {
    onion: Option<NamePool>,
    exit: Option<NamePool>,
}

static POOLS: Lock<Pools> = Lock::new(
    Pools {
        onion: None,
        exit: None,
    },
    Pools::default,
);

/// Takes the pools for the forking thread (see `forksafe`).
pub(crate) fn lock_for_fork() -> LockGuard<Pools> {
    POOLS.lock()
}

/// `pool` under `settings`, made on first use; `None` for the exit pool with
/// `dns.mode = resolve`.
fn with_pool<R>(
    settings: &Settings,
    pool: Pool,
    work: impl FnOnce(&mut NamePool) -> R,
) -> Option<R> {
    let range = pool.range(settings)?;
    let mut pools = POOLS.lock();
    let slot = match pool {
        Pool::Onion => &mut pools.onion,
        Pool::Exit => &mut pools.exit,
    };
    let made = slot.get_or_insert_with(|| match SharedSlots::of(pool) {
        Some(shared) => NamePool::new(range, pool.setting(), Box::new(shared)),
        None => {
            log::debug!(
                "no session table of names: {} names looked up here stay in this process",
                pool.setting()
            );
            NamePool::local(range, pool.setting())
        }
    });
    Some(work(made))
}

/// The stand-in address of `pool` for `name` (the same one on every lookup in the session).
pub(crate) fn assign(settings: &Settings, pool: Pool, name: &str) -> Result<Ipv4Addr, PoolError> {
    with_pool(settings, pool, |p| p.assign(name)).unwrap_or_else(|| {
        Err(PoolError::Full {
            range: settings.exit_range,
            capacity: 0,
            setting: pool.setting(),
        })
    })
}

/// The name a stand-in address of `pool` was handed out for, here or in another process of
/// the session.
pub(crate) fn name_of(settings: &Settings, pool: Pool, ip: Ipv4Addr) -> Option<String> {
    with_pool(settings, pool, |p| p.name_of(ip).map(str::to_owned)).flatten()
}

/// The names this machine answers itself, read once.
pub(crate) fn local() -> &'static LocalNames {
    static LOCAL: Once<LocalNames> = Once::new();
    LOCAL.get_or_init(|| {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        LocalNames::new(&hosts, sys::hostname().as_deref())
    })
}
