//! The exported libc functions, one file per family. Each converts its C arguments, asks
//! `torify_core` (policy, dns), and acts: call the real function, proxy, or refuse.

mod alias;
mod close;
mod connect;
mod dlsym;
mod dup;
mod exec;
mod getaddrinfo;
mod getaddrinfo_a;
mod gethostbyaddr;
mod gethostbyname;
mod getnameinfo;
mod getpeername;
mod hostid;
mod inbound;
mod pidfd;
mod rcmd;
mod recv;
mod res;
mod rpc;
mod send;
mod socket;
mod stdio;
mod syscall;
pub(crate) mod table;
mod write;

/// The instruction that jumps to `{target}` keeping the caller's registers, stack and return
/// address, for naked trampolines.
#[cfg(target_arch = "x86_64")]
macro_rules! tail_jump {
    () => {
        "jmp {target}"
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! tail_jump {
    () => {
        "b {target}"
    };
}
use tail_jump;
