//! `torify system enable | disable | status`: the system-wide mode. The library goes into
//! /etc/ld.so.preload, so every dynamic program on the machine loads it, as tsocks' and
//! torsocks' documentation describe, with what they warn about handled: the library must load
//! before it is listed, it must be on the root filesystem, the tor daemon and torify's own
//! programs are exempt so that Tor keeps working, PID 1 is left alone, `disable` leaves the
//! file exactly as it was, and `torify-rescue` (static) takes the entry out when nothing
//! dynamic starts any more.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use torify_conf::SystemSettings;
use torify_preload::{Before, ExemptUser, PRELOAD_FILE, Removed, STATE_FILE, State};

use crate::exit::{Failure, Status, fail};
use crate::{library, ui};

/// Users the tor daemon runs as on the common distributions (Debian, Fedora, Arch, the BSDs'
/// habit): each that exists here is exempt.
const TOR_USERS: [&str; 4] = ["debian-tor", "toranon", "tor", "_tor"];
/// Programs exempt where they exist: the tor daemon's; the ssh server's (torified, it could
/// not listen, and each connection's session, which inherits the accepted socket, would be
/// refused: an enable over ssh would lock its own user out; the shells it starts are torified
/// all the same); and ldconfig, which Debian links statically, so that no torified program
/// (dpkg's triggers, apt) could start it, and which opens no socket.
const EXEMPT_PROGRAMS: [&str; 8] = [
    "/usr/bin/tor",
    "/usr/sbin/tor",
    "/usr/local/bin/tor",
    "/usr/sbin/sshd",
    "/usr/lib/openssh/sshd-session",
    "/usr/lib/openssh/sshd-auth",
    "/usr/sbin/ldconfig",
    "/sbin/ldconfig",
];

/// What `torify system` was asked.
pub(crate) enum Action<'a> {
    /// List the library, exempting the tor daemon's users and programs and these.
    Enable {
        /// Users (names or numeric ids) to exempt besides tor's (--exempt-user).
        users: &'a [String],
        /// Programs to exempt besides tor's and torify's (--exempt-program).
        programs: &'a [PathBuf],
        /// What the settings file's [system] section lists besides.
        listed: &'a SystemSettings,
    },
    /// Take the library out, leaving /etc/ld.so.preload as it was.
    Disable,
    /// Say whether the mode is on (0) or off (3), and what it exempts.
    Status,
}

/// Runs `torify system ACTION`.
pub(crate) fn run(action: Action<'_>, quiet: bool) -> Result<Status, Failure> {
    match action {
        Action::Enable {
            users,
            programs,
            listed,
        } => {
            let users: Vec<String> = listed.exempt_users.iter().chain(users).cloned().collect();
            let programs: Vec<PathBuf> = listed
                .exempt_programs
                .iter()
                .chain(programs)
                .cloned()
                .collect();
            enable(&users, &programs, quiet)
        }
        Action::Disable => disable(quiet),
        Action::Status => Ok(status()),
    }
}

fn need_root(what: &str) -> Result<(), Failure> {
    if rustix::process::geteuid().is_root() {
        Ok(())
    } else {
        Err(fail(format!(
            "torify system {what} needs root: it changes {PRELOAD_FILE}; run it with sudo"
        )))
    }
}

fn enable(users: &[String], programs: &[PathBuf], quiet: bool) -> Result<Status, Failure> {
    need_root("enable")?;
    let lib = library::find().map_err(fail)?;
    let unchanged = format!("{PRELOAD_FILE} is unchanged");
    vet_library(&lib).map_err(|why| fail(format!("refused: {why}; {unchanged}")))?;
    library::loads_into_a_child(&lib, |_| ()).map_err(|why| {
        fail(format!(
            "refused: the library does not load into a test process ({why}); listed, it would break every program; {unchanged}"
        ))
    })?;
    let lib_text = lib
        .to_str()
        .ok_or_else(|| fail(format!("refused: {} is not UTF-8", lib.display())))?
        .to_owned();
    let current = match std::fs::read(PRELOAD_FILE) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fail(format!("cannot read {PRELOAD_FILE}: {e}"))),
    };
    let added = torify_preload::add(current.as_deref(), &lib_text);
    // Enabled already: the exemptions are renewed, and how the file was before is kept.
    let before = match &added {
        Some((_, before)) => *before,
        None => earlier_state().map_or(Before::Present, |s| s.before),
    };
    let state = State {
        library: lib_text,
        before,
        users: exempt_users(users)?,
        programs: exempt_programs(programs)?,
    };
    // The exemptions first: the moment the library is listed, tor must already be exempt.
    std::fs::create_dir_all(Path::new(STATE_FILE).parent().unwrap_or(Path::new("/etc")))
        .and_then(|()| {
            torify_preload::write_atomically(
                Path::new(STATE_FILE),
                state.render().as_bytes(),
                0o644,
            )
        })
        .map_err(|e| fail(format!("cannot write {STATE_FILE}: {e}; {unchanged}")))?;
    if let Some((text, _)) = &added {
        torify_preload::write_atomically(Path::new(PRELOAD_FILE), text, 0o644)
            .map_err(|e| fail(format!("cannot write {PRELOAD_FILE}: {e}; {unchanged}")))?;
    }
    if !quiet {
        let how = if added.is_some() {
            "on: every dynamic program started from now on is torified"
        } else {
            "on already; its exemptions are renewed"
        };
        ui::error(format!(
            "the system-wide mode is {how} ({} lists {}); exempt: {}. Undo with `torify system disable`, or torify-rescue if programs stop starting.",
            PRELOAD_FILE,
            state.library,
            exemptions(&state)
        ));
    }
    Ok(Status::SUCCESS)
}

/// A library that every program on the machine will load: only root may be able to change
/// it, and it must be on the root filesystem (a program started before another filesystem is
/// mounted would run without it).
fn vet_library(lib: &Path) -> Result<(), String> {
    for path in std::iter::once(lib).chain(lib.parent()) {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(format!(
                "{} can be changed by others than root (owner uid {}, mode {:o}), and every program would load it",
                path.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    match mount_point_of(lib, &mountinfo) {
        Some("/") => Ok(()),
        Some(other) => Err(format!(
            "the library {} is on {other}, not on the root filesystem: programs started before {other} is mounted would run without it; install torify with PREFIX=/usr",
            lib.display()
        )),
        None => Err(format!(
            "no filesystem holds {} in /proc/self/mountinfo",
            lib.display()
        )),
    }
}

/// The mount point holding `path` (absolute, resolved): the longest mount point of
/// /proc/self/mountinfo that is a prefix of it.
fn mount_point_of<'a>(path: &Path, mountinfo: &'a str) -> Option<&'a str> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| path.starts_with(unescape(m)))
        .max_by_key(|m| unescape(m).len())
}

/// A mountinfo path: spaces, tabs, newlines and backslashes come as octal escapes.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

fn earlier_state() -> Option<State> {
    torify_preload::trusted_state(Path::new(STATE_FILE)).and_then(|t| State::parse(&t).ok())
}

/// tor's users that exist here, then `asked` (names, or numeric ids).
fn exempt_users(asked: &[String]) -> Result<Vec<ExemptUser>, Failure> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let mut out: Vec<ExemptUser> = TOR_USERS
        .iter()
        .filter_map(|name| uid_of(&passwd, name).map(|uid| user(uid, name)))
        .collect();
    for name in asked {
        let uid = uid_of(&passwd, name)
            .or_else(|| name.parse().ok())
            .ok_or_else(|| {
                fail(format!(
                    "no user {name:?} in /etc/passwd; give an existing name or a numeric id (--exempt-user, system.exempt_users)"
                ))
            })?;
        if !out.iter().any(|u| u.uid == uid) {
            out.push(user(uid, name));
        }
    }
    Ok(out)
}

fn user(uid: u32, name: &str) -> ExemptUser {
    ExemptUser {
        uid,
        name: name.to_owned(),
    }
}

/// The uid /etc/passwd gives `name`.
fn uid_of(passwd: &str, name: &str) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name))
            .then(|| fields.nth(1)?.parse().ok())
            .flatten()
    })
}

/// The [`EXEMPT_PROGRAMS`] that exist here, torify's own (the launcher only talks to Tor and
/// gives its commands the library itself; the embedded client's connections are to relays),
/// then `asked`: all as resolved paths, since /proc/self/exe names the resolved file.
fn exempt_programs(asked: &[PathBuf]) -> Result<Vec<String>, Failure> {
    let ours = [std::env::current_exe().ok(), library::service().ok()];
    let mut found: Vec<PathBuf> = EXEMPT_PROGRAMS
        .iter()
        .map(PathBuf::from)
        .chain(ours.into_iter().flatten())
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    for path in asked {
        let resolved = path.canonicalize().map_err(|e| {
            fail(format!(
                "exempt program {}: {e}; give the program's path (--exempt-program, system.exempt_programs)",
                path.display()
            ))
        })?;
        found.push(resolved);
    }
    let mut out: Vec<String> = Vec::new();
    for p in found {
        let text = p
            .into_os_string()
            .into_string()
            .map_err(|p| fail(format!("exempt program {}: not UTF-8", p.to_string_lossy())))?;
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

/// The exemptions, for one line.
fn exemptions(state: &State) -> String {
    let users = state
        .users
        .iter()
        .map(|u| format!("user {} ({})", u.name, u.uid));
    let programs = state.programs.iter().map(|p| format!("program {p}"));
    let all: Vec<String> = std::iter::once("PID 1".to_owned())
        .chain(users)
        .chain(programs)
        .collect();
    all.join(", ")
}

fn disable(quiet: bool) -> Result<Status, Failure> {
    need_root("disable")?;
    let state = earlier_state();
    let lib = state
        .as_ref()
        .map(|s| PathBuf::from(&s.library))
        .or_else(|| library::find().ok());
    let ours = |entry: &[u8]| {
        lib.as_deref().is_some_and(|lib| {
            entry == lib.as_os_str().as_encoded_bytes() || torify_preload::names_file(entry, lib)
        })
    };
    let removed = torify_preload::take_out(
        Path::new(PRELOAD_FILE),
        ours,
        state.as_ref().map(|s| s.before),
    )
    .map_err(|e| fail(format!("cannot change {PRELOAD_FILE}: {e}")))?;
    match std::fs::remove_file(STATE_FILE) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(format!("cannot remove {STATE_FILE}: {e}"))),
    }
    if !quiet {
        ui::error(match removed {
            Removed::NotListed => {
                format!("the system-wide mode was not on: {PRELOAD_FILE} does not list the library")
            }
            Removed::Delete => format!(
                "the system-wide mode is off: {PRELOAD_FILE}, which enable had created, is removed"
            ),
            Removed::Write(_) => {
                format!("the system-wide mode is off: {PRELOAD_FILE} is as it was before enable")
            }
        });
    }
    Ok(Status::SUCCESS)
}

fn status() -> Status {
    let preload = std::fs::read(PRELOAD_FILE).unwrap_or_default();
    let listed: Vec<String> = torify_preload::entries(&preload)
        .filter(|e| torify_preload::names_the_library(e))
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    let state = earlier_state();
    if listed.is_empty() {
        ui::out(format!(
            "off: {PRELOAD_FILE} does not list the library{}\n",
            if state.is_some() {
                format!("; {STATE_FILE} remains (torify system disable removes it)")
            } else {
                String::new()
            }
        ));
        return Status::from(3);
    }
    let mut text = format!("on: {PRELOAD_FILE} lists {}\n", listed.join(", "));
    match &state {
        Some(state) => text.push_str(&format!("exempt: {}\n", exemptions(state))),
        None => text.push_str(&format!(
            "exempt: PID 1 only ({STATE_FILE} is missing or not root's: the tor daemon is torified too; run torify system enable)\n"
        )),
    }
    ui::out(text);
    Status::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_on_the_longest_mount_point_that_holds_it() {
        let info = "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n\
                    23 22 8:2 / /usr rw - ext4 /dev/sda2 rw\n\
                    24 22 0:5 / /usr/lib\\040x rw - tmpfs tmpfs rw\n\
                    25 22 0:6 / /u rw - tmpfs tmpfs rw\n";
        let at = |p: &str| mount_point_of(Path::new(p), info);
        assert_eq!(at("/lib/torify/libtorify.so"), Some("/"));
        assert_eq!(at("/usr/lib/torify/libtorify.so"), Some("/usr"));
        assert_eq!(at("/usr/lib x/libtorify.so"), Some("/usr/lib\\040x"));
        // A prefix of the name is not a parent directory.
        assert_eq!(at("/usrlocal/libtorify.so"), Some("/"));
    }

    #[test]
    fn users_are_found_by_name_in_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      debian-tor:x:107:113::/var/lib/tor:/bin/false\n\
                      broken:x:notanumber:1::/:/bin/false\n";
        assert_eq!(uid_of(passwd, "debian-tor"), Some(107));
        assert_eq!(uid_of(passwd, "root"), Some(0));
        assert_eq!(uid_of(passwd, "broken"), None);
        assert_eq!(uid_of(passwd, "debian"), None);
    }

    #[test]
    fn the_exemptions_read_in_one_line() {
        let state = State {
            library: "/usr/lib/torify/libtorify.so".to_owned(),
            before: Before::Absent,
            users: vec![user(107, "debian-tor")],
            programs: vec!["/usr/bin/tor".to_owned()],
        };
        assert_eq!(
            exemptions(&state),
            "PID 1, user debian-tor (107), program /usr/bin/tor"
        );
    }
}
