//! A value as a source hands it over, before it is checked, and why one was refused: what
//! every source, the key table and the list readers (`direct`) share, kept apart from all of
//! them so that none depends on another for it.

use crate::error::Origin;

/// A value as a source hands it over, before it is checked.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Raw<'a> {
    /// Text from the environment, a flag or a torsocks.conf line: numbers come as text.
    Text(&'a str),
    /// A TOML string.
    TomlStr(&'a str),
    /// A TOML integer.
    Int(i64),
    /// A TOML boolean.
    Bool(bool),
    /// Some other TOML type (its name).
    Other(&'static str),
    /// A TOML array: each item with where it is, so an error can point at the item.
    List(&'a [(Raw<'a>, Origin)]),
}

/// Why a value (or one entry of a list) was refused, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadEntry {
    /// Which entry of a list (`None`: the value as a whole).
    pub(crate) index: Option<usize>,
    /// What is wrong, starting with the value or entry as written.
    pub(crate) problem: String,
    /// How to fix it; `None`: set the key to what its row of [`KEYS`] expects.
    pub(crate) fix: Option<String>,
}

impl BadEntry {
    /// A refusal with a fix of its own.
    pub(crate) fn new(problem: String, fix: impl Into<String>) -> Self {
        BadEntry {
            index: None,
            problem,
            fix: Some(fix.into()),
        }
    }

    /// The same refusal, for entry `index` of a list.
    pub(crate) fn at(self, index: usize) -> Self {
        BadEntry {
            index: Some(index),
            ..self
        }
    }
}

impl From<String> for BadEntry {
    fn from(problem: String) -> Self {
        BadEntry {
            index: None,
            problem,
            fix: None,
        }
    }
}
