//! The exported libc functions, one file per family. Each converts its C arguments, asks
//! `torify_core` (policy, dns), and acts: call the real function, proxy, or refuse.

mod close;
mod connect;
mod getaddrinfo;
mod getaddrinfo_a;
mod gethostbyaddr;
mod gethostbyname;
mod getnameinfo;
mod getpeername;
mod rcmd;
mod res;
mod socket;
