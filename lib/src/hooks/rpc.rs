//! libc's Sun RPC (the compatibility symbols old binaries bind with `name@GLIBC_2.2.5`):
//! clients, the portmapper, rtime and the server side open their sockets, send UDP (:111, :37,
//! broadcasts) and resolve host names inside libc, where no hook sees them. Every entry point
//! that can reach the network is refused; the ones that stay on the machine (unix-socket and
//! in-memory clients, keyserv, XDR) are left alone. libtirpc, the maintained RPC library, calls
//! socket/connect/sendto through the dynamic linker and is judged call by call instead.

use std::ffi::c_void;

use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_ushort, sockaddr_in, timeval};

use crate::libc_sym;
use crate::{guard, log};

/// RPC_SYSTEMERROR of `enum clnt_stat`.
const RPC_SYSTEMERROR: c_int = 12;

/// glibc's `struct rpc_err`.
#[repr(C)]
struct RpcErr {
    status: c_int,
    detail: [c_long; 2],
}

/// glibc's `struct rpc_createerr` (what clnt_pcreateerror(3) prints).
#[repr(C)]
struct RpcCreateErr {
    stat: c_int,
    error: RpcErr,
}

/// Says why, and sets errno and rpc_createerr as a failed RPC call would.
fn refuse(what: &str) {
    log::refusal(
        torify_core::refusal::Kind::Rpc,
        &format_args!(
            "refused {what}(): libc's Sun RPC resolves, connects and sends UDP inside libc, out of torify's reach; no setting allows it"
        ),
    );
    let at = libc_sym::dlvsym(libc::RTLD_NEXT, c"__rpc_thread_createerr", c"GLIBC_2.2.5");
    if at != 0 {
        // SAFETY: libc's `struct rpc_createerr *__rpc_thread_createerr(void)`.
        let f: unsafe extern "C" fn() -> *mut RpcCreateErr = unsafe { std::mem::transmute(at) };
        // SAFETY: it returns this thread's rpc_createerr.
        if let Some(e) = unsafe { f().as_mut() } {
            e.stat = RPC_SYSTEMERROR;
            e.error.status = RPC_SYSTEMERROR;
            e.error.detail = [c_long::from(libc::EPERM), 0];
        }
    }
    guard::fail(libc::EPERM);
}

/// A refused entry point returning a pointer (a client, a server handle, a list): NULL.
fn null<T>(what: &str) -> *mut T {
    guard::catch(what, || (), || refuse(what));
    std::ptr::null_mut()
}

/// A refused entry point returning `enum clnt_stat`, a port, a bool_t or -1.
fn failed(what: &str, value: c_int) -> c_int {
    guard::catch(what, || (), || refuse(what));
    value
}

/// Defines refused entry points: `name(args) -> type = expression of the failure`.
macro_rules! refused {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $fail:expr;)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        /// C contract; refused without reading its arguments.
        #[unsafe(no_mangle)]
        pub(super) unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            crate::libc_sym::pass_if_exempt!(
                $name @ "GLIBC_2.2.5" ($($arg),*) as fn($($ty),*) -> $ret,
                or ($fail)(stringify!($name))
            );
            ($fail)(stringify!($name))
        }
    )*};
}

type Xdr = *const c_void;

refused! {
    /// clnt_create(3): a client of `host`, resolved and reached inside libc.
    clnt_create(host: *const c_char, prog: c_ulong, vers: c_ulong, proto: *const c_char) -> *mut c_void = null;
    /// clnttcp_create(3).
    clnttcp_create(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, sockp: *mut c_int, sendsz: c_uint, recvsz: c_uint) -> *mut c_void = null;
    /// clntudp_create(3).
    clntudp_create(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, wait: timeval, sockp: *mut c_int) -> *mut c_void = null;
    /// clntudp_bufcreate(3).
    clntudp_bufcreate(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, wait: timeval, sockp: *mut c_int, sendsz: c_uint, recvsz: c_uint) -> *mut c_void = null;
    /// glibc's private name of clntudp_bufcreate.
    __libc_clntudp_bufcreate(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, wait: timeval, sockp: *mut c_int, sendsz: c_uint, recvsz: c_uint, flags: c_int) -> *mut c_void = null;
    /// callrpc(3): one call to `host` over UDP.
    callrpc(host: *const c_char, prog: c_ulong, vers: c_ulong, proc_: c_ulong, inproc: Xdr, inp: *const c_char, outproc: Xdr, out: *mut c_char) -> c_int = |w| failed(w, RPC_SYSTEMERROR);
    /// clnt_broadcast(3): a UDP broadcast on every interface.
    clnt_broadcast(prog: c_ulong, vers: c_ulong, proc_: c_ulong, inproc: Xdr, inp: *mut c_char, outproc: Xdr, out: *mut c_char, each: *const c_void) -> c_int = |w| failed(w, RPC_SYSTEMERROR);
    /// pmap_getport(3): asks a portmapper (UDP :111); 0 is the failure.
    pmap_getport(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, proto: c_uint) -> c_ushort = |w| failed(w, 0) as c_ushort;
    /// glibc's private pmap_getport with a timeout.
    __libc_rpc_getport(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, proto: c_uint, timeout: c_long, total: c_long) -> c_ushort = |w| failed(w, 0) as c_ushort;
    /// pmap_getmaps(3).
    pmap_getmaps(addr: *mut sockaddr_in) -> *mut c_void = null;
    /// pmap_rmtcall(3).
    pmap_rmtcall(addr: *mut sockaddr_in, prog: c_ulong, vers: c_ulong, proc_: c_ulong, inproc: Xdr, inp: *mut c_char, outproc: Xdr, out: *mut c_char, tout: timeval, port: *mut c_ulong) -> c_int = |w| failed(w, RPC_SYSTEMERROR);
    /// pmap_set(3): registers with the local portmapper over UDP; FALSE.
    pmap_set(prog: c_ulong, vers: c_ulong, proto: c_int, port: c_ushort) -> c_int = |w| failed(w, 0);
    /// pmap_unset(3).
    pmap_unset(prog: c_ulong, vers: c_ulong) -> c_int = |w| failed(w, 0);
    /// getrpcport(3): resolves `host`, then asks its portmapper.
    getrpcport(host: *const c_char, prog: c_ulong, vers: c_ulong, proto: c_uint) -> c_int = |w| failed(w, 0);
    /// rtime(3): the time from `addr` (UDP or TCP :37); -1.
    rtime(addr: *mut sockaddr_in, timep: *mut c_void, timeout: *mut c_void) -> c_int = |w| failed(w, -1);
    /// authdes_create(3): DES credentials, synchronised by rtime with a time server.
    authdes_create(name: *const c_char, window: c_uint, syncaddr: *mut libc::sockaddr, key: *mut c_void) -> *mut c_void = null;
    /// authdes_pk_create(3).
    authdes_pk_create(name: *const c_char, pkey: *mut c_void, window: c_uint, syncaddr: *mut libc::sockaddr, key: *mut c_void) -> *mut c_void = null;
    /// registerrpc(3): a UDP server, registered with the portmapper.
    registerrpc(prog: c_ulong, vers: c_ulong, proc_: c_ulong, handler: *const c_void, inproc: Xdr, outproc: Xdr) -> c_int = |w| failed(w, -1);
    /// svcudp_create(3): a UDP server socket.
    svcudp_create(sock: c_int) -> *mut c_void = null;
    /// svcudp_bufcreate(3).
    svcudp_bufcreate(sock: c_int, sendsz: c_uint, recvsz: c_uint) -> *mut c_void = null;
    /// svctcp_create(3): a TCP listener bound and listening inside libc.
    svctcp_create(sock: c_int, sendsz: c_uint, recvsz: c_uint) -> *mut c_void = null;
}

/// svc_register(3): registering with a protocol tells the portmapper (UDP :111); without
/// one (0) it stays in the process.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn svc_register(
    xprt: *mut c_void,
    prog: c_ulong,
    vers: c_ulong,
    dispatch: *const c_void,
    protocol: c_ulong,
) -> c_int {
    if protocol != 0 && !crate::system::exempt() {
        return failed("svc_register", 0);
    }
    libc_sym::return_next!(
        svc_register @ "GLIBC_2.2.5" (xprt, prog, vers, dispatch, protocol)
            as fn(*mut c_void, c_ulong, c_ulong, *const c_void, c_ulong) -> c_int,
        or failed("svc_register", 0)
    )
}
