//! Whether the preload library can enter a program, from the program file itself.
//!
//! LD_PRELOAD is honoured by one loader only: the glibc dynamic loader of this machine's
//! architecture and word size, for programs that name it as their interpreter (PT_INTERP).
//! Everything else runs without the library, so around Tor:
//! - a statically linked program has no loader at all (no PT_INTERP; static-pie included);
//! - a Go program, static or dynamic, makes its own system calls and has its own resolver
//!   (Go's toolchain marks it with a `Go` build-id note and `.go.buildinfo`/`.gopclntab`
//!   sections, which stripping keeps);
//! - a program for another C library (musl's `ld-musl-*.so.1`) or another architecture or
//!   word size (a 32-bit program: the loader prints "wrong ELF class" and carries on without
//!   the library).
//!
//! The reader is a closure `read_at(offset, buf) -> bytes read` so that the exec hooks can
//! answer without allocating (pread into stack buffers) and the launcher with a `File`.
//! References: the System V gABI (ELF header, program and section headers, notes).

use std::fmt;

/// What the program file says about entering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A dynamic program for this machine's glibc loader: the library is loaded into it.
    Enters,
    /// A script: the interpreter named by `#!` runs, and decides. `start..end` is its path in
    /// the file's first bytes.
    Script {
        /// Offset of the interpreter path.
        start: usize,
        /// End of the interpreter path.
        end: usize,
    },
    /// Not ELF and not a script: the kernel refuses it (ENOEXEC), or a binfmt_misc
    /// interpreter runs it, which is itself vetted when it starts what it runs.
    Other,
    /// A program the library cannot enter.
    Cannot(Unenterable),
}

/// Why the library cannot enter a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unenterable {
    /// No dynamic loader (no PT_INTERP).
    Static,
    /// Built by the Go toolchain.
    Go,
    /// Another loader than this machine's glibc one (musl, another prefix's ld.so name).
    ForeignLoader,
    /// Another architecture or word size than the library's.
    ForeignMachine {
        /// ELF class: 1 for 32-bit, 2 for 64-bit.
        class: u8,
        /// e_machine.
        machine: u16,
    },
    /// The file cannot be read to find out (execute-only, or unreadable).
    Unreadable,
}

impl Unenterable {
    /// True when the program's loader would fail on the library (another C library or
    /// architecture): such a program, when it may run at all, starts without it.
    pub fn refuses_the_library(self) -> bool {
        matches!(
            self,
            Unenterable::ForeignLoader | Unenterable::ForeignMachine { .. }
        )
    }
}

impl fmt::Display for Unenterable {
    /// Why, in the words of the refusal line ("it is …").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Unenterable::Static => f.write_str("statically linked, so no preload library can enter it"),
            Unenterable::Go => f.write_str("a Go program, which makes its own system calls and resolves names itself, so no preload library can follow it"),
            Unenterable::ForeignLoader => f.write_str("linked against another C library than the glibc torify's library is built for (its loader is not glibc's), so the library cannot be loaded into it"),
            Unenterable::ForeignMachine { class, machine } => write!(
                f,
                "built for another architecture or word size ({}-bit ELF, machine {machine}), so the library cannot be loaded into it",
                if class == 1 { 32 } else { 64 }
            ),
            Unenterable::Unreadable => f.write_str("not readable, so torify cannot tell whether its library can enter it"),
        }
    }
}

/// The refusal line for running `program`.
pub struct Refused<'a> {
    /// The program, as it will be shown.
    pub program: &'a str,
    /// Why.
    pub why: Unenterable,
}

impl fmt::Display for Refused<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "refused to run {}: it is {}, and its connections would bypass Tor; run it under `torify --strict`, reach it through `torify forward`, or set allow.unproxied_exec = true to run it without Tor (unsafe)",
            self.program, self.why
        )
    }
}

/// What this build of the library is: the programs it can enter must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Native {
    /// e_machine (EM_X86_64 = 62, EM_AARCH64 = 183).
    pub machine: u16,
    /// The file name of glibc's loader for it.
    pub loader: &'static [u8],
}

/// This build's target.
pub const NATIVE: Native = Native {
    #[cfg(target_arch = "x86_64")]
    machine: 62,
    #[cfg(target_arch = "x86_64")]
    loader: b"ld-linux-x86-64.so.2",
    #[cfg(target_arch = "aarch64")]
    machine: 183,
    #[cfg(target_arch = "aarch64")]
    loader: b"ld-linux-aarch64.so.1",
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    machine: 0,
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    loader: b"",
};

const PT_INTERP: u32 = 3;
const PT_NOTE: u32 = 4;
const ET_DYN: u16 = 3;
/// The note type Go's linker gives its build id (ELF_NOTE_GOBUILDID_TAG).
const NOTE_GO_BUILDID: u32 = 4;
/// Section names only the Go toolchain makes.
const GO_SECTIONS: [&[u8]; 3] = [b".go.buildinfo", b".gopclntab", b".note.go.buildid"];
/// Bounds on what is read: a hostile file cannot make the check slow.
const MAX_PHDRS: usize = 64;
const MAX_SECTIONS: usize = 256;
const MAX_NOTES: usize = 4096;

/// Little-endian fields of a 64-bit header (the only kind the library is built as).
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(self.0.get(at..at + 2)?.try_into().ok()?))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.0.get(at..at + 4)?.try_into().ok()?))
    }
    fn u64(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(self.0.get(at..at + 8)?.try_into().ok()?))
    }
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails.
fn read_exact(
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    offset: u64,
    buf: &mut [u8],
) -> Option<()> {
    (read_at(offset, buf) == buf.len()).then_some(())
}

/// The interpreter path of a `#!` line in `head`.
fn shebang(head: &[u8]) -> Option<(usize, usize)> {
    let rest = head.strip_prefix(b"#!")?;
    let skip = rest
        .iter()
        .take_while(|c| **c == b' ' || **c == b'\t')
        .count();
    let start = 2 + skip;
    let len = head[start..]
        .iter()
        .take_while(|c| !matches!(**c, b' ' | b'\t' | b'\n' | b'\r' | 0))
        .count();
    (len > 0).then_some((start, start + len))
}

/// What the program whose file `read_at` reads is; `name` is its file name (the glibc loader
/// run directly, as ldd does, has no interpreter but enters the program it loads).
pub fn entry(
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    name: &[u8],
    native: &Native,
) -> Entry {
    let mut head = [0u8; 64];
    let n = read_at(0, &mut head);
    let head = &head[..n];
    if head.starts_with(b"#!") {
        // The interpreter is in the first line; the caller reads enough of it.
        let mut line = [0u8; 256];
        let got = read_at(0, &mut line);
        return match shebang(&line[..got]) {
            Some((start, end)) => Entry::Script { start, end },
            None => Entry::Other,
        };
    }
    if !head.starts_with(b"\x7fELF") || head.len() < 64 {
        return Entry::Other;
    }
    let (class, data) = (
        head.get(4).copied().unwrap_or(0),
        head.get(5).copied().unwrap_or(0),
    );
    let f = Fields(head);
    // e_machine sits at the same offset in both classes; little-endian reading is right for
    // the machines this library is built for, and a big-endian file is foreign anyway.
    let machine = f.u16(0x12).unwrap_or(0);
    if class != 2 || data != 1 || machine != native.machine {
        return Entry::Cannot(Unenterable::ForeignMachine { class, machine });
    }
    match inspect(read_at, &f, name, native) {
        Some(e) => e,
        // A header that points outside the file: nothing can load it.
        None => Entry::Other,
    }
}

fn inspect(
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    f: &Fields<'_>,
    name: &[u8],
    native: &Native,
) -> Option<Entry> {
    let e_type = f.u16(0x10)?;
    let phoff = f.u64(0x20)?;
    let shoff = f.u64(0x28)?;
    let phentsize = u64::from(f.u16(0x36)?);
    let phnum = usize::from(f.u16(0x38)?).min(MAX_PHDRS);
    let shentsize = u64::from(f.u16(0x3A)?);
    let shnum = usize::from(f.u16(0x3C)?).min(MAX_SECTIONS);
    let shstrndx = u64::from(f.u16(0x3E)?);
    let mut interp = None;
    let mut go = false;
    for i in 0..phnum as u64 {
        let mut ph = [0u8; 56];
        read_exact(
            read_at,
            phoff.saturating_add(i.saturating_mul(phentsize)),
            &mut ph,
        )?;
        let p = Fields(&ph);
        let (p_type, offset, size) = (p.u32(0)?, p.u64(8)?, p.u64(32)?);
        match p_type {
            PT_INTERP => interp = Some((offset, size)),
            PT_NOTE => go |= has_go_note(read_at, offset, size),
            _ => {}
        }
    }
    go = go || has_go_section(read_at, shoff, shentsize, shnum, shstrndx);
    if go {
        return Some(Entry::Cannot(Unenterable::Go));
    }
    let Some((offset, size)) = interp else {
        // The glibc loader itself, run as a program (ldd does), loads a dynamic program with
        // the library; it refuses a static one.
        let is_loader = e_type == ET_DYN && name == native.loader;
        return Some(if is_loader {
            Entry::Enters
        } else {
            Entry::Cannot(Unenterable::Static)
        });
    };
    let mut path = [0u8; 256];
    let len = usize::try_from(size).ok()?.min(path.len());
    read_exact(read_at, offset, &mut path[..len])?;
    let path = &path[..len];
    let path = &path[..path.iter().position(|b| *b == 0).unwrap_or(path.len())];
    let file_name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
    Some(if file_name == native.loader {
        Entry::Enters
    } else {
        Entry::Cannot(Unenterable::ForeignLoader)
    })
}

/// True when the notes at `offset` include Go's build id.
fn has_go_note(read_at: &mut dyn FnMut(u64, &mut [u8]) -> usize, offset: u64, size: u64) -> bool {
    let mut buf = [0u8; MAX_NOTES];
    let len = usize::try_from(size).unwrap_or(0).min(MAX_NOTES);
    let got = read_at(offset, &mut buf[..len]);
    let notes = &buf[..got];
    let mut at = 0;
    // Each note: namesz, descsz, type, then the name and the descriptor, each padded to 4.
    while let Some(h) = notes.get(at..at + 12) {
        let h = Fields(h);
        let (Some(namesz), Some(descsz), Some(ty)) = (h.u32(0), h.u32(4), h.u32(8)) else {
            return false;
        };
        let name_at = at + 12;
        let name = notes.get(name_at..name_at + namesz as usize);
        if ty == NOTE_GO_BUILDID && name == Some(b"Go\0\0") {
            return true;
        }
        let pad = |n: u32| (n as usize).div_ceil(4) * 4;
        at = name_at + pad(namesz) + pad(descsz);
    }
    false
}

/// True when a section header names a section only Go makes.
fn has_go_section(
    read_at: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    shoff: u64,
    shentsize: u64,
    shnum: usize,
    shstrndx: u64,
) -> bool {
    if shoff == 0 || shnum == 0 || shentsize < 64 {
        return false;
    }
    let mut sh = [0u8; 64];
    if read_exact(
        read_at,
        shoff.saturating_add(shstrndx.saturating_mul(shentsize)),
        &mut sh,
    )
    .is_none()
    {
        return false;
    }
    let Some(strtab) = Fields(&sh).u64(24) else {
        return false;
    };
    for i in 0..shnum as u64 {
        if read_exact(
            read_at,
            shoff.saturating_add(i.saturating_mul(shentsize)),
            &mut sh,
        )
        .is_none()
        {
            return false;
        }
        let Some(name_off) = Fields(&sh).u32(0) else {
            return false;
        };
        let mut name = [0u8; 20];
        let got = read_at(strtab.saturating_add(u64::from(name_off)), &mut name);
        let name = &name[..got];
        let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
        if GO_SECTIONS.contains(&name) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
