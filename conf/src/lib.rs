#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod arti;
mod cidr;
mod direct;
mod error;
mod keys;
mod layer;
mod load;
mod model;
mod raw;
mod secret;
mod show;
mod source;

pub use arti::{ArtiSettings, Authority, Fallback, PrivateNetwork};
pub use direct::DirectNet;
pub use error::{ConfError, Origin};
pub use keys::{ADDRESS_VARIABLE, KEYS, Key, KeyInfo, LOG_LEVEL_VARIABLE, key_info};
pub use load::{
    FILE_VARIABLES, FlagValue, Loaded, SESSION_VARIABLE, SYSTEM_FILES, Sources, check_file,
    check_text, load, load_for_diagnosis,
};
pub use model::{
    Backend, Credentials, DnsMode, Ipv4Net, Isolation, Localhost, LogLevel, LogSettings, Settings,
    SocksEndpoint, SystemSettings, TorAddress,
};
pub use secret::{MASK, Secret};
pub use show::render;

#[cfg(test)]
mod tests;
