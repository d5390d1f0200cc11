#![doc = include_str!("../README.md")]

#[cfg(feature = "argv")]
pub mod argv;
#[cfg(feature = "tokio")]
pub mod async_fd;
pub mod entry;
pub mod exec;
pub mod fd;
pub mod netdev;
pub mod probe;
pub mod process;
pub mod signal;
