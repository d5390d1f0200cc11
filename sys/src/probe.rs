//! System calls that the kernel filter's tests make, to see the filter answer them: each asks
//! and changes nothing, whatever the answer.

use std::io;

/// io_uring_setup(2) for one entry with no parameters (a null pointer): the kernel can only
/// answer EFAULT, unless something before it (a seccomp filter) answers first.
pub fn io_uring_setup_without_params() -> io::Result<()> {
    // SAFETY: the null parameters pointer is never dereferenced by us; the kernel checks it.
    let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if let Ok(fd) = i32::try_from(r) {
        // SAFETY: a descriptor the kernel just gave us, which nothing else owns.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    }
    Ok(())
}

/// getpid(2) through the x32 system call ABI (its number with __X32_SYSCALL_BIT): ENOSYS
/// from a kernel without x32, and from the filters.
#[cfg(target_arch = "x86_64")]
pub fn getpid_x32() -> io::Result<()> {
    // SAFETY: getpid takes no arguments and changes nothing, through either ABI.
    let r = unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_uring_setup_without_params_is_refused() {
        let e = io_uring_setup_without_params().unwrap_err();
        // EFAULT; ENOSYS or EPERM where io_uring is off (kernel.io_uring_disabled).
        assert!(
            [libc::EFAULT, libc::ENOSYS, libc::EPERM].contains(&e.raw_os_error().unwrap()),
            "{e}"
        );
    }
}
