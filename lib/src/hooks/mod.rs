//! The exported libc functions, one file per family. Each converts its C arguments, asks
//! `torify_core` (policy, dns), and acts: call the real function, proxy, or refuse.

mod close;
mod connect;
mod dup;
mod exec;
mod getaddrinfo;
mod getaddrinfo_a;
mod gethostbyaddr;
mod gethostbyname;
mod getnameinfo;
mod getpeername;
mod inbound;
mod rcmd;
mod recv;
mod res;
mod send;
mod socket;
mod syscall;
