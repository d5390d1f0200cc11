//! The environment: the TORSOCKS_* variables torsocks(8) documents, and TORIFY_* for the rest.

use zeroize::Zeroize;

use crate::error::{ConfError, Origin};
use crate::keys::KEYS;
use crate::layer::Layer;
use crate::raw::Raw;

/// Reads every known variable through `lookup`; empty variables count as unset.
pub(crate) fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Layer, ConfError> {
    let mut layer = Layer::default();
    for info in KEYS {
        let Some(name) = info.env else { continue };
        let Some(mut value) = lookup(name) else {
            continue;
        };
        let result = if value.is_empty() {
            Ok(())
        } else {
            layer.set(info.key, Raw::Text(&value), Origin::Env(name), name)
        };
        if info.secret {
            value.zeroize();
        }
        result?;
    }
    layer.check_consistent()?;
    Ok(layer)
}
