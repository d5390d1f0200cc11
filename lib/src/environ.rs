//! The environment torify runs with, and the one every child starts with.
//!
//! Settings are read from the process's *initial* environment (/proc/self/environ, as the
//! kernel received it at exec), so a program that scrubs its environment cannot drop or weaken
//! them, for itself or for its children. Every child gets torify's variables from that snapshot
//! and LD_PRELOAD with this library first, whatever environment the caller passes.

use std::ffi::{CStr, CString, c_void};

use crate::forksafe::Once;
use crate::log;
use libc::c_char;
use torify_core::exec::{
    filter_environment, has_variable, is_torify_variable, name_of, preload_entry,
};

/// The initial environment: NAME=value entries.
struct Initial {
    entries: Vec<CString>,
}

fn initial() -> &'static Initial {
    static INITIAL: Once<Initial> = Once::new();
    INITIAL.get_or_init(|| {
        let raw = std::fs::read("/proc/self/environ").ok();
        let entries = match raw {
            Some(bytes) => bytes
                .split(|b| *b == 0)
                .filter(|e| !e.is_empty())
                .filter_map(|e| CString::new(e).ok())
                .collect(),
            // No /proc (a chroot): the environment as it is now is the best there is.
            None => std::env::vars_os()
                .filter_map(|(k, v)| {
                    use std::os::unix::ffi::OsStrExt;
                    let mut e = k.as_bytes().to_vec();
                    e.push(b'=');
                    e.extend_from_slice(v.as_bytes());
                    CString::new(e).ok()
                })
                .collect(),
        };
        Initial { entries }
    })
}

/// A variable of the initial environment.
pub(crate) fn initial_var(name: &str) -> Option<String> {
    initial().entries.iter().find_map(|e| {
        let bytes = e.to_bytes();
        let value = bytes.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        String::from_utf8(value.to_vec()).ok()
    })
}

/// torify's own variables of the initial environment, plus a session token and a names
/// table made here.
fn ours() -> impl Iterator<Item = &'static CStr> {
    let session = crate::runtime::local_session_entry();
    let names = crate::names_table::local_entry();
    initial()
        .entries
        .iter()
        .map(CString::as_c_str)
        .filter(|e| is_torify_variable(e.to_bytes().split(|b| *b == b'=').next().unwrap_or(&[])))
        .filter(|e| !crate::names_table::replaced(e.to_bytes()))
        .chain(session)
        .chain(names)
}

/// The absolute path this library was loaded from.
pub(crate) fn library() -> Option<&'static CStr> {
    static PATH: Once<Option<CString>> = Once::new();
    PATH.get_or_init(|| {
        // SAFETY: dladdr with the address of a function of this library fills `info` with
        // pointers into the loader's own tables.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let addr = library as *const () as *const c_void;
        // SAFETY: as above.
        if unsafe { libc::dladdr(addr, &mut info) } == 0 || info.dli_fname.is_null() {
            return None;
        }
        // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
        let name = unsafe { CStr::from_ptr(info.dli_fname) };
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let path = std::fs::canonicalize(std::ffi::OsStr::from_bytes(name.to_bytes())).ok()?;
        CString::new(path.into_os_string().into_vec()).ok()
    })
    .as_deref()
}

/// Fills the snapshot and the library path ahead of time, so that an exec in a vfork child
/// (which shares the parent's memory) finds them ready and allocates nothing that leaks.
pub(crate) fn prepare() {
    let _ = initial();
    let _ = library();
    let _ = crate::system::exempt();
}

/// The entries of a NULL-terminated C environment array.
///
/// # Safety
/// `envp` must be null or a NULL-terminated array of NUL-terminated strings.
unsafe fn entries<'a>(envp: *const *const c_char) -> impl Iterator<Item = &'a [u8]> {
    let mut at = envp;
    std::iter::from_fn(move || {
        if at.is_null() {
            return None;
        }
        // SAFETY: at points into the caller's NULL-terminated array.
        let p = unsafe { *at };
        if p.is_null() {
            return None;
        }
        // SAFETY: p is NUL-terminated (caller contract); the next slot exists because this one
        // was not the terminator.
        unsafe {
            at = at.add(1);
            Some(CStr::from_ptr(p).to_bytes())
        }
    })
}

const INLINE_VARS: usize = 1024;
const INLINE_PRELOAD: usize = 4096;

/// Calls `f` with the environment a child of this process must start with, built from the
/// caller's `envp`. On the stack for ordinary environments (no allocation: this may run in a
/// vfork child); on the heap only for huge ones. `None` when this library's own path is
/// unknown: the child could not be armed, and must not start.
///
/// # Safety
/// `envp` must be null or a NULL-terminated array of NUL-terminated strings that stay valid
/// during the call.
pub(crate) unsafe fn with_child_env<R>(
    envp: *const *const c_char,
    arm: crate::spawn::Arm,
    f: impl FnOnce(*const *const c_char) -> R,
) -> Option<R> {
    if arm == crate::spawn::Arm::AsIs {
        return Some(f(envp));
    }
    let armed = arm == crate::spawn::Arm::Library;
    let lib = library()?;
    let mut inline_vars: [*const c_char; INLINE_VARS] = [std::ptr::null(); INLINE_VARS];
    let mut heap_vars: Vec<*const c_char> = Vec::new();
    let mut n = 0;
    let mut push = |p: *const c_char| {
        if n < INLINE_VARS - 1 {
            inline_vars[n] = p;
        } else {
            if heap_vars.is_empty() {
                heap_vars.extend_from_slice(&inline_vars[..n]);
            }
            heap_vars.push(p);
        }
        n += 1;
    };
    // SAFETY: caller contract.
    let callers = filter_environment(unsafe { entries(envp) }, |e| push(e.as_ptr().cast()));
    for entry in ours() {
        // A variable the caller passes is the caller's choice; one it left out is torify's.
        // SAFETY: caller contract (the array is walked again, allocating nothing).
        if !has_variable(unsafe { entries(envp) }, name_of(entry.to_bytes())) {
            push(entry.as_ptr());
        }
    }
    let mut inline_preload = [0u8; INLINE_PRELOAD];
    let mut heap_preload: Vec<u8>;
    // Unarmed (a program whose loader cannot take this library): the caller's other preloads
    // only.
    let ours: &[u8] = if armed { lib.to_bytes() } else { b"" };
    let skip = lib.to_bytes();
    let preload: &[u8] = match preload_entry(
        ours,
        skip,
        callers,
        &mut inline_preload[..INLINE_PRELOAD - 1],
    ) {
        Some(len) => &inline_preload[..=len],
        None => {
            heap_preload = vec![0u8; lib.to_bytes().len() + callers.map_or(0, <[u8]>::len) + 64];
            let len = preload_entry(ours, skip, callers, &mut heap_preload).unwrap_or(0);
            heap_preload.truncate(len);
            heap_preload.push(0);
            &heap_preload
        }
    };
    push(preload.as_ptr().cast());
    if heap_vars.is_empty() {
        inline_vars[n] = std::ptr::null();
        Some(f(inline_vars.as_ptr()))
    } else {
        heap_vars.push(std::ptr::null());
        Some(f(heap_vars.as_ptr()))
    }
}

/// Makes the process's own environment carry torify's variables and LD_PRELOAD again, for
/// the libc functions that start children from it implicitly (system, popen): each variable
/// the program removed comes back; one it set is its own.
pub(crate) fn repair() {
    use std::os::unix::ffi::OsStrExt;
    if crate::system::exempt() {
        return;
    }
    let Some(lib) = library() else { return };
    for entry in ours() {
        let bytes = entry.to_bytes();
        let Some(eq) = bytes.iter().position(|b| *b == b'=') else {
            continue;
        };
        let (name, value) = (&bytes[..eq], &bytes[eq + 1..]);
        if std::env::var_os(std::ffi::OsStr::from_bytes(name)).is_none() {
            set(name, value);
        }
    }
    let current = std::env::var_os("LD_PRELOAD");
    let current_bytes = current.as_deref().map(OsStrExt::as_bytes);
    let armed = current_bytes.is_some_and(|c| {
        c.split(|b| *b == b':' || *b == b' ')
            .any(|p| p == lib.to_bytes())
    });
    if !armed {
        let mut buf = vec![0u8; lib.to_bytes().len() + current_bytes.map_or(0, <[u8]>::len) + 64];
        if let Some(len) = preload_entry(lib.to_bytes(), lib.to_bytes(), current_bytes, &mut buf) {
            set(b"LD_PRELOAD", &buf[b"LD_PRELOAD=".len()..len]);
        }
    }
}

fn set(name: &[u8], value: &[u8]) {
    let (Ok(name), Ok(value)) = (CString::new(name), CString::new(value)) else {
        return;
    };
    log::debug!(
        "restoring {} in the environment before starting a child",
        name.to_string_lossy()
    );
    // SAFETY: both strings are NUL-terminated; setenv copies them.
    unsafe { libc::setenv(name.as_ptr(), value.as_ptr(), 1) };
}
