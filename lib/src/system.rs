//! The system-wide mode (`torify system enable`: this library in /etc/ld.so.preload, so every
//! dynamic program loads it). There, a few processes must run as if it were not loaded: PID 1,
//! and the users and programs the mode's state file exempts (the tor daemon's own, so that
//! Tor keeps working). The decision is `torify_preload::decide`'s; here it is made once per
//! process, at the first hook that would act, and every such hook asks [`exempt`] first.

use std::sync::atomic::{AtomicU8, Ordering};

use std::path::Path;
use torify_preload::{LAUNCHED_VARIABLE, Verdict};

const UNKNOWN: u8 = 0;
const ARMED: u8 = 1;
const EXEMPT: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// True when this process is left alone: every hook passes its call to libc unchanged. After
/// the first call, one relaxed load in the hook itself.
#[inline]
pub(crate) fn exempt() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ARMED => false,
        EXEMPT => true,
        _ => decide(),
    }
}

#[cold]
#[inline(never)]
fn decide() -> bool {
    // Threads racing here compute the same answer from the same files.
    let launched = crate::environ::initial_var(LAUNCHED_VARIABLE).is_some();
    let exempt = matches!(
        torify_preload::this_process(launched, listed),
        Verdict::Exempt(_)
    );
    STATE.store(if exempt { EXEMPT } else { ARMED }, Ordering::Relaxed);
    exempt
}

/// True when the system-wide mode lists this library: every dynamic program loads it, set-ID
/// ones too (the loader reads /etc/ld.so.preload for them; it drops only LD_PRELOAD). Where
/// this library is cannot be known, it cannot be the mode's.
pub(crate) fn listed() -> bool {
    static LISTED: crate::forksafe::Once<bool> = crate::forksafe::Once::new();
    *LISTED.get_or_init(|| {
        crate::environ::library().is_some_and(|lib| {
            use std::os::unix::ffi::OsStrExt;
            torify_preload::listed_now(Path::new(std::ffi::OsStr::from_bytes(lib.to_bytes())))
        })
    })
}

/// True when the system-wide mode exempts the program at `path` (a resolved path): it may
/// start even where the library cannot enter it, since it is meant to run without Tor.
pub(crate) fn exempt_program(path: &std::ffi::CStr) -> bool {
    if !listed() {
        return false;
    }
    let Ok(path) = std::fs::canonicalize(std::ffi::OsStr::new(
        std::str::from_utf8(path.to_bytes()).unwrap_or(""),
    )) else {
        return false;
    };
    let Some(text) = torify_preload::trusted_state(Path::new(torify_preload::STATE_FILE)) else {
        return false;
    };
    torify_preload::lines(&text)
        .flatten()
        .any(|l| matches!(l, torify_preload::Line::Program(p) if Path::new(p) == path))
}
