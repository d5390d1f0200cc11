//! A program's C `main`, for a program built `#![no_main]`: the launcher, which every torified
//! command starts and whose start-up is counted in page faults.
//!
//! std's own start (`lang_start`) is cheap in instructions but not in pages: to guard the main
//! thread's stack it asks glibc for the stack's extent, which reads /proc/self/maps with stdio
//! and sscanf, then installs a signal stack and handlers. In the static launcher that was 19 of
//! its page faults and 0.36 ms of `torify true` (measured against the same launcher built this
//! way, 1000 interleaved runs). What it costs to go without: a stack overflow ends the launcher
//! with a plain SIGSEGV rather than std's message; the main thread has no name; and the
//! launcher keeps the SIGPIPE disposition it inherited, where std's start ignores SIGPIPE (a
//! write to a closed pipe ends it, as it ends a C program). The command it starts gets
//! SIGPIPE at its default either way: std's exec sets it back.
//! Arguments still reach `std::env::args` (glibc gives them to std's `.init_array` entry); a
//! panic still prints its message and ends the program with status 101, as std's start does.

/// Defines `main` to call `$main` (a `fn() -> u8`: the exit status) through [`run`].
#[macro_export]
macro_rules! entry {
    ($main:expr) => {
        /// The C entry point (torify_sys::entry).
        #[unsafe(no_mangle)]
        extern "C" fn main(
            _argc: ::core::ffi::c_int,
            _argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            $crate::entry::run($main)
        }
    };
}

/// Runs `main`, then exits with its status through `std::process::exit`, which flushes stdout
/// as std's start would; a panic exits with 101.
pub fn run(main: fn() -> u8) -> ! {
    match std::panic::catch_unwind(main) {
        Ok(code) => std::process::exit(i32::from(code)),
        Err(_) => std::process::exit(101),
    }
}
