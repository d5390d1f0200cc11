//! Running the command: the environment the library needs, the checks before exec, the exec.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use torify_conf::{Isolation, KEYS, Key, Loaded, Origin, SESSION_VARIABLE, Settings};
use torify_core::elf::{self, Entry, NATIVE, Unenterable};
use torify_core::exec::{self, FileFacts, Privilege};
use torify_core::pool::{Pool, table};

use crate::exit::{Exit, Failure};
use crate::seccomp::Filters;

/// Changes to make to the environment of the command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EnvChanges {
    pub(crate) set: Vec<(&'static str, OsString)>,
    pub(crate) remove: Vec<&'static str>,
    /// Start the command without the library (a program for another C library that
    /// allow.unproxied_exec lets run: its loader would fail on the library).
    pub(crate) unarmed: bool,
}

/// LD_PRELOAD with the library first, keeping whatever the user had (once).
pub(crate) fn preload_value(lib: &Path, current: Option<&OsStr>) -> OsString {
    let lib = lib.as_os_str();
    let current = current.unwrap_or_default();
    let already = current
        .as_bytes()
        .split(|b| *b == b':' || *b == b' ')
        .any(|entry| entry == lib.as_bytes());
    if already {
        return current.to_owned();
    }
    let mut value = lib.to_owned();
    if !current.is_empty() {
        value.push(":");
        value.push(current);
    }
    value
}

/// The text of a setting as its environment variable takes it.
fn env_text(key: Key, s: &Settings) -> Option<String> {
    Some(match key {
        Key::TorAddress => s.tor_address.to_string(),
        Key::TorPort => s.tor_port.to_string(),
        Key::Username => s.credentials.as_ref()?.username.expose().to_owned(),
        Key::Password => s.credentials.as_ref()?.password.expose().to_owned(),
        Key::Isolation => s.isolation.name().to_owned(),
        Key::OnionRange => s.onion_range.to_string(),
        Key::ExitRange => s.exit_range.to_string(),
        Key::DnsMode => s.dns_mode.name().to_owned(),
        Key::AllowInbound => u8::from(s.allow_inbound).to_string(),
        Key::AllowOutboundLocalhost => s.allow_outbound_localhost.level().to_string(),
        Key::AllowDirect => s
            .allow_direct
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        Key::AllowPrivilegedExec => u8::from(s.allow_privileged_exec).to_string(),
        Key::AllowUnproxiedExec => u8::from(s.allow_unproxied_exec).to_string(),
        Key::Strict => u8::from(s.strict).to_string(),
        Key::LogLevel => s.log.level.number().to_string(),
        Key::LogTime => u8::from(s.log.time).to_string(),
        Key::LogFile => s.log.file.as_ref()?.display().to_string(),
        _ => return None,
    })
}

/// The environment that makes the library see exactly the settings the launcher computed:
/// values from flags are exported, values the merge dropped are removed, the rest stays.
pub(crate) fn env_changes(
    loaded: &Loaded,
    config_flag: Option<&Path>,
    session: Option<String>,
) -> EnvChanges {
    let mut changes = EnvChanges::default();
    for info in KEYS {
        let Some(var) = info.env else { continue };
        match loaded.origin(info.key) {
            Origin::Env(from) if *from == var => {}
            // IsolatePID is a spelling of isolation; the isolation variable carries it.
            Origin::Flag(_) if info.key != Key::IsolatePid => {
                match env_text(info.key, &loaded.settings) {
                    Some(text) => changes.set.push((var, text.into())),
                    None => changes.remove.push(var),
                }
            }
            _ => changes.remove.push(var),
        }
    }
    if let Some(path) = config_flag {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        changes
            .set
            .push((torify_conf::FILE_VARIABLES[0], absolute.into_os_string()));
    }
    match session {
        Some(token) => changes.set.push((SESSION_VARIABLE, token.into())),
        None => changes.remove.push(SESSION_VARIABLE),
    }
    // Asked for by name: torified even where the system-wide mode exempts the user or program.
    changes
        .set
        .push((torify_preload::LAUNCHED_VARIABLE, "1".into()));
    changes
}

/// Gives the command a fresh table of stand-in names (`torify_core::pool::table`) that all its
/// processes share, so that one of them can connect to an address another looked up. Without
/// one (no memfd), each process that looks a name up makes its own.
pub(crate) fn add_names_table(changes: &mut EnvChanges) {
    match names_table() {
        Ok(value) => changes.set.push((table::VARIABLE, value.into())),
        Err(_) => changes.remove.push(table::VARIABLE),
    }
}

fn names_table() -> rustix::io::Result<String> {
    use std::os::fd::IntoRawFd;
    // No close-on-exec: the command inherits it.
    let fd = rustix::fs::memfd_create(table::MEMFD_NAME, rustix::fs::MemfdFlags::empty())?;
    rustix::fs::ftruncate(&fd, table::BYTES as u64)?;
    for pool in Pool::ALL {
        rustix::io::pwrite(&fd, table::MAGIC, table::magic_at(pool) as u64)?;
    }
    // Out of the way of the small numbers programs expect to get (and tests print).
    let fd = rustix::io::fcntl_dupfd_cloexec(&fd, table::LOWEST_FD)?;
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    Ok(table::variable(fd.into_raw_fd(), st.st_dev, st.st_ino))
}

/// A fresh session token when the isolation mode needs one.
pub(crate) fn session_token(s: &Settings) -> Result<Option<String>, String> {
    if !matches!(s.isolation, Isolation::Session | Isolation::Destination)
        || s.credentials.is_some()
    {
        return Ok(None);
    }
    let token =
        crate::random::hex::<16>().map_err(|e| format!("cannot make an isolation token: {e}"))?;
    Ok(Some(token.as_str().to_owned()))
}

/// Why the loader would drop LD_PRELOAD for this executable (it runs secure-exec), if it would.
pub(crate) fn privileged(path: &Path) -> Option<Privilege> {
    let meta = path.metadata().ok()?;
    // The size of the attribute, if there is one (ENODATA otherwise).
    let caps = rustix::fs::getxattr_query(path, "security.capability").unwrap_or(0);
    let facts = FileFacts {
        mode: meta.mode(),
        uid: meta.uid(),
        gid: meta.gid(),
        has_caps: caps > 0,
    };
    let (euid, egid) = (rustix::process::geteuid(), rustix::process::getegid());
    exec::privilege(&facts, euid.as_raw(), egid.as_raw())
}

/// How deep `#!` interpreters may nest (the kernel's BINPRM_MAX_RECURSION).
const MAX_INTERPRETERS: u32 = 4;

/// Why the library could not enter the program at `path` (a script: its interpreter), if it
/// could not.
pub(crate) fn unenterable(path: &Path) -> Option<Unenterable> {
    unenterable_at(path, 0)
}

fn unenterable_at(path: &Path, depth: u32) -> Option<Unenterable> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Some(Unenterable::Unreadable);
        }
        // Not there, or not a file: exec says what is wrong.
        Err(_) => return None,
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut window = Window::default();
    let mut read_at = |offset: u64, buf: &mut [u8]| window.read_at(&file, offset, buf);
    let name = path.file_name().map_or(&[][..], |n| n.as_bytes());
    match elf::entry(&mut read_at, name, &NATIVE) {
        Entry::Enters | Entry::Other => None,
        Entry::Cannot(why) => Some(why),
        Entry::Script { start, end } if depth < MAX_INTERPRETERS => {
            let mut line = [0u8; 256];
            let got = read_at(0, &mut line);
            let interpreter = Path::new(OsStr::from_bytes(line.get(start..end.min(got))?));
            unenterable_at(interpreter, depth + 1)
        }
        Entry::Script { .. } => None,
    }
}

/// The part of a file read last: the ELF parser asks for headers and section names tens of
/// bytes at a time, and a system call each was most of what judging a program cost.
#[derive(Default)]
struct Window {
    start: u64,
    bytes: Vec<u8>,
    /// Whether `bytes` holds what was read at `start`.
    filled: bool,
    /// Whether the file ends where `bytes` do.
    at_end: bool,
}

impl Window {
    /// How much is read at a time: the headers at the start of a program, or its section
    /// headers and their names (at the end of the file, the names just before). Each page of
    /// it is a page fault in the launcher, which is the launcher's main cost: 64 KiB were a
    /// sixth of them.
    const SIZE: usize = 16 * 1024;

    /// Fills `buf` from `offset` of `file`; returns how many bytes there were.
    fn read_at(&mut self, file: &std::fs::File, offset: u64, buf: &mut [u8]) -> usize {
        use std::os::unix::fs::FileExt;
        let end = offset.saturating_add(buf.len() as u64);
        let held = self.start + self.bytes.len() as u64;
        if !(self.filled && offset >= self.start && (end <= held || self.at_end)) {
            // A page before too: the section names precede the section headers.
            self.start = (offset & !4095).saturating_sub(4096);
            let size = Self::SIZE.max(buf.len() + 4096);
            self.bytes.resize(size, 0);
            let mut done = 0;
            while done < size {
                match file.read_at(&mut self.bytes[done..], self.start + done as u64) {
                    Ok(0) | Err(_) => break,
                    // Short: the file ends there (a program is a regular file).
                    Ok(n) if n < size - done => {
                        done += n;
                        break;
                    }
                    Ok(n) => done += n,
                }
            }
            self.bytes.truncate(done);
            self.filled = true;
            self.at_end = done < size;
        }
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX);
        let have = self.bytes.get(from..).unwrap_or_default();
        let n = have.len().min(buf.len());
        buf[..n].copy_from_slice(&have[..n]);
        n
    }
}

/// Gives `cmd` the library and the settings' environment. A variable to drop that this
/// process has is set empty rather than removed (the settings read an empty one as unset): in
/// a torified shell the launcher runs with the library, whose exec hook gives a child back
/// each torify variable the caller leaves out, but keeps one the caller sets.
pub(crate) fn apply(cmd: &mut Command, lib: &Path, changes: &EnvChanges) {
    for var in &changes.remove {
        if std::env::var_os(var).is_some() {
            cmd.env(var, "");
        } else {
            cmd.env_remove(var);
        }
    }
    for (var, value) in &changes.set {
        cmd.env(var, value);
    }
    let current = std::env::var_os("LD_PRELOAD");
    if changes.unarmed {
        let others: Vec<&[u8]> = current
            .as_deref()
            .map(OsStrExt::as_bytes)
            .unwrap_or_default()
            .split(|b| *b == b':' || *b == b' ')
            .filter(|e| !e.is_empty() && *e != lib.as_os_str().as_bytes())
            .collect();
        cmd.env("LD_PRELOAD", OsStr::from_bytes(&others.join(&b':')));
    } else {
        cmd.env("LD_PRELOAD", preload_value(lib, current.as_deref()));
    }
}

/// Installs `filters` in the command's process just before it starts.
pub(crate) fn filter(cmd: &mut Command, filters: Option<Filters>) {
    if let Some(filters) = filters {
        filters.install_at_exec(cmd);
    }
}

/// Execs the command, once `sealed`; returns only on failure, with the exit status and the
/// message.
pub(crate) fn exec(
    command: &[OsString],
    program: &Path,
    lib: &Path,
    changes: &EnvChanges,
    filters: Option<Filters>,
    _sealed: &crate::inherited::Sealed,
) -> Failure {
    let mut cmd = Command::new(program);
    cmd.arg0(&command[0]).args(&command[1..]);
    apply(&mut cmd, lib, changes);
    // This process becomes the command, so its inherited sockets are the ones `seal` judged:
    // the library need not look again (exec::SEALED_VARIABLE).
    if let Ok(name) = torify_core::exec::SEALED_VARIABLE.to_str() {
        cmd.env(name, std::process::id().to_string());
    }
    filter(&mut cmd, filters);
    let err = cmd.exec();
    let status = if err.kind() == std::io::ErrorKind::NotFound {
        Exit::NotFound
    } else {
        Exit::CannotRun
    };
    Failure::new(status, format!("{}: {err}", program.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use torify_conf::{FlagValue, Sources};

    fn load(env: &[(&str, &str)], flags: &[(Key, &str, &'static str)]) -> Loaded {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        let flags: Vec<FlagValue> = flags
            .iter()
            .map(|(key, value, flag)| FlagValue {
                key: *key,
                value: value.to_string(),
                flag,
            })
            .collect();
        torify_conf::load(&Sources {
            env: &lookup,
            secure: false,
            config_flag: None,
            flags: &flags,
            system_files: &[],
        })
        .unwrap()
    }

    #[test]
    fn the_window_reads_a_file_as_it_is_wherever_it_is_asked() {
        let dir = std::env::temp_dir().join(format!("torify-window-{}", std::process::id()));
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&dir, &bytes).unwrap();
        let file = std::fs::File::open(&dir).unwrap();
        let mut w = Window::default();
        for (offset, len) in [(0, 64), (70_000, 20), (199_990, 64), (5, 100_000), (0, 1)] {
            let mut buf = vec![0u8; len];
            let n = w.read_at(&file, offset as u64, &mut buf);
            let want = &bytes[offset..(offset + len).min(bytes.len())];
            assert_eq!(&buf[..n], want, "{offset}+{len}");
        }
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn preload_is_prepended_once() {
        let lib = Path::new("/usr/lib/torify/libtorify.so");
        assert_eq!(preload_value(lib, None), "/usr/lib/torify/libtorify.so");
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/x.so"))),
            "/usr/lib/torify/libtorify.so:/x.so"
        );
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/x.so:/usr/lib/torify/libtorify.so"))),
            "/x.so:/usr/lib/torify/libtorify.so"
        );
    }

    #[test]
    fn flags_are_exported_and_overridden_values_removed() {
        let loaded = load(
            &[
                ("TORSOCKS_USERNAME", "u"),
                ("TORSOCKS_PASSWORD", "p"),
                ("TORSOCKS_LOG_LEVEL", "3"),
            ],
            &[(Key::IsolatePid, "1", "-i"), (Key::TorPort, "9150", "-P")],
        );
        let ch = env_changes(&loaded, None, None);
        assert!(ch.set.contains(&("TORIFY_ISOLATION", "process".into())));
        assert!(ch.set.contains(&("TORSOCKS_TOR_PORT", "9150".into())));
        assert!(ch.remove.contains(&"TORSOCKS_USERNAME"));
        assert!(ch.remove.contains(&"TORSOCKS_PASSWORD"));
        assert!(ch.remove.contains(&"TORSOCKS_ISOLATE_PID"));
        assert!(!ch.remove.contains(&"TORSOCKS_LOG_LEVEL"));
        assert!(!ch.set.iter().any(|(v, _)| *v == "TORSOCKS_LOG_LEVEL"));
        assert!(ch.remove.contains(&SESSION_VARIABLE));
    }

    #[test]
    fn session_tokens_only_where_needed() {
        let mut s = Settings::default();
        assert_eq!(session_token(&s).unwrap(), None);
        s.isolation = Isolation::Session;
        let t = session_token(&s).unwrap().unwrap();
        assert_eq!(t.len(), 32);
        assert_ne!(Some(t), session_token(&s).unwrap());
    }

    #[test]
    fn setuid_programs_are_recognised() {
        let dir = std::env::temp_dir().join(format!("torify-suid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("prog");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(privileged(&f), None);
        // Owned by us: setuid changes nothing, the loader keeps LD_PRELOAD.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o4755)).unwrap();
        assert_eq!(privileged(&f), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
