//! The exec family and posix_spawn: every child starts with LD_PRELOAD and torify's settings
//! (whatever environment the caller passes, even none), and programs the loader would start
//! without the library (setuid, setgid, file capabilities) are refused with EPERM.
//!
//! glibc implements execv, execvp, execl* and friends with internal calls to execve that no
//! preload sees, so each is intercepted here. The execl* functions are variadic, which stable
//! Rust cannot define: a C shim reads their lists with va_arg (lib/shim/execl.c).

use std::ffi::CStr;

use libc::{c_char, c_int, pid_t};

use crate::environ::{self, with_child_env};
use crate::guard;
use crate::libc_sym::real;
use crate::log;
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
    log::error!(
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
    let arm = match spawn::vet(unsafe { CStr::from_ptr(path) }) {
        Ok(arm) => arm,
        Err(e) => return guard::fail(e),
    };
    // SAFETY: the caller's arguments, with our environment.
    outcome(unsafe { with_child_env(envp, arm, |env| real::execve(path, argv, env)) })
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
    let arm = match spawn::vet_search(unsafe { CStr::from_ptr(file) }) {
        Ok(arm) => arm,
        Err(e) => return guard::fail(e),
    };
    // SAFETY: the caller's arguments, with our environment.
    outcome(unsafe { with_child_env(envp, arm, |env| real::execvpe(file, argv, env)) })
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
pub(super) unsafe extern "C" fn execv(path: *const c_char, argv: *const *const c_char) -> c_int {
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
pub(super) unsafe extern "C" fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int {
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
pub(super) unsafe extern "C" fn execvpe(
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
        let arm = match spawn::vet_at(dirfd, path, flags) {
            Ok(arm) => arm,
            Err(e) => return guard::fail(e),
        };
        // SAFETY: the caller's arguments, with our environment.
        outcome(unsafe {
            with_child_env(envp, arm, |env| {
                real::execveat(dirfd, path, argv, env, flags)
            })
        })
    })
}

/// fexecve(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn fexecve(
    fd: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    guard::hook("fexecve", libc::EPERM, || {
        let arm = match spawn::vet_at(fd, std::ptr::null(), libc::AT_EMPTY_PATH) {
            Ok(arm) => arm,
            Err(e) => return guard::fail(e),
        };
        // SAFETY: the caller's arguments, with our environment.
        outcome(unsafe { with_child_env(envp, arm, |env| real::fexecve(fd, argv, env)) })
    })
}

/// Where an execl-style argument list arrives from the C shim (lib/shim/execl.c), which
/// reads the C varargs with va_arg: `which` is 0 for execl, 1 for execlp, 2 for execle.
///
/// # Safety
/// `path` and the NULL-terminated `argv` (and for execle, `envp`) as the exec functions take
/// them.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn __torify_exec_list(
    which: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    guard::hook("execl", libc::EPERM, || {
        // SAFETY: the caller's arguments, as the shim collected them.
        unsafe {
            match which {
                0 => exec_vetted(path, argv, current_environ()),
                1 => execp_vetted(path, argv, current_environ()),
                _ => exec_vetted(path, argv, envp),
            }
        }
    })
}

/// Defines an exported variadic exec function as a jump to its C shim: the caller's registers
/// and stack (the varargs) reach the shim untouched.
macro_rules! list_exec {
    ($(#[$doc:meta])* $name:ident => $shim:ident) => {
        unsafe extern "C" {
            fn $shim();
        }

        $(#[$doc])*
        ///
        /// # Safety
        /// C contract: a NULL-terminated list of NUL-terminated strings (execle: then envp).
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name() {
            core::arch::naked_asm!(super::tail_jump!(), target = sym $shim);
        }
    };
}

list_exec!(
    /// execl(3).
    execl => torify_shim_execl
);
list_exec!(
    /// execlp(3).
    execlp => torify_shim_execlp
);
list_exec!(
    /// execle(3).
    execle => torify_shim_execle
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

/// The body of posix_spawn and posix_spawnp, which return an error number instead of setting
/// errno: `vet` judges what would run, then `call` spawns it with the environment made to
/// carry torify.
///
/// # Safety
/// `path` null or NUL-terminated; `envp` the caller's; `call` the real function with the
/// caller's other arguments.
unsafe fn spawn_vetted(
    name: &str,
    path: *const c_char,
    envp: *const *mut c_char,
    vet: fn(&CStr) -> Result<spawn::Arm, c_int>,
    call: impl FnOnce(*const *mut c_char) -> Option<c_int>,
) -> c_int {
    guard::catch(
        name,
        || libc::EPERM,
        || {
            if path.is_null() {
                return libc::EFAULT;
            }
            // SAFETY: non-null, NUL-terminated (caller contract).
            let arm = match vet(unsafe { CStr::from_ptr(path) }) {
                Ok(arm) => arm,
                Err(e) => return e,
            };
            // SAFETY: the caller's environment, with ours.
            spawn_outcome(unsafe { with_child_env(envp.cast(), arm, |env| call(env.cast())) })
        },
    )
}

/// posix_spawn(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn posix_spawn(
    pid: *mut pid_t,
    path: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, to the real posix_spawn.
    unsafe {
        spawn_vetted("posix_spawn", path, envp, spawn::vet, |env| {
            real::posix_spawn(pid, path, actions, attr, argv, env)
        })
    }
}

/// posix_spawnp(3): the program is looked for on PATH.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn posix_spawnp(
    pid: *mut pid_t,
    file: *const c_char,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: *const *mut c_char,
    envp: *const *mut c_char,
) -> c_int {
    // SAFETY: the caller's arguments, to the real posix_spawnp.
    unsafe {
        spawn_vetted("posix_spawnp", file, envp, spawn::vet_search, |env| {
            real::posix_spawnp(pid, file, actions, attr, argv, env)
        })
    }
}

/// system(3): starts `sh -c` from the process's environment, so that environment is made to
/// carry torify again first (the shell vets what it runs itself).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn system(command: *const c_char) -> c_int {
    guard::catch(
        "system",
        || -1,
        || {
            if !command.is_null() {
                environ::repair();
            }
            // SAFETY: the caller's argument.
            unsafe { real::system(command) }.unwrap_or_else(guard::unavailable)
        },
    )
}

/// popen(3): as system.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn popen(
    command: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    guard::catch("popen", std::ptr::null_mut, || {
        environ::repair();
        // SAFETY: the caller's arguments.
        unsafe { real::popen(command, mode) }.unwrap_or_else(guard::unavailable_ptr)
    })
}
