//! Vetting programs before they start: refused when the dynamic loader would run them without
//! this library (secure-exec: setuid, setgid, file capabilities), or when no preload can enter
//! them at all (static, Go, another libc or architecture: `torify_core::elf`). A script is
//! judged by its interpreter, as the kernel runs it. Allocates nothing: exec hooks may run in a
//! vfork child.

use std::ffi::CStr;

use libc::{c_char, c_int};
use torify_core::elf::{self, Entry, NATIVE, Refused, Unenterable};
use torify_core::exec::{self, FileFacts};
use torify_core::refusal::Kind;

use crate::{log, runtime};

/// How deep `#!` interpreters may nest (the kernel's own limit, BINPRM_MAX_RECURSION).
const MAX_INTERPRETERS: u32 = 4;

/// How a vetted program starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arm {
    /// With the library preloaded: every program it can enter.
    Library,
    /// Without it: a program for another C library or architecture that allow.unproxied_exec
    /// lets run (its loader would fail on this library instead of running it).
    Without,
    /// With the caller's environment untouched: this process is exempt in the system-wide
    /// mode, and its children are judged by the library /etc/ld.so.preload gives them.
    AsIs,
}

/// Checks the program at `path`: `Err(EPERM)` (logged) when it must not start.
pub(crate) fn vet(path: &CStr) -> Result<Arm, c_int> {
    if crate::system::exempt() {
        return Ok(Arm::AsIs);
    }
    vet_at_depth(path, 0)
}

fn settings_allow(pick: impl Fn(&torify_conf::Settings) -> bool) -> bool {
    runtime::get().is_ok_and(|rt| pick(&rt.settings))
}

fn vet_at_depth(path: &CStr, depth: u32) -> Result<Arm, c_int> {
    // SAFETY: stat into a local.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is a local.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFREG
    {
        // exec will report what is wrong with it.
        return Ok(Arm::Library);
    }
    let shown = path.to_string_lossy();
    // SAFETY: path is NUL-terminated; the fd is ours and closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        // An execute-only program: the kernel can run it, but what it is cannot be known.
        return refuse_unenterable(path, &shown, Unenterable::Unreadable);
    }
    let mut read_at = |offset: u64, buf: &mut [u8]| -> usize {
        let Ok(offset) = libc::off_t::try_from(offset) else {
            return 0;
        };
        let mut done = 0;
        while done < buf.len() {
            // SAFETY: the rest of buf is writable; pread is not one of our hooks.
            let n = unsafe {
                libc::pread(
                    fd,
                    buf[done..].as_mut_ptr().cast(),
                    buf.len() - done,
                    offset + done as libc::off_t,
                )
            };
            match usize::try_from(n) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done
    };
    let name = path.to_bytes().rsplit(|b| *b == b'/').next().unwrap_or(&[]);
    let entry = elf::entry(&mut read_at, name, &NATIVE);
    let mut interpreter = PathBuf4k::new();
    if let Entry::Script { start, end } = entry {
        let mut line = [0u8; 256];
        let got = read_at(0, &mut line);
        if let Some(interp) = line.get(start..end.min(got)) {
            let _ = interpreter.push(interp);
        }
    }
    crate::sys::close(fd);
    match entry {
        // The kernel ignores set-ID bits on scripts: their interpreter is what runs.
        Entry::Script { .. } => {
            if depth >= MAX_INTERPRETERS {
                return Ok(Arm::Library);
            }
            match interpreter.as_c_str() {
                Some(interp) => vet_at_depth(interp, depth + 1),
                None => Ok(Arm::Library),
            }
        }
        Entry::Cannot(Unenterable::Static) if is_the_launcher(&st) => {
            log::debug!("{shown} is torify's own launcher, which torifies what it runs");
            Ok(Arm::Library)
        }
        Entry::Cannot(why) => refuse_unenterable(path, &shown, why),
        Entry::Enters | Entry::Other => vet_privilege(path, &st, &shown).map(|()| Arm::Library),
    }
}

/// True when `st` is torify's launcher beside this library (`exec::LAUNCHER_FROM_LIBRARY_DIR`):
/// the same file, device and inode, as the one at one of those places. A static program
/// anywhere else, a copy of the launcher included, is judged like any other.
fn is_the_launcher(st: &libc::stat) -> bool {
    let Some(lib) = crate::environ::library().map(CStr::to_bytes) else {
        return false;
    };
    let Some(slash) = lib.iter().rposition(|b| *b == b'/') else {
        return false;
    };
    exec::LAUNCHER_FROM_LIBRARY_DIR.iter().any(|at| {
        let mut path = PathBuf4k::new();
        if path
            .push(&lib[..=slash])
            .and_then(|()| path.push(at.as_bytes()))
            .is_none()
        {
            return false;
        }
        let Some(path) = path.as_c_str() else {
            return false;
        };
        // SAFETY: stat into a local.
        let mut there: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: path is NUL-terminated; there is a local.
        let found = unsafe { libc::stat(path.as_ptr(), &mut there) } == 0;
        found && (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino)
    })
}

/// True when this process runs in torify's kernel cage: the launcher said so (TORIFY_CAGE
/// names the cage's TUN device) and the network namespace agrees (its only interfaces are
/// loopback and that device), so what the library cannot enter still goes through Tor.
fn caged() -> bool {
    let Some(tun) = crate::environ::initial_var("TORIFY_CAGE") else {
        return false;
    };
    let mut buf = [0u8; 4096];
    // SAFETY: a NUL-terminated path; the descriptor is ours and closed below.
    let fd = unsafe {
        libc::open(
            c"/proc/self/net/dev".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: buf is writable for its length; the real read (we hook read).
    let n = unsafe { crate::libc_sym::real::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
        .unwrap_or(-1);
    crate::sys::close(fd);
    let Ok(n) = usize::try_from(n) else {
        return false;
    };
    torify_core::exec::only_cage_interfaces(&buf[..n.min(buf.len())], tun.as_bytes())
}

/// How a program the library cannot enter starts when it may.
fn arm_for(why: Unenterable) -> Arm {
    if why.refuses_the_library() {
        Arm::Without
    } else {
        Arm::Library
    }
}

fn refuse_unenterable(path: &CStr, shown: &str, why: Unenterable) -> Result<Arm, c_int> {
    if crate::system::exempt_program(path) {
        log::debug!("{shown} is {why}: the system-wide mode exempts it, so it runs without Tor");
        return Ok(arm_for(why));
    }
    if caged() {
        log::debug!(
            "{shown} is {why}: it runs in torify's kernel cage, where its traffic goes through Tor"
        );
        return Ok(arm_for(why));
    }
    if settings_allow(|s| s.allow_unproxied_exec) {
        log::warning!("{shown} runs WITHOUT Tor: it is {why} (allow.unproxied_exec is set)");
        return Ok(arm_for(why));
    }
    log::refusal(
        Kind::Unenterable,
        &Refused {
            program: shown,
            why,
        },
    );
    Err(libc::EPERM)
}

fn vet_privilege(path: &CStr, st: &libc::stat, shown: &str) -> Result<(), c_int> {
    // SAFETY: both strings are NUL-terminated; a null buffer of size 0 only asks for the size.
    let caps = unsafe {
        libc::getxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    let facts = FileFacts {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        has_caps: caps > 0,
    };
    // SAFETY: geteuid/getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let Some(privilege) = exec::privilege(&facts, euid, egid) else {
        return Ok(());
    };
    if crate::system::listed() {
        log::debug!(
            "{shown} is {privilege}: /etc/ld.so.preload gives it this library all the same"
        );
        return Ok(());
    }
    if settings_allow(|s| s.allow_privileged_exec) {
        log::warning!("{shown} is {privilege}: it runs WITHOUT Tor (allow.privileged_exec is set)");
        return Ok(());
    }
    log::refusal(
        Kind::Privileged,
        &format_args!(
            "refused to run {shown}: it is {privilege}, so the dynamic loader would drop LD_PRELOAD and run it without Tor; allow.privileged_exec = true permits it (unsafe)"
        ),
    );
    Err(libc::EPERM)
}

/// A path assembled in a stack buffer, NUL-terminated.
pub(crate) struct PathBuf4k {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf4k {
    pub(crate) fn new() -> Self {
        PathBuf4k {
            buf: [0; 4096],
            len: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<()> {
        self.buf
            .get_mut(self.len..self.len + bytes.len())?
            .copy_from_slice(bytes);
        self.len += bytes.len();
        Some(())
    }

    fn push_number(&mut self, mut n: u32) -> Option<()> {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    pub(crate) fn as_c_str(&mut self) -> Option<&CStr> {
        *self.buf.get_mut(self.len)? = 0;
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).ok()
    }
}

/// Vets what execvp(3) would run for `file`: itself when it names a path, else the first
/// executable of that name on PATH.
pub(crate) fn vet_search(file: &CStr) -> Result<Arm, c_int> {
    if crate::system::exempt() {
        return Ok(Arm::AsIs);
    }
    if file.to_bytes().contains(&b'/') {
        return vet(file);
    }
    let dirs = crate::sys::env_now(c"PATH").unwrap_or(b"/bin:/usr/bin");
    for dir in dirs.split(|b| *b == b':') {
        let mut p = PathBuf4k::new();
        let dir = if dir.is_empty() { b"." as &[u8] } else { dir };
        if p.push(dir)
            .and_then(|()| p.push(b"/"))
            .and_then(|()| p.push(file.to_bytes()))
            .is_none()
        {
            continue;
        }
        let Some(candidate) = p.as_c_str() else {
            continue;
        };
        // SAFETY: NUL-terminated path.
        if unsafe { libc::access(candidate.as_ptr(), libc::X_OK) } == 0 {
            return vet(candidate);
        }
    }
    Ok(Arm::Library)
}

/// Vets the program execveat(2)/fexecve(3) would run: `path` relative to `dirfd`, or the file
/// `dirfd` itself (AT_EMPTY_PATH, fexecve), seen through /proc/self/fd.
pub(crate) fn vet_at(dirfd: c_int, path: *const c_char, flags: c_int) -> Result<Arm, c_int> {
    if crate::system::exempt() {
        return Ok(Arm::AsIs);
    }
    let rel = if path.is_null() {
        &[] as &[u8]
    } else {
        // SAFETY: a non-null path is NUL-terminated (caller contract).
        unsafe { CStr::from_ptr(path) }.to_bytes()
    };
    let mut p = PathBuf4k::new();
    let built = if rel.starts_with(b"/") || (dirfd == libc::AT_FDCWD && !rel.is_empty()) {
        p.push(rel)
    } else {
        let fd = u32::try_from(dirfd).ok();
        p.push(b"/proc/self/fd/")
            .and_then(|()| p.push_number(fd?))
            .and_then(|()| {
                if rel.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                    Some(())
                } else {
                    p.push(b"/").and_then(|()| p.push(rel))
                }
            })
    };
    match built.and_then(|()| p.as_c_str()) {
        Some(c) => vet(c),
        None => Ok(Arm::Library),
    }
}
