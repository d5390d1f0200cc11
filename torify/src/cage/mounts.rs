//! The cage's view of the file system: its own mount tree, a /proc of its PID namespace,
//! /etc/resolv.conf naming the cage's resolver, and the local sockets through which a caged
//! program could have another process resolve or connect for it hidden:
//!
//! - `/run/nscd` (nscd answers host lookups from outside the cage);
//! - `/run/systemd/resolve` (systemd-resolved's varlink API and its stub resolv.conf);
//! - `/run/dbus/system_bus_socket` (resolved's and NetworkManager's D-Bus APIs, avahi);
//! - `/run/avahi-daemon` (mDNS lookups through nss-mdns);
//! - `/var/lib/sss/pipes` (sssd, which resolves and connects for LDAP and Kerberos);
//! - `/run/tor` (a tor daemon's control port: a caged program must not reconfigure Tor).
//!
//! Directories are covered with an empty tmpfs, socket files with /dev/null.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, MountPropagationFlags, mount, mount_bind, mount_change};

/// Directories hidden behind an empty tmpfs.
const HIDDEN_DIRS: [&str; 5] = [
    "/run/nscd",
    "/run/systemd/resolve",
    "/run/avahi-daemon",
    "/var/lib/sss/pipes",
    "/run/tor",
];
/// Sockets hidden behind /dev/null.
const HIDDEN_SOCKETS: [&str; 1] = ["/run/dbus/system_bus_socket"];

/// A mount's error, naming its target.
fn at(target: &Path) -> impl FnOnce(rustix::io::Errno) -> io::Error + '_ {
    move |e| {
        let e = io::Error::from(e);
        io::Error::new(e.kind(), format!("mount {}: {e}", target.display()))
    }
}

/// Where /etc/resolv.conf really is (it is often a symlink into /run), once the hidden
/// directories are covered: created empty when it is inside one of them, so it can be bound.
fn resolv_target() -> io::Result<PathBuf> {
    let etc = Path::new("/etc/resolv.conf");
    let mut at = etc.to_path_buf();
    for _ in 0..8 {
        match std::fs::read_link(&at) {
            Ok(next) => {
                at = match at.parent() {
                    Some(dir) if next.is_relative() => dir.join(next),
                    _ => next,
                };
            }
            Err(_) => break,
        }
    }
    if !at.exists() {
        std::fs::write(&at, "")?;
    }
    Ok(at)
}

/// Builds the cage's view: called in the new mount (and PID) namespace, before the command.
pub(crate) fn seal(resolv_conf: &Path) -> io::Result<()> {
    // Nothing mounted here is seen outside, nor anything mounted outside later.
    let root = Path::new("/");
    mount_change(
        root,
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(at(root))?;
    let proc = Path::new("/proc");
    mount(
        "proc",
        proc,
        "proc",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        None,
    )
    .map_err(at(proc))?;
    for dir in HIDDEN_DIRS.iter().map(Path::new).filter(|d| d.is_dir()) {
        mount(
            "tmpfs",
            dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            None,
        )
        .map_err(at(dir))?;
    }
    for socket in HIDDEN_SOCKETS.iter().map(Path::new).filter(|s| s.exists()) {
        mount_bind("/dev/null", socket).map_err(at(socket))?;
    }
    let target = resolv_target()?;
    mount_bind(resolv_conf, &target).map_err(at(&target))?;
    Ok(())
}
