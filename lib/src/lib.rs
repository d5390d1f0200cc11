#![doc = include_str!("../README.md")]

mod guard;
mod hooks;
mod isolation;
mod libc_sym;
mod log;
mod proxy;
mod registry;
mod runtime;
mod sockaddr;
mod sys;
