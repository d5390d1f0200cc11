//! gethostid(3): glibc answers from /etc/hostid, and otherwise resolves the machine's own host
//! name through the resolver — a DNS query for this machine's name, sent around Tor (coreutils
//! `hostid` does it). Answered here without asking anyone: /etc/hostid, else the address
//! /etc/hosts gives the name, as glibc derives it, else 0 (glibc's answer when the name does
//! not resolve).

use std::net::Ipv4Addr;

use libc::c_long;

use crate::{guard, log, sys};

/// glibc's id from an IPv4 address: the address with its 16-bit halves swapped.
fn id_of(addr: Ipv4Addr) -> c_long {
    let raw = u32::from_ne_bytes(addr.octets());
    c_long::from(raw.rotate_left(16) as i32)
}

/// The first IPv4 address /etc/hosts gives `name`.
fn hosts_address(hosts: &str, name: &str) -> Option<Ipv4Addr> {
    hosts.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let addr: Ipv4Addr = fields.next()?.parse().ok()?;
        fields
            .any(|alias| alias.eq_ignore_ascii_case(name))
            .then_some(addr)
    })
}

fn answer() -> c_long {
    if let Ok(bytes) = std::fs::read("/etc/hostid")
        && let Some(id) = bytes.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok())
    {
        return c_long::from(i32::from_ne_bytes(id));
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    match sys::hostname().and_then(|name| hosts_address(&hosts, &name)) {
        Some(addr) => id_of(addr),
        None => {
            log::debug!(
                "gethostid(): no /etc/hostid and the host name is not in /etc/hosts; answering 0 rather than asking DNS"
            );
            0
        }
    }
}

/// gethostid(3).
///
/// # Safety
/// C contract (no arguments).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gethostid() -> c_long {
    crate::libc_sym::pass_if_exempt!(gethostid() as fn() -> c_long, or 0);
    guard::catch("gethostid", || 0, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_glibc_derives_them() {
        // 127.0.1.1 in memory is 7f 00 01 01; glibc swaps the halves of that word.
        let raw = u32::from_ne_bytes([127, 0, 1, 1]);
        assert_eq!(
            id_of(Ipv4Addr::new(127, 0, 1, 1)),
            c_long::from(raw.rotate_right(16) as i32)
        );
    }

    #[test]
    fn the_name_is_looked_up_in_hosts_only() {
        let hosts = "127.0.0.1 localhost\n# 10.0.0.9 box\n127.0.1.1\tbox.example box\n::1 box\n";
        assert_eq!(
            hosts_address(hosts, "box"),
            Some(Ipv4Addr::new(127, 0, 1, 1))
        );
        assert_eq!(
            hosts_address(hosts, "BOX.example"),
            Some(Ipv4Addr::new(127, 0, 1, 1))
        );
        assert_eq!(hosts_address(hosts, "other"), None);
    }
}
