#![doc = include_str!("../README.md")]

mod answer;
mod environ;
mod fdpass;
mod forksafe;
mod guard;
mod hooks;
mod isolation;
mod libc_sym;
mod log;
mod names;
mod netdb;
mod pending;
mod proxy;
mod registry;
mod resolve;
mod runtime;
mod sockaddr;
mod spawn;
mod sys;
