//! The kernel filter of default mode: before the command starts, a seccomp filter refuses in
//! the kernel what the library refuses in userspace and a torified program never needs:
//! sockets Tor cannot carry (UDP, raw, packet, and the families other than unix, netlink,
//! the kernel crypto API and TCP/IP) and io_uring. What the library cannot see — liburing's
//! own system calls, a static helper a script starts, libc's internal DNS sockets — gets the
//! same answer from the kernel. Filters are inherited by every child and can only tighten.
//!
//! Built with seccompiler (rust-vmm, pure Rust, used by Firecracker) rather than libseccomp,
//! which needs the C library's development files to build and compiles its BPF with malloc at
//! load time (not safe between fork and exec). seccompiler gives one errno per filter, so each
//! errno is a filter of its own (the kernel runs them all and the strictest answer wins), and
//! it does not know the x32 ABI, so a small hand-written filter refuses those system call
//! numbers. A system call of another architecture (int 0x80 from a 64-bit process) ends the
//! process: seccompiler's filters check the architecture first.
//!
//! The filter sets PR_SET_NO_NEW_PRIVS (the kernel requires it of an unprivileged process):
//! set-ID programs then run without their privilege. torify refuses those programs anyway
//! unless `allow.privileged_exec`; with that setting a non-root launcher installs no filter.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch, sock_filter,
};
use torify_conf::{Localhost, Settings};

/// The compiled filters, made before fork (compiling allocates); installed in the child.
#[derive(Clone)]
pub(crate) struct Filters(Vec<BpfProgram>);

#[cfg(target_arch = "x86_64")]
const ARCH: TargetArch = TargetArch::x86_64;
#[cfg(target_arch = "aarch64")]
const ARCH: TargetArch = TargetArch::aarch64;

/// Families a torified program may open sockets of (the library's `is_local_family`, plus the
/// internet families whose types are judged by the next filter).
const FAMILIES: [i32; 5] = [
    libc::AF_UNIX,
    libc::AF_NETLINK,
    libc::AF_ALG,
    libc::AF_INET,
    libc::AF_INET6,
];

fn arg(index: u8, op: SeccompCmpOp, value: i32) -> Result<SeccompCondition, String> {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value as u32 as u64)
        .map_err(|e| e.to_string())
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| e.to_string())
}

/// A filter that answers `errno` to the system calls `rules` match and lets the rest through.
fn refusing(errno: i32, rules: Vec<(i64, Vec<SeccompRule>)>) -> Result<BpfProgram, String> {
    let map: BTreeMap<i64, Vec<SeccompRule>> = rules.into_iter().collect();
    SeccompFilter::new(
        map,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        ARCH,
    )
    .and_then(TryInto::try_into)
    .map_err(|e| e.to_string())
}

/// Families whose sockets a network namespace confines: in the cage they can only reach its
/// TUN device and its loopback. Any other family (vsock to the hypervisor, Bluetooth, CAN, …)
/// would reach past the cage.
const CAGED_FAMILIES: [i32; 6] = [
    libc::AF_UNIX,
    libc::AF_NETLINK,
    libc::AF_ALG,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_PACKET,
];

/// socket() of a family outside [`FAMILIES`]: EAFNOSUPPORT, as the library answers.
fn families() -> Result<BpfProgram, String> {
    families_of(&FAMILIES)
}

fn families_of(allowed: &[i32]) -> Result<BpfProgram, String> {
    let not_listed = allowed
        .iter()
        .map(|f| arg(0, SeccompCmpOp::Ne, *f))
        .collect::<Result<Vec<_>, _>>()?;
    refusing(
        libc::EAFNOSUPPORT,
        vec![(libc::SYS_socket, vec![rule(not_listed)?])],
    )
}

/// socket() of an internet type other than a stream (and a datagram at level 2): EPERM.
fn types(udp_allowed: bool) -> Result<BpfProgram, String> {
    let mut rules = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        for ty in 0..16 {
            if ty == libc::SOCK_STREAM || (udp_allowed && ty == libc::SOCK_DGRAM) {
                continue;
            }
            rules.push(rule(vec![
                arg(0, SeccompCmpOp::Eq, family)?,
                arg(1, SeccompCmpOp::MaskedEq(0xf), ty)?,
            ])?);
        }
    }
    refusing(libc::EPERM, vec![(libc::SYS_socket, rules)])
}

/// A stream socket of a protocol other than TCP (SCTP, MPTCP): EPROTONOSUPPORT.
fn protocols() -> Result<BpfProgram, String> {
    let mut rules = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        rules.push(rule(vec![
            arg(0, SeccompCmpOp::Eq, family)?,
            arg(1, SeccompCmpOp::MaskedEq(0xf), libc::SOCK_STREAM)?,
            arg(2, SeccompCmpOp::Ne, 0)?,
            arg(2, SeccompCmpOp::Ne, libc::IPPROTO_TCP)?,
        ])?);
    }
    refusing(libc::EPROTONOSUPPORT, vec![(libc::SYS_socket, rules)])
}

/// io_uring: ENOSYS, so programs fall back to ordinary calls the library sees.
fn io_uring() -> Result<BpfProgram, String> {
    refusing(
        libc::ENOSYS,
        vec![
            (libc::SYS_io_uring_setup, vec![]),
            (libc::SYS_io_uring_enter, vec![]),
            (libc::SYS_io_uring_register, vec![]),
        ],
    )
}

/// x32 system calls (numbers with bit 30 set, on the x86_64 architecture): ENOSYS. Other
/// architectures pass here; seccompiler's filters end them.
#[cfg(target_arch = "x86_64")]
fn x32() -> BpfProgram {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_BIT: u32 = 0x4000_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        // seccomp_data: nr at 0, arch at 4.
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 3, AUDIT_ARCH_X86_64),
        op(LD_W_ABS, 0, 0, 0),
        op(JGE_K, 0, 1, X32_BIT),
        op(RET_K, 0, 0, RET_ERRNO | libc::ENOSYS as u32),
        op(RET_K, 0, 0, RET_ALLOW),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn x32() -> BpfProgram {
    Vec::new()
}

impl Filters {
    /// The filters for these settings, or `None` when none is installed (allow.privileged_exec
    /// without root: no-new-privs would stop set-ID programs gaining their privilege).
    pub(crate) fn for_settings(settings: &Settings) -> Result<Option<Filters>, String> {
        if settings.allow_privileged_exec && !rustix::process::geteuid().is_root() {
            return Ok(None);
        }
        let udp = settings.allow_outbound_localhost == Localhost::TcpUdp;
        let mut programs = vec![families()?, types(udp)?, protocols()?, io_uring()?];
        let x32 = x32();
        if !x32.is_empty() {
            programs.push(x32);
        }
        Ok(Some(Filters(programs)))
    }

    /// The cage's filter (`--strict`): only the families a network namespace confines; UDP,
    /// raw sockets and io_uring stay allowed, since in the cage they can only reach the TUN
    /// device. x32 system calls are refused (they would slip past the family filter).
    pub(crate) fn for_cage() -> Result<Filters, String> {
        let mut programs = vec![families_of(&CAGED_FAMILIES)?];
        let x32 = x32();
        if !x32.is_empty() {
            programs.push(x32);
        }
        Ok(Filters(programs))
    }

    /// Installs the filters on the calling thread. Allocates nothing: safe between fork and
    /// exec.
    pub(crate) fn install(&self) -> std::io::Result<()> {
        for program in &self.0 {
            seccompiler::apply_filter(program).map_err(|e| match e {
                seccompiler::Error::Prctl(e) | seccompiler::Error::Seccomp(e) => e,
                _ => std::io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_within_the_kernel_limit() {
        for level in [Localhost::Deny, Localhost::TcpUdp] {
            let s = Settings {
                allow_outbound_localhost: level,
                ..Settings::default()
            };
            let filters = Filters::for_settings(&s).unwrap().unwrap();
            assert_eq!(
                filters.0.len(),
                if cfg!(target_arch = "x86_64") { 5 } else { 4 }
            );
            for p in &filters.0 {
                assert!(!p.is_empty() && p.len() < 4096, "{} instructions", p.len());
            }
        }
    }

    #[test]
    fn a_filtered_child_gets_the_library_s_answers_from_the_kernel() {
        // Runs in a forked child so the filter does not stay on the test process.
        let s = Settings::default();
        let filters = Filters::for_settings(&s).unwrap().unwrap();
        // SAFETY: fork in a test; the child only makes system calls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = (|| {
                if filters.install().is_err() {
                    return 1;
                }
                let errno = |domain, ty, proto| {
                    // SAFETY: socket takes no pointers.
                    let fd = unsafe { libc::socket(domain, ty, proto) };
                    if fd >= 0 {
                        // SAFETY: our own descriptor.
                        unsafe { libc::close(fd) };
                        0
                    } else {
                        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
                    }
                };
                let rows = [
                    (libc::AF_INET, libc::SOCK_STREAM, 0, 0),
                    (
                        libc::AF_INET6,
                        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                        libc::IPPROTO_TCP,
                        0,
                    ),
                    (libc::AF_UNIX, libc::SOCK_DGRAM, 0, 0),
                    (libc::AF_NETLINK, libc::SOCK_RAW, 0, 0),
                    (libc::AF_INET, libc::SOCK_DGRAM, 0, libc::EPERM),
                    (
                        libc::AF_INET6,
                        libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
                        0,
                        libc::EPERM,
                    ),
                    (
                        libc::AF_INET,
                        libc::SOCK_RAW,
                        libc::IPPROTO_ICMP,
                        libc::EPERM,
                    ),
                    (
                        libc::AF_INET,
                        libc::SOCK_STREAM,
                        libc::IPPROTO_SCTP,
                        libc::EPROTONOSUPPORT,
                    ),
                    (libc::AF_PACKET, libc::SOCK_RAW, 0, libc::EAFNOSUPPORT),
                    (libc::AF_BLUETOOTH, libc::SOCK_STREAM, 0, libc::EAFNOSUPPORT),
                ];
                for (i, (d, t, p, want)) in rows.iter().enumerate() {
                    if errno(*d, *t, *p) != *want {
                        return 10 + i as i32;
                    }
                }
                // SAFETY: io_uring_setup with a null params pointer only asks the kernel.
                let r = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, 0) };
                if r != -1 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS) {
                    return 2;
                }
                #[cfg(target_arch = "x86_64")]
                {
                    // SAFETY: an x32 getpid, refused by the filter before the kernel looks.
                    let r = unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
                    if r != -1
                        || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
                    {
                        return 3;
                    }
                }
                0
            })();
            // SAFETY: leaving the forked child without running the test harness's atexit.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child status {status}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "row that failed: exit code - 10"
        );
    }
}
