#![doc = include_str!("../README.md")]

mod answer;
mod guard;
mod hooks;
mod isolation;
mod libc_sym;
mod log;
mod names;
mod netdb;
mod proxy;
mod registry;
mod resolve;
mod runtime;
mod sockaddr;
mod sys;
