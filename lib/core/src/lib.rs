#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod dns;
pub mod elf;
pub mod exec;
pub mod hex;
pub mod onion;
pub mod policy;
pub mod pool;
pub mod refusal;
pub mod socks5;
