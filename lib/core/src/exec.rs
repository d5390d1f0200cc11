//! Starting other programs: which executables would escape the preload library, and the
//! environment every child must start with.
//!
//! The dynamic loader ignores LD_PRELOAD for secure-exec programs (setuid, setgid, file
//! capabilities: AT_SECURE): they would run without torify, so they are refused. Programs no
//! preload can enter at all (static, Go, another libc) are told apart in [`crate::elf`].

use std::fmt;

/// Where torify's launcher lies relative to the directory of its library, in each layout the
/// launcher looks for its library in (torify/src/library.rs `candidates`, the other way
/// round): a build tree (both in target/release), `make install` (PREFIX/lib/torify and
/// PREFIX/bin), the Debian package (/usr/lib/TRIPLET/torify and /usr/bin), PREFIX/lib.
/// The launcher is a static program, which the library refuses to start unless it is the file
/// at one of these places: a torified shell must be able to run `torify`.
pub const LAUNCHER_FROM_LIBRARY_DIR: [&str; 4] = [
    "torify",
    "../../bin/torify",
    "../../../bin/torify",
    "../bin/torify",
];

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

/// True when /proc/net/dev (`net_dev`) lists loopback and the cage's TUN device `tun` and no
/// other interface: the process runs in torify's kernel cage, whose only way out is Tor.
pub fn only_cage_interfaces(net_dev: &[u8], tun: &[u8]) -> bool {
    // Two header lines, then `  name: counters…` per interface.
    let mut saw_tun = false;
    for name in net_dev
        .split(|b| *b == b'\n')
        .skip(2)
        .filter_map(|line| line.split(|b| *b == b':').next())
        .map(<[u8]>::trim_ascii)
        .filter(|name| !name.is_empty())
    {
        if name == tun {
            saw_tun = true;
        } else if name != b"lo" {
            return false;
        }
    }
    saw_tun && !tun.is_empty()
}

/// True for the variables torify owns. A child gets each one the caller passes, and the torify
/// process's own (from its initial environment) for each one the caller leaves out: a program
/// that scrubs its environment cannot drop a setting, and one that sets a variable (a shell
/// running `TORSOCKS_TOR_PORT=9150 cmd`, a nested `torify -i`) changes it as it would outside.
pub fn is_torify_variable(name: &[u8]) -> bool {
    (name.starts_with(b"TORSOCKS_") || name.starts_with(b"TORIFY_"))
        && name != SEALED_VARIABLE.to_bytes()
}

/// Set by the launcher, to its own process ID, in the command it execs once it has closed the
/// descriptors it inherited that would carry data around Tor (torify/src/inherited.rs). The
/// library of that very process (exec keeps the ID) then skips its own look through
/// /proc/self/fd at load, which could find nothing more. No child gets it: it is not one of
/// the variables children inherit from torify, and [`filter_environment`] drops the caller's.
pub const SEALED_VARIABLE: &std::ffi::CStr = c"TORIFY_SEALED";

/// True when `value`, SEALED_VARIABLE's, names the process `pid`: digits only, as the
/// launcher writes it.
pub fn sealed_for(value: &[u8], pid: u32) -> bool {
    !value.is_empty()
        && value.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            == Some(pid)
}

/// The NAME of a NAME=value entry.
pub fn name_of(entry: &[u8]) -> &[u8] {
    entry.split(|b| *b == b'=').next().unwrap_or(entry)
}

/// Walks the caller's environment (NAME=value entries) and hands every entry a child keeps to
/// `keep`: all but LD_PRELOAD and [`SEALED_VARIABLE`]. Returns the caller's LD_PRELOAD value,
/// for [`preload_entry`].
/// Allocates nothing (the exec hooks run in vfork children).
pub fn filter_environment<'a>(
    env: impl IntoIterator<Item = &'a [u8]>,
    mut keep: impl FnMut(&'a [u8]),
) -> Option<&'a [u8]> {
    let mut preload = None;
    for entry in env {
        let name = name_of(entry);
        if name == b"LD_PRELOAD" {
            preload = entry.get(name.len() + 1..);
        } else if name != SEALED_VARIABLE.to_bytes() {
            keep(entry);
        }
    }
    preload
}

/// True when the environment `env` has a variable called `name` (empty or not).
pub fn has_variable<'a>(env: impl IntoIterator<Item = &'a [u8]>, name: &[u8]) -> bool {
    env.into_iter().any(|e| name_of(e) == name)
}

/// Writes `LD_PRELOAD=<library>[:<the caller's other preloads>]` into `out` and returns its
/// length, or `None` when `out` is too small: the caller's entries without `skip` (this
/// library's own path) or any other libtorify.so (a second copy would proxy twice), after
/// `library` (empty: none first). Allocates nothing.
pub fn preload_entry(
    library: &[u8],
    skip: &[u8],
    callers: Option<&[u8]>,
    out: &mut [u8],
) -> Option<usize> {
    let mut at = 0;
    let mut put = |bytes: &[u8]| -> Option<()> {
        out.get_mut(at..at + bytes.len())?.copy_from_slice(bytes);
        at += bytes.len();
        Some(())
    };
    put(b"LD_PRELOAD=")?;
    put(library)?;
    let mut first = library.is_empty();
    for other in callers
        .unwrap_or(&[])
        .split(|b| *b == b':' || *b == b' ')
        .filter(|p| !p.is_empty() && *p != skip && !p.ends_with(b"/libtorify.so"))
    {
        if !first {
            put(b":")?;
        }
        first = false;
        put(other)?;
    }
    Some(at)
}

/// The environment a child starts with: the caller's `env` without LD_PRELOAD, then those of
/// `ours` (torify's variables) the caller did not pass, then LD_PRELOAD with `library` first
/// and the caller's other preloads after it. (The exec hooks build the same without
/// allocating.)
pub fn child_environment(env: &[&[u8]], ours: &[&[u8]], library: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(env.len() + ours.len() + 1);
    let callers = filter_environment(env.iter().copied(), |e| out.push(e.to_vec()));
    out.extend(
        ours.iter()
            .filter(|e| !has_variable(env.iter().copied(), name_of(e)))
            .map(|e| e.to_vec()),
    );
    let mut buf = vec![0u8; 64 + library.len() + callers.map_or(0, <[u8]>::len)];
    let n = preload_entry(library, library, callers, &mut buf).unwrap_or(0);
    buf.truncate(n);
    out.push(buf);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seal_mark_names_one_process_and_no_child_gets_it() {
        assert!(sealed_for(b"4242", 4242));
        for other in [
            &b"4243"[..],
            b"",
            b"+4242",
            b" 4242",
            b"4242 ",
            b"04242x",
            b"99999999999",
        ] {
            assert!(!sealed_for(other, 4242), "{other:?}");
        }
        assert!(!is_torify_variable(SEALED_VARIABLE.to_bytes()));
        assert!(is_torify_variable(b"TORIFY_SESSION"));
        let env: &[&[u8]] = &[b"A=1", b"TORIFY_SEALED=4242", b"LD_PRELOAD=/x.so"];
        let ours: &[&[u8]] = &[b"TORSOCKS_TOR_PORT=9050"];
        let child = child_environment(env, ours, b"/lib/libtorify.so");
        let child: Vec<&[u8]> = child.iter().map(Vec::as_slice).collect();
        assert!(
            child.iter().all(|e| name_of(e) != b"TORIFY_SEALED"),
            "{child:?}"
        );
        assert!(child.contains(&&b"A=1"[..]) && child.contains(&&b"TORSOCKS_TOR_PORT=9050"[..]));
    }

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
    fn the_cage_is_known_by_its_interfaces() {
        let header = "Inter-|   Receive\n face |bytes    packets\n";
        let cage = format!("{header}    lo: 0 0\ntorify0: 1 2\n");
        let host = format!("{header}    lo: 0 0\n  eth0: 1 2\ntorify0: 1 2\n");
        assert!(only_cage_interfaces(cage.as_bytes(), b"torify0"));
        assert!(!only_cage_interfaces(host.as_bytes(), b"torify0"));
        assert!(!only_cage_interfaces(
            format!("{header}    lo: 0 0\n").as_bytes(),
            b"torify0"
        ));
        assert!(!only_cage_interfaces(cage.as_bytes(), b""));
    }

    #[test]
    fn preload_entry_fails_rather_than_truncates() {
        let mut small = [0u8; 16];
        let lib = b"/usr/lib/torify/libtorify.so";
        assert_eq!(preload_entry(lib, lib, None, &mut small), None);
        let mut big = [0u8; 128];
        let n = preload_entry(b"/l.so", b"/l.so", Some(b"/a.so /l.so:/b.so"), &mut big).unwrap();
        assert_eq!(&big[..n], b"LD_PRELOAD=/l.so:/a.so:/b.so");
        // Another build's libtorify.so never rides along; unarmed, only the others remain.
        let n = preload_entry(lib, lib, Some(b"/opt/t/libtorify.so:/a.so"), &mut big).unwrap();
        assert_eq!(&big[..n], b"LD_PRELOAD=/usr/lib/torify/libtorify.so:/a.so");
        let n = preload_entry(
            b"",
            lib,
            Some(b"/usr/lib/torify/libtorify.so:/a.so"),
            &mut big,
        )
        .unwrap();
        assert_eq!(&big[..n], b"LD_PRELOAD=/a.so");
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
            // What the caller sets wins (a nested torify, `VAR=x cmd` in a torified shell);
            // what it left out comes from torify's own environment.
            (
                &[
                    b"PATH=/bin",
                    b"TORSOCKS_TOR_PORT=1",
                    b"LD_PRELOAD=/x.so",
                    b"TORIFY_ALLOW_OUTBOUND_LOCALHOST=2",
                ],
                &[
                    "PATH=/bin",
                    "TORSOCKS_TOR_PORT=1",
                    "TORIFY_ALLOW_OUTBOUND_LOCALHOST=2",
                    "TORIFY_SESSION=abc",
                    "LD_PRELOAD=/usr/lib/torify/libtorify.so:/x.so",
                ],
            ),
            // An empty value is the caller's way to unset one (the launcher's, for a setting
            // its flags drop): kept, and read as unset.
            (
                &[b"TORIFY_SESSION=", b"HOME=/"],
                &[
                    "TORIFY_SESSION=",
                    "HOME=/",
                    "TORSOCKS_TOR_PORT=9150",
                    "LD_PRELOAD=/usr/lib/torify/libtorify.so",
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
