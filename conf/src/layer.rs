//! One source's settings (a file, the environment or the flags), before they are merged.

use std::collections::BTreeMap;

use crate::error::{ConfError, Origin};
use crate::keys::{Key, Value, key_info, parse_value};
use crate::model::Isolation;
use crate::raw::Raw;

/// The values one source sets, each with where it came from.
#[derive(Debug, Default)]
pub(crate) struct Layer {
    pub(crate) values: BTreeMap<Key, (Value, Origin)>,
    /// The `[arti]` table (files only).
    pub(crate) arti: Option<crate::arti::ArtiSettings>,
}

impl Layer {
    /// Checks and records one value; `name` is the setting's name in this source (for the fix).
    pub(crate) fn set(
        &mut self,
        key: Key,
        raw: Raw<'_>,
        origin: Origin,
        name: &str,
    ) -> Result<(), ConfError> {
        let expects = key_info(key).expects;
        // A list's entry has its own position in a file, and may have its own fix.
        let value = parse_value(key, raw).map_err(|e| {
            let at = match (raw, e.index) {
                (Raw::List(items), Some(i)) => items.get(i).map(|(_, at)| at.clone()),
                _ => None,
            };
            ConfError::new(
                at.unwrap_or_else(|| origin.clone()),
                format!("{name} {}", e.problem),
                e.fix.unwrap_or_else(|| format!("set {name} to {expects}")),
            )
        })?;
        // IsolatePID is torsocks' spelling of two isolation modes.
        let (key, value) = match (key, value) {
            (Key::IsolatePid, Value::Flag(on)) => (
                Key::Isolation,
                Value::Isolation(if on {
                    Isolation::Process
                } else {
                    Isolation::None
                }),
            ),
            other => other,
        };
        if let Some((_, first)) = self.values.get(&key) {
            return Err(ConfError::new(
                origin,
                format!("{name} is set a second time (first at {first})"),
                "keep only one of them",
            ));
        }
        self.values.insert(key, (value, origin));
        Ok(())
    }

    /// Within one source, explicit credentials and an isolation mode contradict each other:
    /// credentials pick the circuit themselves (torsocks refuses SOCKS5Username with IsolatePID).
    pub(crate) fn check_consistent(&self) -> Result<(), ConfError> {
        let isolation = match self.values.get(&Key::Isolation) {
            Some((Value::Isolation(mode), origin)) if *mode != Isolation::None => (mode, origin),
            _ => return Ok(()),
        };
        for key in [Key::Username, Key::Password] {
            if let Some((_, origin)) = self.values.get(&key) {
                return Err(ConfError::new(
                    origin.clone(),
                    format!(
                        "SOCKS credentials and isolation mode {} (set at {}) are both given",
                        isolation.0, isolation.1
                    ),
                    "credentials already choose the circuit: remove either the username/password or the isolation setting",
                ));
            }
        }
        Ok(())
    }
}
