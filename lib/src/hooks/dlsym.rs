//! dlsym(3) and dlvsym(3): a program that looks up libc's `connect` (with the libc handle, or
//! RTLD_NEXT from a library loaded after this one) would get the real function and connect
//! around Tor. For the names this library hooks it gets the hook; for a few libc internals that
//! resolve or send (the resolver's `__res_context_*`, `_nss_dns_*`, `__libc_dlsym`) it gets
//! nothing; every other lookup is libc's own.
//!
//! What RTLD_NEXT finds depends on who calls: glibc looks at the return address. So the
//! exported `dlsym` is a naked trampoline that asks [`decide_dlsym`] and then either returns its
//! answer or *jumps* to libc's dlsym with the caller's registers and return address untouched,
//! exactly as if the program had called it. The library's own lookups call libc's dlsym, found
//! in libc's symbol table (`elfsym`), never this hook.

use std::ffi::{CStr, c_void};

use libc::c_char;

use super::table::{self, Lookup};
use crate::{guard, libc_sym};

/// What the trampoline does: return `value`, or jump to `jump` when it is not 0.
#[repr(C)]
pub(super) struct Decision {
    value: usize,
    jump: usize,
}

impl Decision {
    fn answer(value: usize) -> Self {
        Decision { value, jump: 0 }
    }

    /// Libc's own function answers, as if called directly (nothing when it is missing).
    fn libc(real: usize) -> Self {
        Decision {
            value: 0,
            jump: real,
        }
    }
}

/// The decision for a lookup of `name` whose libc answer `libc_answer` gives (called only when
/// the name is one we answer for).
fn decide(
    handle: *mut c_void,
    name: *const c_char,
    real: usize,
    libc_answer: impl FnOnce() -> usize,
) -> Decision {
    if name.is_null() {
        return Decision::libc(real);
    }
    // SAFETY: dlsym's contract: a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name) };
    match table::lookup(name.to_bytes()) {
        Lookup::Free => Decision::libc(real),
        Lookup::Withheld if crate::system::exempt() => Decision::answer(libc_answer()),
        Lookup::Withheld => {
            crate::log::debug!(
                "dlsym({}): withheld (it would resolve or send inside libc)",
                name.to_string_lossy()
            );
            Decision::answer(0)
        }
        // RTLD_NEXT from a library after this one finds libc's: ours instead.
        Lookup::Hooked(ours) if handle == libc::RTLD_NEXT => Decision::answer(ours),
        Lookup::Hooked(ours) => {
            let found = libc_answer();
            // The definition libc gives (what comes after this library), or ours: ours. A
            // plugin's own function of the same name is its own business.
            let after_us = libc_sym::dlsym(libc::RTLD_NEXT, name);
            if found != 0 && (found == after_us || found == ours) {
                Decision::answer(ours)
            } else {
                Decision::answer(found)
            }
        }
    }
}

/// Called by the `dlsym` trampoline.
extern "C" fn decide_dlsym(handle: *mut c_void, name: *const c_char) -> Decision {
    let real = libc_sym::real_dlsym();
    guard::catch(
        "dlsym",
        || Decision::libc(real),
        || {
            decide(handle, name, real, || {
                // SAFETY: the caller's handle and name, to libc's dlsym.
                let f: unsafe extern "C" fn(*mut c_void, *const c_char) -> usize =
                    unsafe { std::mem::transmute(real) };
                if real == 0 {
                    0
                } else {
                    // SAFETY: as above.
                    unsafe { f(handle, name) }
                }
            })
        },
    )
}

/// Called by the `dlvsym` trampoline.
extern "C" fn decide_dlvsym(
    handle: *mut c_void,
    name: *const c_char,
    version: *const c_char,
) -> Decision {
    let real = libc_sym::real_dlvsym();
    guard::catch(
        "dlvsym",
        || Decision::libc(real),
        || {
            decide(handle, name, real, || {
                // SAFETY: the caller's arguments, to libc's dlvsym.
                let f: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> usize =
                    unsafe { std::mem::transmute(real) };
                if real == 0 {
                    0
                } else {
                    // SAFETY: as above.
                    unsafe { f(handle, name, version) }
                }
            })
        },
    )
}

/// dlsym(3): asks `decide_dlsym`, then returns its answer or jumps to libc's dlsym.
///
/// # Safety
/// C contract.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dlsym() {
    core::arch::naked_asm!(
        // Entry: rsp is 8 off 16-byte alignment; two pushes and 8 bytes realign it.
        "push rdi",
        "push rsi",
        "sub rsp, 8",
        "call {decide}",
        "add rsp, 8",
        "pop rsi",
        "pop rdi",
        // Decision { value: rax, jump: rdx }.
        "test rdx, rdx",
        "jnz 2f",
        "ret",
        "2:",
        "jmp rdx",
        decide = sym decide_dlsym,
    );
}

/// dlvsym(3): as dlsym, with the version argument kept for the jump.
///
/// # Safety
/// C contract.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dlvsym() {
    core::arch::naked_asm!(
        // Three pushes realign the stack.
        "push rdi",
        "push rsi",
        "push rdx",
        "call {decide}",
        "mov r11, rdx",
        "pop rdx",
        "pop rsi",
        "pop rdi",
        "test r11, r11",
        "jnz 2f",
        "ret",
        "2:",
        "jmp r11",
        decide = sym decide_dlvsym,
    );
}

/// dlsym(3) on aarch64: x0/x1 and the frame saved, Decision { value: x0, jump: x1 }.
///
/// # Safety
/// C contract.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dlsym() {
    core::arch::naked_asm!(
        "stp x29, x30, [sp, #-32]!",
        "mov x29, sp",
        "stp x0, x1, [sp, #16]",
        "bl {decide}",
        "mov x16, x1",
        "cbnz x16, 2f",
        "ldp x29, x30, [sp], #32",
        "ret",
        "2:",
        "ldp x0, x1, [sp, #16]",
        "ldp x29, x30, [sp], #32",
        "br x16",
        decide = sym decide_dlsym,
    );
}

/// dlvsym(3) on aarch64.
///
/// # Safety
/// C contract.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn dlvsym() {
    core::arch::naked_asm!(
        "stp x29, x30, [sp, #-48]!",
        "mov x29, sp",
        "stp x0, x1, [sp, #16]",
        "str x2, [sp, #32]",
        "bl {decide}",
        "mov x16, x1",
        "cbnz x16, 2f",
        "ldp x29, x30, [sp], #48",
        "ret",
        "2:",
        "ldp x0, x1, [sp, #16]",
        "ldr x2, [sp, #32]",
        "ldp x29, x30, [sp], #48",
        "br x16",
        decide = sym decide_dlvsym,
    );
}
