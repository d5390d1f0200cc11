//! The three places settings come from.

pub(crate) mod env;
pub(crate) mod legacy;
pub(crate) mod toml_file;
