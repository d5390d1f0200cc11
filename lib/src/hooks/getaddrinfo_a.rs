//! getaddrinfo_a(3) and its companions. glibc runs these lookups on helper threads calling its
//! internal getaddrinfo, which no preload can see; here every request is answered at once by
//! our getaddrinfo, and the completion notification is delivered as asked.

use libc::{addrinfo, c_char, c_int, c_void, sigevent, timespec};

use crate::guard;

/// struct gaicb (netdb.h).
#[repr(C)]
struct Gaicb {
    ar_name: *const c_char,
    ar_service: *const c_char,
    ar_request: *const addrinfo,
    ar_result: *mut addrinfo,
    ret: c_int,
    reserved: [c_int; 5],
}

const GAI_NOWAIT: c_int = 1;
const EAI_ALLDONE: c_int = -103;

/// Delivers the completion notification of `sevp` (signal, thread, or none).
///
/// # Safety
/// `sevp` points to a sigevent.
unsafe fn notify(sevp: *const sigevent) {
    // SAFETY: caller contract.
    let ev = unsafe { &*sevp };
    match ev.sigev_notify {
        libc::SIGEV_SIGNAL => {
            // SAFETY: sigqueue to ourselves with the caller's signal and value.
            let _ = unsafe { libc::sigqueue(libc::getpid(), ev.sigev_signo, ev.sigev_value) };
        }
        libc::SIGEV_THREAD => {
            // glibc's sigevent: value (8), signo (4), notify (4), then the thread function.
            // SAFETY: for SIGEV_THREAD that field holds a function pointer.
            let function: Option<extern "C" fn(libc::sigval)> =
                unsafe { std::ptr::read_unaligned(sevp.cast::<u8>().add(16).cast()) };
            let value = ev.sigev_value.sival_ptr as usize;
            if let Some(f) = function {
                std::thread::spawn(move || {
                    f(libc::sigval {
                        sival_ptr: value as *mut c_void,
                    })
                });
            }
        }
        _ => {}
    }
}

/// getaddrinfo_a(3).
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn getaddrinfo_a(
    mode: c_int,
    list: *mut *mut c_void,
    nitems: c_int,
    sevp: *mut sigevent,
) -> c_int {
    guard::catch(
        "getaddrinfo_a",
        || libc::EAI_SYSTEM,
        || {
            for i in 0..usize::try_from(nitems).unwrap_or(0) {
                // SAFETY: list holds nitems request pointers (caller contract).
                let req = unsafe { *list.add(i) }.cast::<Gaicb>();
                if req.is_null() {
                    continue;
                }
                // SAFETY: req is a gaicb; getaddrinfo is our own hook.
                unsafe {
                    (*req).ret = super::getaddrinfo::lookup_for_gaicb(
                        (*req).ar_name,
                        (*req).ar_service,
                        (*req).ar_request,
                        &mut (*req).ar_result,
                    );
                }
            }
            if mode == GAI_NOWAIT && !sevp.is_null() {
                // SAFETY: a sigevent from the caller.
                unsafe { notify(sevp) };
            }
            0
        },
    )
}

/// gai_error(3): the outcome stored in the request.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gai_error(req: *mut c_void) -> c_int {
    if req.is_null() {
        return libc::EAI_SYSTEM;
    }
    // SAFETY: a gaicb from the caller.
    unsafe { (*req.cast::<Gaicb>()).ret }
}

/// gai_suspend(3): every request completed before getaddrinfo_a returned.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gai_suspend(
    _list: *const *const c_void,
    _nitems: c_int,
    _timeout: *const timespec,
) -> c_int {
    0
}

/// gai_cancel(3): nothing is ever in progress.
///
/// # Safety
/// C contract.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn gai_cancel(_req: *mut c_void) -> c_int {
    EAI_ALLDONE
}
