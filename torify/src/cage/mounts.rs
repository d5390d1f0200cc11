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

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

fn c(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn mount(source: &str, target: &Path, fstype: &str, flags: libc::c_ulong) -> io::Result<()> {
    let (source, target, fstype) = (
        CString::new(source).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        c(target)?,
        CString::new(fstype).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
    );
    // SAFETY: NUL-terminated strings; no data argument.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        Err(io::Error::new(
            e.kind(),
            format!("mount {}: {e}", target.to_string_lossy()),
        ))
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
    mount("none", Path::new("/"), "", libc::MS_REC | libc::MS_PRIVATE)?;
    mount(
        "proc",
        Path::new("/proc"),
        "proc",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
    )?;
    for dir in HIDDEN_DIRS.iter().map(Path::new).filter(|d| d.is_dir()) {
        mount("tmpfs", dir, "tmpfs", libc::MS_NOSUID | libc::MS_NODEV)?;
    }
    for socket in HIDDEN_SOCKETS.iter().map(Path::new).filter(|s| s.exists()) {
        mount("/dev/null", socket, "", libc::MS_BIND)?;
    }
    let target = resolv_target()?;
    mount(&resolv_conf.to_string_lossy(), &target, "", libc::MS_BIND)?;
    Ok(())
}
