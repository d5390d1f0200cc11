//! The exported libc functions, one file per family. Each converts its C arguments, asks
//! `torify_core::policy`, and acts: call the real function, proxy, or refuse.

mod close;
mod connect;
mod getpeername;
mod socket;
