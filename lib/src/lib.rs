#![doc = include_str!("../README.md")]

mod answer;
mod elfsym;
mod environ;
mod fdpass;
mod fdstate;
mod forksafe;
mod guard;
mod hooks;
mod inherited;
mod isolation;
mod libc_sym;
mod log;
mod names;
mod names_table;
mod netdb;
mod pending;
mod proxy;
mod registry;
mod resolve;
mod runtime;
mod sockaddr;
mod spawn;
mod sys;
mod system;
