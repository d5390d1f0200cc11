//! Every function this library exports, by name: what dlsym(3) hands out for those names
//! (`dlsym`), and the list the workspace's clippy configuration forbids calling through
//! `libc::` from inside the library (a test keeps the three in step with the symbols
//! libtorify.so really exports).

use super::*;

/// What a lookup of a name gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not ours: libc answers.
    Free,
    /// One of our hooks, at this address.
    Hooked(usize),
    /// A libc internal that resolves names or sends (or finds functions that do): nothing.
    Withheld,
}

/// Prefixes of the libc internals dlsym never hands out.
const WITHHELD: [&str; 7] = [
    "__res_context_",
    "_nss_dns_",
    "__libc_dlsym",
    "__libc_dlvsym",
    "_dl_sym",
    "_dl_vsym",
    "__nss_hosts_lookup",
];

/// Defines [`HOOKED`] and [`lookup`] from one list.
macro_rules! hook_table {
    ($($module:ident :: { $($name:ident),* $(,)? })*) => {
        /// The names of every exported hook.
        #[cfg(test)]
        pub(crate) const HOOKED: &[&str] = &[$($(stringify!($name)),*),*];

        /// What dlsym gives for `name`.
        pub(crate) fn lookup(name: &[u8]) -> Lookup {
            $($(
                if name == stringify!($name).as_bytes() {
                    return Lookup::Hooked($module::$name as *const () as usize);
                }
            )*)*
            if WITHHELD.iter().any(|p| name.starts_with(p.as_bytes())) {
                return Lookup::Withheld;
            }
            Lookup::Free
        }
    };
}

hook_table! {
    alias::{
        __connect, __socket, __send, __sendmmsg, __recv, __read, __read_nocancel, __write,
        __write_nocancel, __close, __close_nocancel, __dup2, __fcntl, __libc_fcntl64,
        __libc_system, res_gethostbyname, res_gethostbyname2, res_gethostbyaddr,
    }
    close::{close}
    connect::{connect}
    dlsym::{dlsym, dlvsym}
    dup::{dup, dup2, dup3, fcntl, fcntl64, close_range, closefrom}
    exec::{
        execve, execv, execvp, execvpe, execveat, fexecve, execl, execlp, execle, posix_spawn,
        posix_spawnp, system, popen,
    }
    getaddrinfo::{getaddrinfo}
    getaddrinfo_a::{getaddrinfo_a, gai_error, gai_suspend, gai_cancel}
    gethostbyaddr::{gethostbyaddr, gethostbyaddr_r}
    gethostbyname::{gethostbyname, gethostbyname2, gethostbyname_r, gethostbyname2_r}
    getnameinfo::{getnameinfo}
    getpeername::{getpeername}
    hostid::{gethostid}
    inbound::{listen, accept, accept4}
    pidfd::{pidfd_getfd}
    rcmd::{
        rcmd, rcmd_af, rexec, rexec_af, ruserok, ruserok_af, iruserok, iruserok_af,
        __ivaliduser,
    }
    recv::{
        read, __read_chk, readv, recv, __recv_chk, recvfrom, __recvfrom_chk, recvmsg, recvmmsg,
    }
    res::{
        res_query, __res_query, res_search, __res_search, res_nquery, __res_nquery,
        res_nsearch, __res_nsearch, res_querydomain, __res_querydomain, res_nquerydomain,
        __res_nquerydomain, res_send, __res_send, res_nsend, __res_nsend,
    }
    rpc::{
        clnt_create, clnttcp_create, clntudp_create, clntudp_bufcreate,
        __libc_clntudp_bufcreate, callrpc, clnt_broadcast, pmap_getport, __libc_rpc_getport,
        pmap_getmaps, pmap_rmtcall, pmap_set, pmap_unset, getrpcport, rtime, authdes_create,
        authdes_pk_create, registerrpc, svcudp_create, svcudp_bufcreate, svctcp_create,
        svc_register,
    }
    send::{sendto, sendmsg, sendmmsg}
    socket::{socket}
    stdio::{fdopen, fclose}
    syscall::{syscall}
    write::{
        write, writev, send, sendfile, sendfile64, pwritev2, pwritev64v2, preadv2, preadv64v2,
        splice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_found_by_name_and_internals_withheld() {
        assert_eq!(
            lookup(b"connect"),
            Lookup::Hooked(connect::connect as *const () as usize)
        );
        assert_eq!(
            lookup(b"__connect"),
            Lookup::Hooked(alias::__connect as *const () as usize)
        );
        assert_eq!(lookup(b"_nss_dns_gethostbyname4_r"), Lookup::Withheld);
        assert_eq!(lookup(b"__libc_dlsym"), Lookup::Withheld);
        assert_eq!(lookup(b"printf"), Lookup::Free);
        assert_eq!(lookup(b"connectx"), Lookup::Free);
    }

    /// Hooks the libc crate does not declare, so clippy cannot be told to forbid them.
    const NOT_IN_LIBC_CRATE: &str = "__connect __socket __send __sendmmsg __recv __read \
        __read_nocancel __write __write_nocancel __close __close_nocancel __dup2 __fcntl \
        __libc_fcntl64 __libc_system fcntl64 getaddrinfo_a gai_error gai_suspend gai_cancel \
        gethostbyaddr gethostbyaddr_r res_gethostbyaddr gethostbyname gethostbyname2 \
        gethostbyname_r gethostbyname2_r res_gethostbyname res_gethostbyname2 pidfd_getfd rcmd \
        rcmd_af rexec rexec_af ruserok ruserok_af iruserok iruserok_af __ivaliduser __read_chk \
        __recv_chk __recvfrom_chk res_query __res_query res_search __res_search res_nquery \
        __res_nquery res_nsearch __res_nsearch res_querydomain __res_querydomain \
        res_nquerydomain __res_nquerydomain res_send __res_send res_nsend __res_nsend \
        clnt_create clnttcp_create clntudp_create clntudp_bufcreate __libc_clntudp_bufcreate \
        callrpc clnt_broadcast pmap_getport __libc_rpc_getport pmap_getmaps pmap_rmtcall \
        pmap_set pmap_unset getrpcport rtime authdes_create authdes_pk_create registerrpc \
        svcudp_create svcudp_bufcreate svctcp_create svc_register closefrom";

    #[test]
    fn clippy_forbids_calling_every_hook_through_libc() {
        let clippy = include_str!("../../clippy.toml");
        let absent: Vec<&str> = NOT_IN_LIBC_CRATE.split_whitespace().collect();
        for name in HOOKED {
            let listed = clippy.contains(&format!("\"libc::{name}\""));
            assert!(
                listed != absent.contains(name),
                "{name}: list it in lib/clippy.toml's disallowed-methods if the libc crate declares it, else in NOT_IN_LIBC_CRATE"
            );
        }
    }

    #[test]
    fn no_name_is_listed_twice() {
        let mut names = HOOKED.to_vec();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
