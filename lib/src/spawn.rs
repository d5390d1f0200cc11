//! Vetting programs before they start: refused when the dynamic loader would run them without
//! this library (secure-exec: setuid, setgid, file capabilities), reported when statically
//! linked. Allocates nothing: exec hooks may run in a vfork child.

use std::ffi::CStr;

use libc::{c_char, c_int};
use torify_core::exec::{self, FileFacts, Loading};

use crate::{log, runtime};

/// Log throttle kinds.
const PRIVILEGED_KIND: usize = 13;
const STATIC_KIND: usize = 14;

const HEAD: usize = 4096;

/// Reads up to HEAD bytes of `path` into `buf`; the number read (0 when unreadable).
fn read_head(path: &CStr, buf: &mut [u8; HEAD]) -> usize {
    // SAFETY: path is NUL-terminated; the fd is ours and closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    // SAFETY: buf is writable for HEAD bytes; the real read (we hook read).
    let n = unsafe { crate::libc_sym::real::read(fd, buf.as_mut_ptr().cast(), HEAD) }.unwrap_or(-1);
    crate::sys::close(fd);
    usize::try_from(n).unwrap_or(0)
}

/// Checks the program at `path`: `Err(EPERM)` (logged) when it must not start.
pub(crate) fn vet(path: &CStr) -> Result<(), c_int> {
    // SAFETY: stat into a local.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated; st is a local.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        // exec will report what is wrong with it.
        return Ok(());
    }
    let mut head = [0u8; HEAD];
    let n = read_head(path, &mut head);
    let head = &head[..n];
    // The kernel ignores set-ID bits on scripts: their interpreter is what runs.
    let script = head.starts_with(b"#!");
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
    let shown = path.to_string_lossy();
    if let Some(privilege) = exec::privilege(&facts, euid, egid).filter(|_| !script) {
        let allowed = runtime::get().is_ok_and(|rt| rt.settings.allow_privileged_exec);
        if allowed {
            tracing::warn!(
                "{shown} is {privilege}: it runs WITHOUT Tor (allow.privileged_exec is set)"
            );
            return Ok(());
        }
        log::refusal(
            PRIVILEGED_KIND,
            &format_args!(
                "refused to run {shown}: it is {privilege}, so the dynamic loader would drop LD_PRELOAD and run it without Tor; allow.privileged_exec = true permits it (unsafe)"
            ),
        );
        return Err(libc::EPERM);
    }
    if exec::loading(head) == Loading::Static {
        log::refusal(
            STATIC_KIND,
            &format_args!(
                "warning: {shown} is statically linked: torify cannot follow it, and any connection it makes bypasses Tor"
            ),
        );
    }
    Ok(())
}

/// A path assembled in a stack buffer, NUL-terminated.
pub(crate) struct PathBuf4k {
    buf: [u8; 4096],
    len: usize,
}

impl PathBuf4k {
    fn new() -> Self {
        PathBuf4k {
            buf: [0; 4096],
            len: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Option<()> {
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

    fn as_c_str(&mut self) -> Option<&CStr> {
        *self.buf.get_mut(self.len)? = 0;
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).ok()
    }
}

/// Vets what execvp(3) would run for `file`: itself when it names a path, else the first
/// executable of that name on PATH.
pub(crate) fn vet_search(file: &CStr) -> Result<(), c_int> {
    if file.to_bytes().contains(&b'/') {
        return vet(file);
    }
    // SAFETY: getenv returns null or a NUL-terminated string of the environment.
    let path_var = unsafe { libc::getenv(c"PATH".as_ptr()) };
    let dirs: &[u8] = if path_var.is_null() {
        b"/bin:/usr/bin"
    } else {
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(path_var) }.to_bytes()
    };
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
    Ok(())
}

/// Vets the program execveat(2)/fexecve(3) would run: `path` relative to `dirfd`, or the file
/// `dirfd` itself (AT_EMPTY_PATH, fexecve), seen through /proc/self/fd.
pub(crate) fn vet_at(dirfd: c_int, path: *const c_char, flags: c_int) -> Result<(), c_int> {
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
        None => Ok(()),
    }
}
