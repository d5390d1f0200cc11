//! Which descriptors are proxied, and the address the program asked for on each.
//!
//! A table indexed by descriptor number, in chunks allocated on first use. Each slot is a
//! seqlock over atomics: no mutex, so a fork while another thread holds a slot cannot deadlock
//! the child (its readers give up after a bounded spin and see "not proxied"). `close()` of a
//! program that never proxied anything costs one atomic load.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering, fence};

use crate::forksafe::Once;

const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;
/// Descriptors at or above this (1 << 20, Linux's default nr_open) are not tracked.
pub(crate) const MAX_FD: usize = CHUNK * CHUNKS;
const SPINS: u32 = 10_000;

struct Slot {
    seq: AtomicU32,
    words: [AtomicU64; 4],
}

impl Slot {
    const fn new() -> Self {
        Slot {
            seq: AtomicU32::new(0),
            words: [const { AtomicU64::new(0) }; 4],
        }
    }
}

/// Descriptors below this live in static memory (zeroed, untouched until used): no lazy
/// initialization for a fork to catch half done, where programs keep almost all their sockets.
const STATIC_FDS: usize = 64 * CHUNK;
static LOW: [Slot; STATIC_FDS] = [const { Slot::new() }; STATIC_FDS];
/// Higher descriptors, in chunks made on first use.
static TABLE: [Once<Box<[Slot]>>; CHUNKS] = [const { Once::new() }; CHUNKS];
/// How many slots are in use; zero means every lookup can stop here.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// What is kept per proxied descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The destination the program asked for (what getpeername reports).
    pub(crate) peer: SocketAddr,
}

fn encode(e: &Entry) -> [u64; 4] {
    match e.peer {
        SocketAddr::V4(a) => [
            1 | u64::from(a.port()) << 8,
            u64::from(u32::from(*a.ip())),
            0,
            0,
        ],
        SocketAddr::V6(a) => {
            let ip = u128::from(*a.ip());
            [
                2 | u64::from(a.port()) << 8 | u64::from(a.flowinfo()) << 32,
                u64::from(a.scope_id()),
                (ip >> 64) as u64,
                ip as u64,
            ]
        }
    }
}

fn decode(w: [u64; 4]) -> Option<Entry> {
    let port = (w[0] >> 8) as u16;
    let peer = match w[0] & 0xff {
        1 => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(w[1] as u32), port)),
        2 => SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(u128::from(w[2]) << 64 | u128::from(w[3])),
            port,
            (w[0] >> 32) as u32,
            w[1] as u32,
        )),
        _ => return None,
    };
    Some(Entry { peer })
}

fn slot(fd: i32, create: bool) -> Option<&'static Slot> {
    let fd = usize::try_from(fd).ok().filter(|fd| *fd < MAX_FD)?;
    if fd < STATIC_FDS {
        return LOW.get(fd);
    }
    let chunk = TABLE.get(fd / CHUNK)?;
    let slots = if create {
        chunk.get_or_init(|| (0..CHUNK).map(|_| Slot::new()).collect())
    } else {
        chunk.get()?
    };
    slots.get(fd % CHUNK)
}

fn write(slot: &Slot, words: [u64; 4]) {
    let mut seq = slot.seq.load(Ordering::Relaxed);
    let mut spins = 0;
    loop {
        // An odd sequence is a writer at work; after a bounded wait (the writer may have been
        // a thread that no longer exists in this forked child) take the slot anyway.
        if seq % 2 == 1 && spins < SPINS {
            spins += 1;
            std::hint::spin_loop();
            seq = slot.seq.load(Ordering::Relaxed);
            continue;
        }
        let locked = seq | 1;
        match slot
            .seq
            .compare_exchange_weak(seq, locked, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(now) => seq = now,
        }
    }
    let was_used = slot.words[0].load(Ordering::Relaxed) != 0;
    for (w, v) in slot.words.iter().zip(words) {
        w.store(v, Ordering::Relaxed);
    }
    let used = words[0] != 0;
    match (was_used, used) {
        (false, true) => {
            LIVE.fetch_add(1, Ordering::Relaxed);
        }
        (true, false) => {
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
        _ => {}
    }
    slot.seq.store((seq | 1).wrapping_add(1), Ordering::Release);
}

/// Records that `fd` is proxied.
pub(crate) fn insert(fd: i32, entry: Entry) {
    crate::fdstate::recording();
    if let Some(s) = slot(fd, true) {
        write(s, encode(&entry));
    }
}

/// Forgets `fd` (closed, or its number reused). Cheap when nothing is proxied.
pub(crate) fn remove(fd: i32) {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    if let Some(s) = slot(fd, false)
        && s.words[0].load(Ordering::Relaxed) != 0
    {
        write(s, [0; 4]);
    }
}

/// What is recorded for `fd`, if anything.
pub(crate) fn get(fd: i32) -> Option<Entry> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let s = slot(fd, false)?;
    for _ in 0..SPINS {
        let before = s.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let words = [0, 1, 2, 3].map(|i| s.words[i].load(Ordering::Relaxed));
        fence(Ordering::Acquire);
        if s.seq.load(Ordering::Relaxed) == before {
            return decode(words);
        }
    }
    None
}

/// Copies `from`'s entry to `to` (dup, dup2, dup3, F_DUPFD), or clears `to`.
pub(crate) fn copy(from: i32, to: i32) {
    match get(from) {
        Some(e) => insert(to, e),
        None => remove(to),
    }
}

/// Forgets every descriptor from `first` to `last` (close_range, closefrom).
pub(crate) fn remove_range(first: u32, last: u32) {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return;
    }
    let last = (last as usize).min(MAX_FD - 1);
    let mut fd = first as usize;
    while fd <= last {
        if fd >= STATIC_FDS && TABLE.get(fd / CHUNK).is_some_and(|c| c.get().is_none()) {
            // A chunk never used holds nothing: skip it whole.
            fd = (fd / CHUNK + 1) * CHUNK;
            continue;
        }
        remove(fd as i32);
        fd += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(s: &str) -> Entry {
        Entry {
            peer: s.parse().unwrap(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        for a in [
            "198.51.100.7:80",
            "[2001:db8::7]:443",
            "[fe80::1%9]:22",
            "0.0.0.1:1",
        ] {
            assert_eq!(decode(encode(&entry(a))), Some(entry(a)));
        }
        assert_eq!(decode([0; 4]), None);
    }

    #[test]
    fn insert_get_remove() {
        let fd = 70_001;
        assert_eq!(get(fd), None);
        insert(fd, entry("198.51.100.7:80"));
        assert_eq!(get(fd), Some(entry("198.51.100.7:80")));
        copy(fd, fd + 1);
        assert_eq!(get(fd + 1), Some(entry("198.51.100.7:80")));
        remove_range(fd as u32, fd as u32 + 5);
        assert_eq!(get(fd), None);
        assert_eq!(get(fd + 1), None);
        copy(fd, fd + 1);
        assert_eq!(get(fd + 1), None);
        // Out-of-range descriptors are simply not tracked.
        insert(-1, entry("1.2.3.4:5"));
        insert(MAX_FD as i32, entry("1.2.3.4:5"));
        assert_eq!(get(MAX_FD as i32), None);
    }

    #[test]
    fn concurrent_writers_and_readers_never_see_torn_entries() {
        let fd = 80_123;
        let a = entry("[2001:db8::1]:1111");
        let b = entry("198.51.100.2:2222");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = [a, b]
            .into_iter()
            .map(|e| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        insert(fd, e);
                    }
                })
            })
            .collect();
        for _ in 0..200_000 {
            if let Some(seen) = get(fd) {
                assert!(seen == a || seen == b, "torn entry {seen:?}");
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        remove(fd);
    }
}
