//! Pools of stand-in addresses: a program that looks up a name Tor must resolve (an onion
//! name always; any name with `dns.mode = exit`) gets an address from a configured block at
//! once, and connecting to that address sends the *name* in the SOCKS CONNECT. Tor's own
//! AutomapHostsOnResolve does the same with VirtualAddrNetworkIPv4.
//!
//! A pool's names live in [`Slots`]: slot `i` holds the name of the block's `i`-th usable
//! address. The slots are either this process's own ([`LocalSlots`]) or a table every process
//! of a torify session shares (the library maps one), so that a child connecting to an
//! address its parent looked up — across fork and exec — reaches the same name.
//!
//! The sharing protocol needs no lock: a writer reserves a slot by bumping a counter, writes
//! the name, then publishes its length. Two processes adding the same name at once get two
//! slots for it, which is harmless (both addresses lead to the name). A slot is never reused
//! for another name: a program may still hold the address, and must never reach another
//! service through it.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use torify_conf::{DnsMode, Ipv4Net, Settings};

/// The two pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pool {
    /// `.onion` names (dns.onion_range).
    Onion,
    /// Names resolved at the exit (dns.exit_range, with `dns.mode = exit`).
    Exit,
}

impl Pool {
    /// Both pools.
    pub const ALL: [Pool; 2] = [Pool::Onion, Pool::Exit];

    /// The setting naming the pool's block.
    pub fn setting(self) -> &'static str {
        match self {
            Pool::Onion => "dns.onion_range",
            Pool::Exit => "dns.exit_range",
        }
    }

    /// The pool's block under `s`; the exit pool has none with `dns.mode = resolve`.
    pub fn range(self, s: &Settings) -> Option<Ipv4Net> {
        match self {
            Pool::Onion => Some(s.onion_range),
            Pool::Exit => (s.dns_mode == DnsMode::Exit).then_some(s.exit_range),
        }
    }

    /// The pool whose block holds `ip` under `s`.
    pub fn of(ip: Ipv4Addr, s: &Settings) -> Option<Pool> {
        Pool::ALL
            .into_iter()
            .find(|p| p.range(s).is_some_and(|r| r.contains(ip)))
    }
}

/// The longest name a slot holds: a DNS name's 253 characters and a root dot.
pub const MAX_NAME: usize = 254;

/// Where a pool's names are written.
pub trait Slots {
    /// How many slots there are.
    fn capacity(&self) -> u64;
    /// How many slots are reserved (published or being written).
    fn reserved(&self) -> u64;
    /// Reserves the next slot; `None` when every slot is taken.
    fn reserve(&mut self) -> Option<u64>;
    /// Writes `name` (at most [`MAX_NAME`] bytes) into the reserved slot `i` and publishes it.
    fn publish(&mut self, i: u64, name: &[u8]);
    /// The name in slot `i` once published.
    fn read(&self, i: u64) -> Option<Vec<u8>>;
}

/// Slots of this process only: what a pool uses when no session table can be had.
#[derive(Debug, Default)]
pub struct LocalSlots {
    names: Vec<Option<Vec<u8>>>,
    capacity: u64,
}

impl LocalSlots {
    /// Room for `capacity` names.
    pub fn new(capacity: u64) -> Self {
        LocalSlots {
            names: Vec::new(),
            capacity,
        }
    }
}

impl Slots for LocalSlots {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn reserved(&self) -> u64 {
        self.names.len() as u64
    }

    fn reserve(&mut self) -> Option<u64> {
        let i = self.names.len() as u64;
        (i < self.capacity).then(|| {
            self.names.push(None);
            i
        })
    }

    fn publish(&mut self, i: u64, name: &[u8]) {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| self.names.get_mut(i)) {
            *slot = Some(name.to_vec());
        }
    }

    fn read(&self, i: u64) -> Option<Vec<u8>> {
        self.names.get(usize::try_from(i).ok()?)?.clone()
    }
}

/// Why a pool has no address for a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// Every stand-in address is taken.
    Full {
        /// The block.
        range: Ipv4Net,
        /// How many names it holds.
        capacity: u64,
        /// The setting that names the block (empty for a fixed one).
        setting: &'static str,
    },
    /// The name is longer than a DNS name can be.
    TooLong(usize),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Full {
                range,
                capacity,
                setting,
            } => {
                write!(
                    f,
                    "every stand-in address of {range} ({capacity} names) is taken"
                )?;
                if setting.is_empty() {
                    Ok(())
                } else {
                    write!(f, "; give {setting} a larger block")
                }
            }
            PoolError::TooLong(n) => {
                write!(f, "a name of {n} characters, longer than DNS allows")
            }
        }
    }
}

/// Names and the stand-in addresses handed out for them, over some [`Slots`].
pub struct NamePool {
    range: Ipv4Net,
    setting: &'static str,
    /// The block's offset of slot 0.
    first: u64,
    capacity: u64,
    by_name: HashMap<String, u64>,
    by_slot: HashMap<u64, String>,
    /// Slots below this one are known here (published and read).
    seen: u64,
    slots: Box<dyn Slots + Send>,
}

impl fmt::Debug for NamePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamePool")
            .field("range", &self.range)
            .field("known", &self.by_slot.len())
            .finish_non_exhaustive()
    }
}

impl NamePool {
    /// A pool over `range` (named by the setting `setting` in errors), writing into `slots`.
    /// In blocks of four or more addresses the first and last are not handed out (programs
    /// treat network and broadcast addresses specially).
    pub fn new(range: Ipv4Net, setting: &'static str, slots: Box<dyn Slots + Send>) -> Self {
        let (first, usable) = if range.len() >= 4 {
            (1, range.len() - 2)
        } else {
            (0, range.len())
        };
        NamePool {
            range,
            setting,
            first,
            capacity: usable.min(slots.capacity()),
            by_name: HashMap::new(),
            by_slot: HashMap::new(),
            seen: 0,
            slots,
        }
    }

    /// A pool of this process only.
    pub fn local(range: Ipv4Net, setting: &'static str) -> Self {
        let usable = range.len();
        Self::new(range, setting, Box::new(LocalSlots::new(usable)))
    }

    /// The block.
    pub fn range(&self) -> Ipv4Net {
        self.range
    }

    /// How many names fit.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn learn(&mut self, slot: u64, name: String) {
        self.by_name.entry(name.clone()).or_insert(slot);
        self.by_slot.insert(slot, name);
    }

    /// Reads what other processes published since the last look.
    fn catch_up(&mut self) {
        let reserved = self.slots.reserved().min(self.capacity);
        let mut first_unread = None;
        for slot in self.seen..reserved {
            if self.by_slot.contains_key(&slot) {
                continue;
            }
            match self
                .slots
                .read(slot)
                .and_then(|n| String::from_utf8(n).ok())
            {
                Some(name) => self.learn(slot, name),
                None => {
                    first_unread.get_or_insert(slot);
                }
            }
        }
        self.seen = first_unread.unwrap_or(reserved);
    }

    fn address(&self, slot: u64) -> Option<Ipv4Addr> {
        self.range.nth(self.first + slot)
    }

    fn full(&self) -> PoolError {
        PoolError::Full {
            range: self.range,
            capacity: self.capacity,
            setting: self.setting,
        }
    }

    /// The address for `name`: the one it already has (here or in another process of the
    /// session), or the next free one.
    pub fn assign(&mut self, name: &str) -> Result<Ipv4Addr, PoolError> {
        if name.len() > MAX_NAME {
            return Err(PoolError::TooLong(name.len()));
        }
        if !self.by_name.contains_key(name) {
            self.catch_up();
        }
        let slot = match self.by_name.get(name) {
            Some(slot) => *slot,
            None => {
                let slot = self
                    .slots
                    .reserve()
                    .filter(|s| *s < self.capacity)
                    .ok_or_else(|| self.full())?;
                self.slots.publish(slot, name.as_bytes());
                self.learn(slot, name.to_owned());
                slot
            }
        };
        self.address(slot).ok_or_else(|| self.full())
    }

    /// The name an address was handed out for, by this process or another of the session.
    pub fn name_of(&mut self, ip: Ipv4Addr) -> Option<&str> {
        let slot = self.range.index_of(ip)?.checked_sub(self.first)?;
        if slot >= self.capacity {
            return None;
        }
        if !self.by_slot.contains_key(&slot) {
            let name = String::from_utf8(self.slots.read(slot)?).ok()?;
            self.learn(slot, name);
        }
        self.by_slot.get(&slot).map(String::as_str)
    }
}

/// The session's table of names: one memory file (memfd) that the launcher, or the first
/// process needing it, makes and every process of the session inherits (its descriptor and
/// [`table::VARIABLE`]). Each pool has a region: a header with the reservation counter, then
/// [`table::SLOTS`] slots of [`table::SLOT`] bytes (a length byte, 0 until published, and the
/// name).
pub mod table {
    use super::Pool;

    /// The variable naming the table: `<fd>:<dev>:<ino>`, so that a descriptor the program
    /// closed and reused for another file is never taken for the table.
    pub const VARIABLE: &str = "TORIFY_NAMES";
    /// The lowest descriptor number the table takes, out of the way of the small numbers
    /// programs expect to get.
    pub const LOWEST_FD: i32 = 100;
    /// The name the memory file shows in /proc/PID/fd.
    pub const MEMFD_NAME: &str = "torify-names";
    /// Bytes of one slot, and of a region's header.
    pub const SLOT: usize = 256;
    /// Slots per pool: the session holds this many names of each pool.
    pub const SLOTS: u64 = 65_535;
    /// Bytes of one pool's region.
    pub const REGION: usize = SLOT * (1 + SLOTS as usize);
    /// Bytes of the whole table (sparse: only written pages take memory).
    pub const BYTES: usize = REGION * Pool::ALL.len();
    /// What the header of every region starts with after the counter (offset 8), so that a
    /// table of another version is not misread.
    pub const MAGIC: &[u8; 8] = b"torifyN1";

    /// The offset of `pool`'s region.
    pub fn region(pool: Pool) -> usize {
        match pool {
            Pool::Onion => 0,
            Pool::Exit => REGION,
        }
    }

    /// The offset of [`MAGIC`] in `pool`'s region's header (after the 8-byte counter).
    pub fn magic_at(pool: Pool) -> usize {
        region(pool) + 8
    }

    /// The value of [`VARIABLE`].
    pub fn variable(fd: i32, dev: u64, ino: u64) -> String {
        format!("{fd}:{dev}:{ino}")
    }

    /// Reads a value of [`VARIABLE`]: (fd, dev, ino).
    pub fn parse_variable(value: &str) -> Option<(i32, u64, u64)> {
        let mut parts = value.split(':');
        let fd = parts.next()?.parse().ok().filter(|fd| *fd >= 0)?;
        let dev = parts.next()?.parse().ok()?;
        let ino = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((fd, dev, ino))
    }
}

/// A name as the pools keep it: lowercase, without the root dot (DNS names are
/// case-insensitive, and `example.com.` is `example.com`).
pub fn normalize(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn pool_reuses_names_and_fills_up() {
        let mut pool = NamePool::local(net("127.42.42.0/30"), "dns.onion_range");
        assert_eq!(pool.capacity(), 2);
        let a = pool.assign("a.onion").unwrap();
        let b = pool.assign("b.onion").unwrap();
        assert_eq!(a, Ipv4Addr::new(127, 42, 42, 1));
        assert_eq!(b, Ipv4Addr::new(127, 42, 42, 2));
        assert_eq!(pool.assign("a.onion"), Ok(a));
        let full = pool.assign("c.onion").unwrap_err();
        assert_eq!(
            full.to_string(),
            "every stand-in address of 127.42.42.0/30 (2 names) is taken; give dns.onion_range a larger block"
        );
        assert_eq!(pool.name_of(a), Some("a.onion"));
        assert_eq!(pool.name_of(Ipv4Addr::new(127, 42, 42, 3)), None);
        assert_eq!(pool.name_of(Ipv4Addr::new(127, 42, 42, 0)), None);
        assert_eq!(pool.name_of(Ipv4Addr::new(10, 0, 0, 1)), None);
    }

    #[test]
    fn default_pools_hold_their_blocks() {
        let mut pool = NamePool::local(net("127.42.42.0/24"), "dns.onion_range");
        for i in 0..254 {
            let ip = pool.assign(&format!("n{i}.onion")).unwrap();
            assert!(ip.octets()[3] >= 1 && ip.octets()[3] <= 254);
        }
        assert!(pool.assign("one-more.onion").is_err());
        let single = NamePool::local(net("127.42.42.7/32"), "dns.onion_range");
        assert_eq!(single.capacity(), 1);
        let exit = NamePool::local(net("127.192.0.0/10"), "dns.exit_range");
        assert_eq!(exit.capacity(), (1 << 22) - 2);
    }

    #[test]
    fn long_names_are_refused() {
        let mut pool = NamePool::local(net("127.192.0.0/10"), "dns.exit_range");
        let long = "a".repeat(MAX_NAME + 1);
        assert_eq!(pool.assign(&long), Err(PoolError::TooLong(MAX_NAME + 1)));
        assert!(pool.assign(&"b".repeat(MAX_NAME)).is_ok());
    }

    /// Slots shared by several pools, as the session table is shared by processes; a slot
    /// can be reserved and not yet published, as while another process writes it.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<Option<Vec<u8>>>>>, u64);

    impl Slots for Shared {
        fn capacity(&self) -> u64 {
            self.1
        }
        fn reserved(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn reserve(&mut self) -> Option<u64> {
            let mut v = self.0.lock().unwrap();
            let i = v.len() as u64;
            (i < self.1).then(|| {
                v.push(None);
                i
            })
        }
        fn publish(&mut self, i: u64, name: &[u8]) {
            self.0.lock().unwrap()[i as usize] = Some(name.to_vec());
        }
        fn read(&self, i: u64) -> Option<Vec<u8>> {
            self.0.lock().unwrap().get(i as usize)?.clone()
        }
    }

    #[test]
    fn processes_sharing_slots_agree_on_names() {
        let slots = Shared(Arc::default(), 100);
        let range = net("127.192.0.0/10");
        let mut parent = NamePool::new(range, "dns.exit_range", Box::new(slots.clone()));
        let mut child = NamePool::new(range, "dns.exit_range", Box::new(slots.clone()));
        let web = parent.assign("web.test").unwrap();
        assert_eq!(web, Ipv4Addr::new(127, 192, 0, 1));
        // The child never looked the name up: it learns it from the table.
        assert_eq!(child.name_of(web), Some("web.test"));
        // And looking it up gives the same address, not a second one.
        assert_eq!(child.assign("web.test"), Ok(web));
        let other = child.assign("other.test").unwrap();
        assert_eq!(parent.assign("other.test"), Ok(other));
        assert_eq!(slots.reserved(), 2);
    }

    #[test]
    fn a_slot_being_written_is_read_later() {
        let mut slots = Shared(Arc::default(), 100);
        let range = net("127.192.0.0/10");
        let mut pool = NamePool::new(range, "dns.exit_range", Box::new(slots.clone()));
        // Another process reserved slot 0 and has not published it yet.
        let busy = slots.reserve().unwrap();
        let a = pool.assign("a.test").unwrap();
        assert_eq!(a, Ipv4Addr::new(127, 192, 0, 2));
        assert_eq!(pool.name_of(Ipv4Addr::new(127, 192, 0, 1)), None);
        slots.publish(busy, b"b.test");
        assert_eq!(pool.assign("b.test"), Ok(Ipv4Addr::new(127, 192, 0, 1)));
        assert_eq!(pool.name_of(Ipv4Addr::new(127, 192, 0, 1)), Some("b.test"));
    }

    #[test]
    fn the_table_caps_a_large_block() {
        let slots = Shared(Arc::default(), 3);
        let mut pool = NamePool::new(net("127.192.0.0/10"), "dns.exit_range", Box::new(slots));
        assert_eq!(pool.capacity(), 3);
        for n in ["a", "b", "c"] {
            pool.assign(n).unwrap();
        }
        assert!(matches!(
            pool.assign("d"),
            Err(PoolError::Full { capacity: 3, .. })
        ));
    }

    #[test]
    fn addresses_belong_to_the_pools_the_settings_have() {
        let mut s = Settings::default();
        let at = |s: &Settings, a: &str| Pool::of(a.parse().unwrap(), s);
        assert_eq!(at(&s, "127.42.42.9"), Some(Pool::Onion));
        assert_eq!(at(&s, "127.192.0.1"), Some(Pool::Exit));
        assert_eq!(at(&s, "127.255.255.254"), Some(Pool::Exit));
        assert_eq!(at(&s, "127.0.0.1"), None);
        s.dns_mode = DnsMode::Resolve;
        assert_eq!(at(&s, "127.192.0.1"), None);
        assert_eq!(at(&s, "127.42.42.9"), Some(Pool::Onion));
    }

    #[test]
    fn the_table_variable_reads_back() {
        assert_eq!(
            table::parse_variable(&table::variable(7, 12, 345)),
            Some((7, 12, 345))
        );
        for bad in ["", "7", "7:1", "-1:1:2", "7:1:2:3", "x:1:2", "7:1:y"] {
            assert_eq!(table::parse_variable(bad), None, "{bad:?}");
        }
        assert_eq!(table::BYTES, 2 * 256 * 65_536);
        assert_eq!(table::region(Pool::Exit), table::REGION);
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize("WWW.Example.COM."), "www.example.com");
        assert_eq!(normalize("a.b"), "a.b");
    }
}
