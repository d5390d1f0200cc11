//! The process's own command line in memory, which /proc/PID/cmdline shows for as long as the
//! process lives. glibc hands `argc, argv, envp` to the executable's `.init_array` functions
//! (as it does for Rust's std, which reads the same memory); this module keeps them, so that
//! parts of the arguments can be zeroed where the kernel shows them.

use std::ffi::CStr;
use std::sync::atomic::{AtomicIsize, AtomicPtr, Ordering};

use libc::{c_char, c_int};

static ARGC: AtomicIsize = AtomicIsize::new(0);
static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn capture(argc: c_int, argv: *mut *mut c_char, _envp: *const *const c_char) {
    ARGC.store(argc as isize, Ordering::Relaxed);
    ARGV.store(argv, Ordering::Relaxed);
}

#[used]
#[unsafe(link_section = ".init_array")]
static CAPTURE: extern "C" fn(c_int, *mut *mut c_char, *const *const c_char) = capture;

/// Zeroes, in this process's argument area, the tails of the arguments `select` picks: it is
/// given argv without argv\[0\] and answers (index among those, byte offset in that argument)
/// pairs; each argument is zeroed from its offset to its end. Out-of-range picks are skipped.
/// Nothing happens when the arguments were not captured (a program that is not the
/// executable, or a libc that passes no arguments to `.init_array`).
///
/// Call it while no other thread reads the arguments (std::env::args reads the same memory).
pub fn zero_argument_tails(select: impl FnOnce(&[&[u8]]) -> Vec<(usize, usize)>) {
    let argc = usize::try_from(ARGC.load(Ordering::Relaxed)).unwrap_or(0);
    let argv = ARGV.load(Ordering::Relaxed);
    if argv.is_null() || argc < 2 {
        return;
    }
    // SAFETY: glibc's argv: argc pointers to NUL-terminated strings in the process's argument
    // area, which stays mapped and writable for the life of the process.
    let args: Vec<*mut c_char> = (1..argc).map(|i| unsafe { *argv.add(i) }).collect();
    let (lens, picked) = {
        let bytes: Vec<&[u8]> = args
            .iter()
            .map(|p| {
                if p.is_null() {
                    &[][..]
                } else {
                    // SAFETY: as above.
                    unsafe { CStr::from_ptr(*p) }.to_bytes()
                }
            })
            .collect();
        let picked = select(&bytes);
        (bytes.iter().map(|b| b.len()).collect::<Vec<_>>(), picked)
    };
    // The borrows of the arguments have ended: now their bytes may be written.
    for (index, offset) in picked {
        let (Some(&arg), Some(&len)) = (args.get(index), lens.get(index)) else {
            continue;
        };
        if offset < len {
            // SAFETY: zeroing bytes offset..len of a string that is len bytes long.
            unsafe { std::ptr::write_bytes(arg.add(offset), 0, len - offset) };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn the_arguments_are_captured_from_the_init_array() {
        // argv[0] at least, whatever the harness was given.
        assert!(ARGC.load(Ordering::Relaxed) >= 1);
        assert!(!ARGV.load(Ordering::Relaxed).is_null());
        let mut seen: Vec<Vec<u8>> = Vec::new();
        // Picks nothing (and something out of range): no byte is written.
        zero_argument_tails(|args| {
            seen = args.iter().map(|a| a.to_vec()).collect();
            vec![(usize::MAX, 0)]
        });
        let want: Vec<Vec<u8>> = std::env::args_os()
            .skip(1)
            .map(|a| a.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, want);
    }
}
