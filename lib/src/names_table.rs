//! The session's table of names (`torify_core::pool::table`), mapped into this process.
//!
//! A memory file inherited across fork and exec, and mapped shared: a child that connects to a
//! stand-in address its parent looked up finds the name here. The mapping, once made, outlives
//! the descriptor, so a program that closes every descriptor (closefrom) cannot pull the table
//! from under a lookup, nor make us write into a file it opened on the same number.

use std::ffi::CString;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use torify_core::pool::{MAX_NAME, Pool, Slots, table};

use crate::environ;
use crate::forksafe::Once;
use crate::log;

/// The mapped table: its bytes, viewed as atomics because other processes write them.
struct Mapped {
    bytes: &'static [AtomicU8],
    /// One reservation counter per pool (the first 8 bytes of its region).
    counters: [&'static AtomicU64; 2],
}

/// The table and, when this process made it, `TORIFY_NAMES=…` for its children.
struct Table {
    mapped: Mapped,
    made_here: Option<CString>,
}

static TABLE: Once<Option<Table>> = Once::new();

fn table() -> Option<&'static Table> {
    TABLE.get_or_init(open_or_make).as_ref()
}

/// `TORIFY_NAMES=…` for children, when this process made the table (not inherited one).
pub(crate) fn local_entry() -> Option<&'static std::ffi::CStr> {
    TABLE.get()?.as_ref()?.made_here.as_deref()
}

/// True when `entry` (NAME=value) is an inherited table variable that this process replaced
/// with its own.
pub(crate) fn replaced(entry: &[u8]) -> bool {
    local_entry().is_some()
        && entry.starts_with(table::VARIABLE.as_bytes())
        && entry.get(table::VARIABLE.len()) == Some(&b'=')
}

fn open_or_make() -> Option<Table> {
    if let Some(value) = environ::initial_var(table::VARIABLE) {
        match inherited(&value) {
            Some(mapped) => {
                return Some(Table {
                    mapped,
                    made_here: None,
                });
            }
            None => log::debug!(
                "the session's names table ({}={value}) is no longer open here; this process starts its own",
                table::VARIABLE
            ),
        }
    }
    let (fd, dev, ino) = make()?;
    let mapped = map(fd)?;
    for pool in Pool::ALL {
        write_magic(&mapped, pool);
    }
    let made_here = CString::new(format!(
        "{}={}",
        table::VARIABLE,
        table::variable(fd, dev, ino)
    ))
    .ok();
    Some(Table { mapped, made_here })
}

fn identity(fd: i32) -> Option<(u64, u64, i64)> {
    // SAFETY: st is plain data, filled by fstat on success.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into st.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return None;
    }
    Some((st.st_dev, st.st_ino, st.st_size))
}

/// The inherited table, when `fd` is still the memory file the variable names.
fn inherited(value: &str) -> Option<Mapped> {
    let (fd, dev, ino) = table::parse_variable(value)?;
    let (d, i, size) = identity(fd)?;
    if (d, i) != (dev, ino) || usize::try_from(size).ok()? != table::BYTES {
        return None;
    }
    let mapped = map(fd)?;
    Pool::ALL
        .into_iter()
        .all(|pool| has_magic(&mapped, pool))
        .then_some(mapped)
}

/// A new table: a memory file children inherit (no close-on-exec).
fn make() -> Option<(i32, u64, u64)> {
    let name = CString::new(table::MEMFD_NAME).ok()?;
    // SAFETY: name is NUL-terminated; memfd_create has no other inputs.
    let made = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    if made < 0 {
        return None;
    }
    // Not close-on-exec: children need it.
    let fd = crate::sys::dup_from(made, table::LOWEST_FD);
    crate::sys::close(made);
    let fd = fd.ok()?;
    // SAFETY: fd is the memory file just made.
    if unsafe { libc::ftruncate(fd, table::BYTES as libc::off_t) } != 0 {
        crate::sys::close(fd);
        return None;
    }
    match identity(fd) {
        Some((dev, ino, _)) => Some((fd, dev, ino)),
        None => {
            crate::sys::close(fd);
            None
        }
    }
}

fn map(fd: i32) -> Option<Mapped> {
    // SAFETY: a fresh shared mapping of the whole file; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            table::BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: the mapping is table::BYTES long, never unmapped (it lives as long as the
    // process), and AtomicU8 has the layout of u8. Other processes write it only through
    // atomics too.
    let bytes: &'static [AtomicU8] =
        unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU8>(), table::BYTES) };
    let counter = |pool| {
        let at = table::region(pool);
        // SAFETY: the mapping is page-aligned and every region starts at a multiple of 256,
        // so the counter is aligned for AtomicU64; its 8 bytes are not part of any slot, and
        // nothing reads them as AtomicU8 (the magic starts at offset 8).
        unsafe { &*ptr.cast::<u8>().add(at).cast::<AtomicU64>() }
    };
    Some(Mapped {
        bytes,
        counters: [counter(Pool::Onion), counter(Pool::Exit)],
    })
}

fn magic_bytes(mapped: &Mapped, pool: Pool) -> &'static [AtomicU8] {
    let at = table::magic_at(pool);
    &mapped.bytes[at..at + table::MAGIC.len()]
}

fn write_magic(mapped: &Mapped, pool: Pool) {
    for (cell, b) in magic_bytes(mapped, pool).iter().zip(table::MAGIC) {
        cell.store(*b, Ordering::Relaxed);
    }
}

fn has_magic(mapped: &Mapped, pool: Pool) -> bool {
    magic_bytes(mapped, pool)
        .iter()
        .zip(table::MAGIC)
        .all(|(cell, b)| cell.load(Ordering::Relaxed) == *b)
}

/// One pool's slots in the session table.
pub(crate) struct SharedSlots {
    slots: &'static [AtomicU8],
    counter: &'static AtomicU64,
}

impl SharedSlots {
    /// `pool`'s slots, when the session table can be had.
    pub(crate) fn of(pool: Pool) -> Option<SharedSlots> {
        let mapped = &table()?.mapped;
        let at = table::region(pool) + table::SLOT;
        Some(SharedSlots {
            slots: &mapped.bytes[at..table::region(pool) + table::REGION],
            counter: mapped.counters[pool as usize],
        })
    }

    fn slot(&self, i: u64) -> Option<&'static [AtomicU8]> {
        let start = usize::try_from(i).ok()?.checked_mul(table::SLOT)?;
        self.slots.get(start..start + table::SLOT)
    }
}

impl Slots for SharedSlots {
    fn capacity(&self) -> u64 {
        table::SLOTS
    }

    fn reserved(&self) -> u64 {
        self.counter.load(Ordering::Acquire).min(table::SLOTS)
    }

    fn reserve(&mut self) -> Option<u64> {
        let i = self.counter.fetch_add(1, Ordering::AcqRel);
        (i < table::SLOTS).then_some(i)
    }

    fn publish(&mut self, i: u64, name: &[u8]) {
        let Some(slot) = self.slot(i) else { return };
        let name = &name[..name.len().min(MAX_NAME)];
        for (cell, b) in slot[1..].iter().zip(name) {
            cell.store(*b, Ordering::Relaxed);
        }
        // The length last: a reader that sees it sees the name (Release/Acquire).
        slot[0].store(name.len() as u8, Ordering::Release);
    }

    fn read(&self, i: u64) -> Option<Vec<u8>> {
        let slot = self.slot(i)?;
        let len = usize::from(slot[0].load(Ordering::Acquire));
        (len > 0).then(|| {
            slot[1..=len]
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect()
        })
    }
}
