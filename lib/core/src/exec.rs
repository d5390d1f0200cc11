//! Starting other programs: which executables would escape the preload library, and the
//! environment every child must start with.
//!
//! The dynamic loader ignores LD_PRELOAD for secure-exec programs (setuid, setgid, file
//! capabilities: AT_SECURE), and a statically linked program has no loader at all. Either would
//! run without torify, so the first kind is refused and the second reported.

use std::fmt;

/// What the exec hooks need to know about an executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// st_mode.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Carries a `security.capability` attribute.
    pub has_caps: bool,
}

/// Why an executable would run with LD_PRELOAD dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Privilege {
    /// Set-user-ID to another user.
    Setuid(u32),
    /// Set-group-ID to another group.
    Setgid(u32),
    /// File capabilities.
    Capabilities,
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Privilege::Setuid(uid) => write!(f, "setuid (to uid {uid})"),
            Privilege::Setgid(gid) => write!(f, "setgid (to gid {gid})"),
            Privilege::Capabilities => f.write_str("given file capabilities"),
        }
    }
}

/// Whether exec'ing a file with `facts` as (euid, egid) would be secure-exec.
pub fn privilege(facts: &FileFacts, euid: u32, egid: u32) -> Option<Privilege> {
    const S_ISUID: u32 = 0o4000;
    const S_ISGID: u32 = 0o2000;
    if facts.mode & S_ISUID != 0 && facts.uid != euid {
        return Some(Privilege::Setuid(facts.uid));
    }
    // Set-group-ID without group execute means mandatory locking, not a privilege.
    if facts.mode & S_ISGID != 0 && facts.mode & 0o010 != 0 && facts.gid != egid {
        return Some(Privilege::Setgid(facts.gid));
    }
    // root already holds every capability; file capabilities only raise other users.
    if facts.has_caps && euid != 0 {
        return Some(Privilege::Capabilities);
    }
    None
}

/// What the first bytes of an executable say about how it is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loading {
    /// An ELF file with an interpreter (the dynamic loader): LD_PRELOAD applies.
    Dynamic,
    /// An ELF file without one: nothing can be preloaded into it.
    Static,
    /// A script (`#!`) or something else: its interpreter decides.
    Other,
}

fn u16_at(b: &[u8], at: usize, le: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(s)
    } else {
        u16::from_be_bytes(s)
    })
}

fn u32_at(b: &[u8], at: usize, le: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(s)
    } else {
        u32::from_be_bytes(s)
    })
}

fn u64_at(b: &[u8], at: usize, le: bool) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(if le {
        u64::from_le_bytes(s)
    } else {
        u64::from_be_bytes(s)
    })
}

/// Reads the ELF header and program headers in `head` (the file's first bytes) looking for
/// PT_INTERP. Program headers past `head` count as "no interpreter seen": callers read enough
/// (a 4 KiB head holds them in every ordinary binary).
pub fn loading(head: &[u8]) -> Loading {
    const PT_INTERP: u32 = 3;
    if head.get(..4) != Some(b"\x7fELF") {
        return Loading::Other;
    }
    let class64 = head.get(4) == Some(&2);
    let le = head.get(5) != Some(&2);
    let parsed = (|| {
        let (phoff, phentsize, phnum) = if class64 {
            (
                u64_at(head, 0x20, le)? as usize,
                u16_at(head, 0x36, le)?,
                u16_at(head, 0x38, le)?,
            )
        } else {
            (
                u32_at(head, 0x1C, le)? as usize,
                u16_at(head, 0x2A, le)?,
                u16_at(head, 0x2C, le)?,
            )
        };
        for i in 0..usize::from(phnum) {
            let at = phoff.checked_add(i.checked_mul(usize::from(phentsize))?)?;
            if u32_at(head, at, le)? == PT_INTERP {
                return Some(Loading::Dynamic);
            }
        }
        Some(Loading::Static)
    })();
    parsed.unwrap_or(Loading::Other)
}

/// Where `command` would be found, as execvp(3) looks for it (a name with a slash is a path).
pub fn locate(
    command: &std::ffi::OsStr,
    path_var: Option<&std::ffi::OsStr>,
) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if command.as_bytes().contains(&b'/') {
        return Some(std::path::PathBuf::from(command));
    }
    let default = std::ffi::OsStr::new("/usr/local/bin:/usr/bin:/bin");
    std::env::split_paths(path_var.unwrap_or(default))
        .map(|dir| dir.join(command))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// True for the variables torify owns: they are set for every child from the torify process's
/// own initial environment, whatever the caller passes.
pub fn is_torify_variable(name: &[u8]) -> bool {
    name.starts_with(b"TORSOCKS_") || name.starts_with(b"TORIFY_")
}

fn name_of(entry: &[u8]) -> &[u8] {
    entry.split(|b| *b == b'=').next().unwrap_or(entry)
}

/// Walks the caller's environment (NAME=value entries) and hands every entry a child keeps to
/// `keep`: all but LD_PRELOAD and torify's own variables. Returns the caller's LD_PRELOAD
/// value, for [`preload_entry`]. Allocates nothing (the exec hooks run in vfork children).
pub fn filter_environment<'a>(
    env: impl IntoIterator<Item = &'a [u8]>,
    mut keep: impl FnMut(&'a [u8]),
) -> Option<&'a [u8]> {
    let mut preload = None;
    for entry in env {
        let name = name_of(entry);
        if name == b"LD_PRELOAD" {
            preload = entry.get(name.len() + 1..);
        } else if !is_torify_variable(name) {
            keep(entry);
        }
    }
    preload
}

/// Writes `LD_PRELOAD=<library>[:<the caller's other preloads>]` into `out` and returns its
/// length, or `None` when `out` is too small. Allocates nothing.
pub fn preload_entry(library: &[u8], callers: Option<&[u8]>, out: &mut [u8]) -> Option<usize> {
    let mut at = 0;
    let mut put = |bytes: &[u8]| -> Option<()> {
        out.get_mut(at..at + bytes.len())?.copy_from_slice(bytes);
        at += bytes.len();
        Some(())
    };
    put(b"LD_PRELOAD=")?;
    put(library)?;
    for other in callers
        .unwrap_or(&[])
        .split(|b| *b == b':' || *b == b' ')
        .filter(|p| !p.is_empty() && *p != library)
    {
        put(b":")?;
        put(other)?;
    }
    Some(at)
}

/// The environment a child starts with: the caller's `env` without torify's variables, then
/// `ours` (torify's variables), then LD_PRELOAD with `library` first and the caller's other
/// preloads after it. (The exec hooks build the same without allocating.)
pub fn child_environment(env: &[&[u8]], ours: &[&[u8]], library: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(env.len() + ours.len() + 1);
    let callers = filter_environment(env.iter().copied(), |e| out.push(e.to_vec()));
    out.extend(ours.iter().map(|e| e.to_vec()));
    let mut buf = vec![0u8; 64 + library.len() + callers.map_or(0, <[u8]>::len)];
    let n = preload_entry(library, callers, &mut buf).unwrap_or(0);
    buf.truncate(n);
    out.push(buf);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_table() {
        let f = |mode, uid, gid, has_caps| FileFacts {
            mode,
            uid,
            gid,
            has_caps,
        };
        let rows: &[(FileFacts, u32, u32, Option<Privilege>)] = &[
            (f(0o755, 0, 0, false), 1000, 1000, None),
            (
                f(0o4755, 0, 0, false),
                1000,
                1000,
                Some(Privilege::Setuid(0)),
            ),
            (f(0o4755, 0, 0, false), 0, 0, None),
            (f(0o4755, 1000, 0, false), 1000, 1000, None),
            (
                f(0o2755, 0, 42, false),
                1000,
                1000,
                Some(Privilege::Setgid(42)),
            ),
            (f(0o2745, 0, 42, false), 1000, 1000, None),
            (f(0o2755, 0, 42, false), 1000, 42, None),
            (
                f(0o755, 0, 0, true),
                1000,
                1000,
                Some(Privilege::Capabilities),
            ),
            (f(0o755, 0, 0, true), 0, 0, None),
        ];
        for (facts, euid, egid, want) in rows {
            assert_eq!(
                privilege(facts, *euid, *egid),
                *want,
                "{facts:?} as {euid}:{egid}"
            );
        }
    }

    fn elf64(with_interp: bool) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 2 * 0x38];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        b[0x38..0x3A].copy_from_slice(&2u16.to_le_bytes());
        b[0x40..0x44].copy_from_slice(&6u32.to_le_bytes());
        let second = if with_interp { 3u32 } else { 1 };
        b[0x78..0x7C].copy_from_slice(&second.to_le_bytes());
        b
    }

    #[test]
    fn elf_loading() {
        assert_eq!(loading(&elf64(true)), Loading::Dynamic);
        assert_eq!(loading(&elf64(false)), Loading::Static);
        assert_eq!(loading(b"#!/bin/sh\n"), Loading::Other);
        assert_eq!(loading(b"\x7fEL"), Loading::Other);
        let mut truncated = elf64(true);
        truncated.truncate(0x50);
        assert_eq!(loading(&truncated), Loading::Other);
        // The real thing: the shell is dynamic on every Debian machine.
        let sh = std::fs::read("/bin/sh").unwrap();
        assert_eq!(loading(&sh[..sh.len().min(4096)]), Loading::Dynamic);
    }

    #[test]
    fn commands_are_located_like_execvp() {
        use std::ffi::OsStr;
        use std::path::PathBuf;
        assert_eq!(
            locate(OsStr::new("sh"), Some(OsStr::new("/nonexistent:/bin"))),
            Some(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            locate(OsStr::new("no-such-command-here"), Some(OsStr::new("/bin"))),
            None
        );
        assert_eq!(locate(OsStr::new("./x"), None), Some(PathBuf::from("./x")));
    }

    #[test]
    fn preload_entry_fails_rather_than_truncates() {
        let mut small = [0u8; 16];
        assert_eq!(
            preload_entry(b"/usr/lib/torify/libtorify.so", None, &mut small),
            None
        );
        let mut big = [0u8; 128];
        let n = preload_entry(b"/l.so", Some(b"/a.so /l.so:/b.so"), &mut big).unwrap();
        assert_eq!(&big[..n], b"LD_PRELOAD=/l.so:/a.so:/b.so");
    }

    #[test]
    fn children_always_get_torify_and_keep_the_rest() {
        let lib = b"/usr/lib/torify/libtorify.so";
        let ours: &[&[u8]] = &[b"TORSOCKS_TOR_PORT=9150", b"TORIFY_SESSION=abc"];
        let rows: &[(&[&[u8]], &[&str])] = &[
            (
                &[],
                &[
                    "TORSOCKS_TOR_PORT=9150",
                    "TORIFY_SESSION=abc",
                    "LD_PRELOAD=/usr/lib/torify/libtorify.so",
                ],
            ),
            (
                &[
                    b"PATH=/bin",
                    b"TORSOCKS_TOR_PORT=1",
                    b"LD_PRELOAD=/x.so",
                    b"TORIFY_ALLOW_OUTBOUND_LOCALHOST=2",
                ],
                &[
                    "PATH=/bin",
                    "TORSOCKS_TOR_PORT=9150",
                    "TORIFY_SESSION=abc",
                    "LD_PRELOAD=/usr/lib/torify/libtorify.so:/x.so",
                ],
            ),
            (
                &[
                    b"LD_PRELOAD=/usr/lib/torify/libtorify.so /y.so",
                    b"HOME=/root",
                ],
                &[
                    "HOME=/root",
                    "TORSOCKS_TOR_PORT=9150",
                    "TORIFY_SESSION=abc",
                    "LD_PRELOAD=/usr/lib/torify/libtorify.so:/y.so",
                ],
            ),
        ];
        for (env, want) in rows {
            let got: Vec<String> = child_environment(env, ours, lib)
                .into_iter()
                .map(|e| String::from_utf8(e).unwrap())
                .collect();
            assert_eq!(got, *want);
        }
    }
}
