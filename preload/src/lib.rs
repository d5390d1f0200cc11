#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The dynamic loader's list of libraries every dynamic program loads (ld.so(8)).
pub const PRELOAD_FILE: &str = "/etc/ld.so.preload";
/// The system-wide mode's state, written by `torify system enable`.
pub const STATE_FILE: &str = "/etc/torify/system.conf";
/// Set by the launcher in every command it starts (and kept for their children by the
/// library): a program started by `torify` is torified even where the system-wide mode
/// exempts its user or program, because someone asked for Tor explicitly.
pub const LAUNCHED_VARIABLE: &str = "TORIFY_LAUNCHED";
/// The library's file name, whatever directory it was installed in.
pub const LIBRARY_NAME: &str = "libtorify.so";
/// The largest state file read; a longer one is not torify's and exempts nothing.
const STATE_LIMIT: u64 = 64 * 1024;

/// The entries of an /etc/ld.so.preload. glibc's loader (elf/rtld.c) drops `#` comments to the
/// end of their line and splits the rest at spaces, tabs, newlines and colons.
pub fn entries(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|b| *b == b'\n')
        .map(|line| &line[..line.iter().position(|b| *b == b'#').unwrap_or(line.len())])
        .flat_map(|line| line.split(|b| matches!(b, b' ' | b'\t' | b':')))
        .filter(|e| !e.is_empty())
}

/// How /etc/ld.so.preload was before `enable` added its line, so that `disable` can leave
/// it exactly so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// There was no such file.
    Absent,
    /// There was one (its bytes follow the line `enable` put first).
    Present,
}

impl Before {
    fn word(self) -> &'static str {
        match self {
            Before::Absent => "absent",
            Before::Present => "present",
        }
    }

    fn from_word(word: &str) -> Option<Before> {
        [Before::Absent, Before::Present]
            .into_iter()
            .find(|b| b.word() == word)
    }
}

/// /etc/ld.so.preload with `library` as its first line, and how it was before; `None` when
/// `library` is its first entry already. First, because the loader binds each symbol to the
/// first library in the list that defines it: after another one (even libc itself), the
/// hooks would never be called. An entry of it further down moves up.
pub fn add(current: Option<&[u8]>, library: &str) -> Option<(Vec<u8>, Before)> {
    let ours = |e: &[u8]| e == library.as_bytes();
    let mut out = format!("{library}\n").into_bytes();
    let Some(text) = current else {
        return Some((out, Before::Absent));
    };
    if entries(text).next().is_some_and(ours) {
        return None;
    }
    match remove(text, ours, None) {
        Removed::Write(rest) => out.extend_from_slice(&rest),
        _ => out.extend_from_slice(text),
    }
    Some((out, Before::Present))
}

/// What to do with /etc/ld.so.preload once an entry is taken out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    /// Write these bytes.
    Write(Vec<u8>),
    /// Delete the file: `enable` created it and nothing else is in it.
    Delete,
    /// No entry matched: leave the file alone.
    NotListed,
}

/// /etc/ld.so.preload without the entries `ours` matches. The line `enable` added goes
/// whole; an entry someone put on a line with others goes alone, the rest of the line kept.
/// With `before` known, what `enable` changed around its line is undone too.
pub fn remove(current: &[u8], ours: impl Fn(&[u8]) -> bool, before: Option<Before>) -> Removed {
    let mut out = Vec::with_capacity(current.len());
    let mut found = false;
    for line in current.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let mut listed = entries(body).peekable();
        if listed.peek().is_some() && listed.all(&ours) {
            found = true;
            continue;
        }
        if entries(body).any(&ours) {
            found = true;
            out.extend_from_slice(&without_entries(line, &ours));
            continue;
        }
        out.extend_from_slice(line);
    }
    if !found {
        return Removed::NotListed;
    }
    if before == Some(Before::Absent) && entries(&out).next().is_none() {
        return Removed::Delete;
    }
    Removed::Write(out)
}

/// One line with the entries `ours` matches cut out, with the separator each took.
fn without_entries(line: &[u8], ours: &impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let comment = line.iter().position(|b| *b == b'#').unwrap_or(line.len());
    let (head, tail) = line.split_at(comment);
    let kept: Vec<&[u8]> = entries(head).filter(|e| !ours(e)).collect();
    let mut out = kept.join(&b' ');
    if !tail.is_empty() {
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(tail);
    } else if line.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// True for an entry naming torify's library by file name, wherever it is (what the rescue
/// program removes, since it cannot know which path a broken install used).
pub fn names_the_library(entry: &[u8]) -> bool {
    entry.rsplit(|b| *b == b'/').next() == Some(LIBRARY_NAME.as_bytes())
}

/// A user the system-wide mode leaves alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExemptUser {
    /// The user id the library compares with a process's effective user id.
    pub uid: u32,
    /// The name it had when `enable` looked it up (for people; the library uses the id).
    pub name: String,
}

/// The system-wide mode's state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The library path `enable` put in /etc/ld.so.preload.
    pub library: String,
    /// How /etc/ld.so.preload was before.
    pub before: Before,
    /// Users whose processes run without torify.
    pub users: Vec<ExemptUser>,
    /// Programs (absolute, resolved paths) that run without torify.
    pub programs: Vec<String>,
}

/// One line of a state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// `library PATH`.
    Library(&'a str),
    /// `before absent|present`.
    Before(Before),
    /// `exempt-user UID NAME`.
    User(u32, &'a str),
    /// `exempt-program PATH`.
    Program(&'a str),
}

/// The lines of a state file, each parsed; comments and blank lines are skipped. A line that
/// does not parse is an `Err` with its number: the library skips it (it exempts nothing).
pub fn lines(text: &str) -> impl Iterator<Item = Result<Line<'_>, String>> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| parse_line(line).ok_or_else(|| format!("line {n}: {line:?}")))
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let (word, rest) = line.split_once(' ')?;
    let rest = rest.trim();
    match word {
        "library" if rest.starts_with('/') => Some(Line::Library(rest)),
        "before" => Before::from_word(rest).map(Line::Before),
        "exempt-user" => {
            let (uid, name) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(Line::User(uid.parse().ok()?, name.trim()))
        }
        "exempt-program" if rest.starts_with('/') => Some(Line::Program(rest)),
        _ => None,
    }
}

impl State {
    /// Reads a state file; `Err` names the first line that is not one.
    pub fn parse(text: &str) -> Result<State, String> {
        let (mut library, mut before) = (None, None);
        let (mut users, mut programs) = (Vec::new(), Vec::new());
        for line in lines(text) {
            match line? {
                Line::Library(p) => library = Some(p.to_owned()),
                Line::Before(b) => before = Some(b),
                Line::User(uid, name) => users.push(ExemptUser {
                    uid,
                    name: name.to_owned(),
                }),
                Line::Program(p) => programs.push(p.to_owned()),
            }
        }
        Ok(State {
            library: library.ok_or("no library line")?,
            before: before.ok_or("no before line")?,
            users,
            programs,
        })
    }

    /// The file's text, commented for whoever opens it.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# torify's system-wide mode: written by `torify system enable`, removed by\n\
             # `torify system disable` (torify(1)). Edit it with those, not by hand.\n\
             # The library /etc/ld.so.preload names for every dynamic program:\n",
        );
        let _ = writeln!(out, "library {}", self.library);
        out.push_str("# How /etc/ld.so.preload was before, so that disable leaves it so:\n");
        let _ = writeln!(out, "before {}", self.before.word());
        out.push_str("# These run without torify, so that Tor itself keeps working:\n");
        for u in &self.users {
            let _ = writeln!(out, "exempt-user {} {}", u.uid, u.name);
        }
        for p in &self.programs {
            let _ = writeln!(out, "exempt-program {p}");
        }
        out
    }
}

/// What decides whether a process is torified in the system-wide mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process<'a> {
    /// Started by the torify launcher ([`LAUNCHED_VARIABLE`] in its initial environment).
    pub launched: bool,
    /// The library is listed in /etc/ld.so.preload: the system-wide mode is on.
    pub listed: bool,
    /// Its process id.
    pub pid: u32,
    /// Its effective user id, when known.
    pub euid: Option<u32>,
    /// Its program (/proc/self/exe), when known.
    pub program: Option<&'a str>,
}

/// Whether the library torifies a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Torified: every hook decides as usual.
    Armed,
    /// Left alone: every hook passes to libc.
    Exempt(Exemption),
}

/// Why the system-wide mode leaves a process alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exemption {
    /// It is PID 1, the init system: a refusal there would break the boot.
    Init,
    /// Its user is exempt.
    User(u32),
    /// Its program is exempt.
    Program,
}

/// Whether the library torifies `process`, given the state file's text (`None`: no file, or
/// one not owned by root). Outside the system-wide mode (the library came through
/// LD_PRELOAD only) and under the launcher, always armed: exemptions are the system-wide
/// mode's, and an explicit `torify` wins over them.
pub fn decide(process: &Process<'_>, state: Option<&str>) -> Verdict {
    if process.launched || !process.listed {
        return Verdict::Armed;
    }
    if process.pid == 1 {
        return Verdict::Exempt(Exemption::Init);
    }
    for line in lines(state.unwrap_or("")).flatten() {
        match line {
            Line::User(uid, _) if Some(uid) == process.euid => {
                return Verdict::Exempt(Exemption::User(uid));
            }
            Line::Program(p) if Some(p) == process.program => {
                return Verdict::Exempt(Exemption::Program);
            }
            _ => {}
        }
    }
    Verdict::Armed
}

/// True when the preload file's `entry` names the file at `library` (compared by device and
/// inode, so a symlink or another spelling of the path counts).
pub fn names_file(entry: &[u8], library: &Path) -> bool {
    let inode = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    std::str::from_utf8(entry)
        .ok()
        .and_then(|e| inode(Path::new(e)))
        .is_some_and(|at| inode(library) == Some(at))
}

/// True when an entry of the preload file's text is the file at `library`.
pub fn listed(preload: &[u8], library: &Path) -> bool {
    entries(preload).any(|e| names_file(e, library))
}

/// True when /etc/ld.so.preload lists the file at `library` now: the system-wide mode is on.
pub fn listed_now(library: &Path) -> bool {
    listed(&std::fs::read(PRELOAD_FILE).unwrap_or_default(), library)
}

/// The state file's text when it can be trusted: a regular file owned by root that only root
/// can write. Anything else exempts nothing.
pub fn trusted_state(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 || meta.len() > STATE_LIMIT {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// This process's effective user id, from /proc/self/status (no libc call needed).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Whether this process is torified: the facts gathered from `listed` (asked only when the
/// launcher did not start it; usually [`listed_now`]), the state file and /proc/self, then
/// [`decide`]d.
pub fn this_process(launched: bool, listed: impl FnOnce() -> bool) -> Verdict {
    if launched || !listed() {
        return Verdict::Armed;
    }
    let program = std::fs::read_link("/proc/self/exe").ok();
    let process = Process {
        launched,
        listed: true,
        pid: std::process::id(),
        euid: effective_uid(),
        program: program.as_deref().and_then(Path::to_str),
    };
    decide(&process, trusted_state(Path::new(STATE_FILE)).as_deref())
}

/// Replaces the file at `path` with `bytes` so that a reader sees the old or the new file,
/// never a part: written beside it, flushed, renamed over it, the directory flushed.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = dir.join(format!(".{name}.torify-{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

/// Takes the entries `ours` matches out of the preload file at `path`, as [`remove`] says,
/// and writes or deletes the file accordingly.
pub fn take_out(
    path: &Path,
    ours: impl Fn(&[u8]) -> bool,
    before: Option<Before>,
) -> std::io::Result<Removed> {
    let current = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Removed::NotListed),
        Err(e) => return Err(e),
    };
    let removed = remove(&current, ours, before);
    match &removed {
        Removed::Write(bytes) => write_atomically(path, bytes, 0o644)?,
        Removed::Delete => std::fs::remove_file(path)?,
        Removed::NotListed => {}
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
