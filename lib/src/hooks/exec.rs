//! The exec family and posix_spawn: every child starts with LD_PRELOAD and torify's settings
//! (whatever environment the caller passes, even none), and programs the loader would start
//! without the library (setuid, setgid, file capabilities) are refused with EPERM.
//!
//! glibc implements execv, execvp, execl* and friends with internal calls to execve that no
//! preload sees, so each is intercepted here. The execl* functions are variadic: on x86_64 and
//! aarch64 Linux, variadic pointer arguments travel exactly where fixed ones would, so a fixed
//! signature of 31 argument slots reads them, up to the terminating NULL.

use std::ffi::CStr;

use libc::{c_char, c_int, pid_t};

use crate::environ::{self, with_child_env};
use crate::guard;
use crate::libc_sym::real;
use crate::spawn;

unsafe extern "C" {
    static environ: *const *const c_char;
}

/// The process's current environment array.
fn current_environ() -> *const *const c_char {
    // SAFETY: reading the libc global `environ` (a pointer).
    unsafe { environ }
}

/// Refuses an exec whose child could not be given the library.
fn unarmed() -> c_int {
    tracing::error!(
        "refused to start a program: this library's own path is unknown, so the child could not be torified"
    );
    guard::fail(libc::EPERM)
}

/// The outcome of a real exec call made with our environment.
fn outcome(ret: Option<Option<c_int>>) -> c_int {
    match ret {
        Some(Some(r)) => r,
        Some(None) => guard::unavailable(),
        None => unarmed(),
    }
}

/// execve with the path vetted.
///
/// # Safety
/// C contract of execve.
unsafe fn exec_vetted(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    if path.is_null() {
        return guard::fail(libc::EFAULT);
    }
    // SAFETY: non-null, NUL-terminated (C contract).
    if let Err(e) = spawn::vet(unsafe { CStr::from_ptr(path) }) {
        return guard::fail(e);
    }
    // SAFETY: the caller's arguments, with our environment.
    outcome(unsafe { with_child_env(envp, |env| real::execve(path, argv, env)) })
}

/// execvpe with the program vetted by a PATH search like libc's.
///
/// # Safety
/// C contract of execvpe.
unsafe fn execp_vetted(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    if file.is_null() {
        return guard::fail(libc::EFAULT);
    }
    // SAFETY: non-null, NUL-terminated (C contract).
    if let Err(e) = spawn::vet_search(unsafe { CStr::from_ptr(file) }) {
        return guard::fail(e);
    }
    // SAFETY: the caller's arguments, with our environment.
    outcome(unsafe { with_child_env(envp, |env| real::execvpe(file, argv, env)) })
}

/// execve(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    guard::hook("execve", libc::EPERM, || unsafe {
        exec_vetted(path, argv, envp)
    })
}

/// execv(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments.
    guard::hook("execv", libc::EPERM, || unsafe {
        exec_vetted(path, argv, current_environ())
    })
}

/// execvp(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
    // SAFETY: the caller's arguments.
    guard::hook("execvp", libc::EPERM, || unsafe {
        execp_vetted(file, argv, current_environ())
    })
}

/// execvpe(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    // SAFETY: the caller's arguments.
    guard::hook("execvpe", libc::EPERM, || unsafe {
        execp_vetted(file, argv, envp)
    })
}

/// execveat(2).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    flags: c_int,
) -> c_int {
    guard::hook("execveat", libc::EPERM, || {
        if let Err(e) = spawn::vet_at(dirfd, path, flags) {
            return guard::fail(e);
        }
        // SAFETY: the caller's arguments, with our environment.
        outcome(unsafe {
            with_child_env(envp, |env| real::execveat(dirfd, path, argv, env, flags))
        })
    })
}

/// fexecve(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    guard::hook("fexecve", libc::EPERM, || {
        if let Err(e) = spawn::vet_at(fd, std::ptr::null(), libc::AT_EMPTY_PATH) {
            return guard::fail(e);
        }
        // SAFETY: the caller's arguments, with our environment.
        outcome(unsafe { with_child_env(envp, |env| real::fexecve(fd, argv, env)) })
    })
}

/// The argument list of an execl-style call, NULL-terminated, and the slot after the NULL
/// (execle's envp). `None` when no NULL is among the slots.
fn collect(slots: &[*const c_char; 31]) -> Option<([*const c_char; 32], *const c_char)> {
    let end = slots.iter().position(|p| p.is_null())?;
    let mut argv = [std::ptr::null(); 32];
    argv[..end].copy_from_slice(&slots[..end]);
    Some((
        argv,
        slots.get(end + 1).copied().unwrap_or(std::ptr::null()),
    ))
}

fn too_many_arguments(name: &str) -> c_int {
    tracing::error!("refused {name}(): more than 31 arguments reach it; use execv instead");
    guard::fail(libc::E2BIG)
}

/// Defines an execl-style hook. The list is C varargs, which stable Rust cannot define: the
/// hook reads 31 pointer slots after the first argument (on x86_64 and aarch64 they travel as
/// fixed arguments would) and stops at the NULL; `$argv` and `$envp` are what `collect` found.
macro_rules! list_exec {
    ($(#[$doc:meta])* $name:ident($first:ident), |$argv:ident, $envp:pat_param| $call:expr) => {
        $(#[$doc])*
        #[unsafe(no_mangle)]
        unsafe extern "C" fn $name(
            $first: *const c_char,
            a0: *const c_char,
            a1: *const c_char,
            a2: *const c_char,
            a3: *const c_char,
            a4: *const c_char,
            a5: *const c_char,
            a6: *const c_char,
            a7: *const c_char,
            a8: *const c_char,
            a9: *const c_char,
            a10: *const c_char,
            a11: *const c_char,
            a12: *const c_char,
            a13: *const c_char,
            a14: *const c_char,
            a15: *const c_char,
            a16: *const c_char,
            a17: *const c_char,
            a18: *const c_char,
            a19: *const c_char,
            a20: *const c_char,
            a21: *const c_char,
            a22: *const c_char,
            a23: *const c_char,
            a24: *const c_char,
            a25: *const c_char,
            a26: *const c_char,
            a27: *const c_char,
            a28: *const c_char,
            a29: *const c_char,
            a30: *const c_char,
        ) -> c_int {
            guard::hook(stringify!($name), libc::EPERM, || {
                match collect(&[a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30]) {
                    // SAFETY: the caller's arguments (execle: the slot after the NULL is envp).
                    Some(($argv, $envp)) => unsafe { $call },
                    None => too_many_arguments(stringify!($name)),
                }
            })
        }
    };
}

list_exec!(
    /// execl(3).
    ///
    /// # Safety
    /// C contract: a NULL-terminated list of NUL-terminated strings.
    execl(path),
    |argv, _| exec_vetted(path, argv.as_ptr(), current_environ())
);

list_exec!(
    /// execlp(3).
    ///
    /// # Safety
    /// C contract: a NULL-terminated list of NUL-terminated strings.
    execlp(file),
    |argv, _| execp_vetted(file, argv.as_ptr(), current_environ())
);

list_exec!(
    /// execle(3).
    ///
    /// # Safety
    /// C contract: a NULL-terminated list of NUL-terminated strings, then envp.
    execle(path),
    |argv, envp| exec_vetted(path, argv.as_ptr(), envp.cast())
);

/// The error number posix_spawn returns for an exec outcome.
fn spawn_outcome(ret: Option<Option<c_int>>) -> c_int {
    match ret {
        Some(Some(r)) => r,
        Some(None) => libc::ENOSYS,
        None => {
            unarmed();
            libc::EPERM
        }
    }
}

/// posix_spawn(3): returns an error number instead of setting errno.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    guard::catch(
        "posix_spawn",
        || libc::EPERM,
        || {
            if path.is_null() {
                return libc::EFAULT;
            }
            // SAFETY: non-null, NUL-terminated.
            if let Err(e) = spawn::vet(unsafe { CStr::from_ptr(path) }) {
                return e;
            }
            // SAFETY: the caller's arguments, with our environment.
            spawn_outcome(unsafe {
                with_child_env(envp.cast(), |env| {
                    real::posix_spawn(pid, path, actions, attr, argv, env.cast())
                })
            })
        },
    )
}

/// posix_spawnp(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    guard::catch(
        "posix_spawnp",
        || libc::EPERM,
        || {
            if file.is_null() {
                return libc::EFAULT;
            }
            // SAFETY: non-null, NUL-terminated.
            if let Err(e) = spawn::vet_search(unsafe { CStr::from_ptr(file) }) {
                return e;
            }
            // SAFETY: the caller's arguments, with our environment.
            spawn_outcome(unsafe {
                with_child_env(envp.cast(), |env| {
                    real::posix_spawnp(pid, file, actions, attr, argv, env.cast())
                })
            })
        },
    )
}

/// system(3): starts `sh -c` from the process's environment, so that environment is made to
/// carry torify again first (the shell vets what it runs itself).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn system(command: *const c_char) -> c_int {
    guard::catch(
        "system",
        || -1,
        || {
            if !command.is_null() {
                environ::repair();
            }
            // SAFETY: the caller's argument.
            unsafe { real::system(command) }.unwrap_or(-1)
        },
    )
}

/// popen(3): as system.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    guard::catch("popen", std::ptr::null_mut, || {
        environ::repair();
        // SAFETY: the caller's arguments.
        unsafe { real::popen(command, mode) }.unwrap_or(std::ptr::null_mut())
    })
}
