//! A torsocks.conf: one `Directive value` per line, `#` starts a comment (torsocks.conf(5)).

use std::path::Path;

use crate::error::{ConfError, Origin};
use crate::keys::{KEYS, nearest};
use crate::layer::Layer;
use crate::raw::Raw;

fn legacy_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().filter_map(|k| k.legacy)
}

/// True when `text` reads like TOML (a `[table]` or a `key = value` line): a torify.toml whose
/// name does not end in `.toml`.
fn looks_like_toml(text: &str) -> bool {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .any(|l| {
            (l.starts_with('[') && l.ends_with(']'))
                || l.split_once('=').is_some_and(|(k, _)| {
                    !k.trim().contains(char::is_whitespace) && !k.trim().is_empty()
                })
        })
}

/// Reads a legacy torsocks.conf.
pub(crate) fn read(path: &Path, text: &str) -> Result<Layer, ConfError> {
    read_lines(path, text).map_err(|mut e| {
        if looks_like_toml(text) {
            e.fix = format!(
                "this file is read as a torsocks.conf because its name does not end in .toml; for torify.toml syntax name it NAME.toml (or {})",
                e.fix
            );
        }
        e
    })
}

fn read_lines(path: &Path, text: &str) -> Result<Layer, ConfError> {
    let mut layer = Layer::default();
    for (index, full_line) in text.lines().enumerate() {
        // 1-based character column of a slice of this line.
        let at = |part: &str| {
            let offset = (part.as_ptr() as usize).saturating_sub(full_line.as_ptr() as usize);
            let col = full_line.get(..offset).map_or(0, |s| s.chars().count()) + 1;
            Origin::File {
                path: path.to_owned(),
                line: index + 1,
                col,
            }
        };
        let line = full_line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else {
            continue;
        };
        let Some(info) = KEYS.iter().find(|k| k.legacy == Some(directive)) else {
            let hint = nearest(directive, legacy_names())
                .map_or(String::new(), |n| format!(" (did you mean {n}?)"));
            return Err(ConfError::new(
                at(directive),
                format!("unknown directive {directive}{hint}"),
                "remove it or use a directive listed in torsocks.conf(5) or torify.toml(5)",
            ));
        };
        let fix = format!("write `{directive} <value>` with {}", info.expects);
        let Some(value) = words.next() else {
            return Err(ConfError::new(
                at(directive),
                format!("{directive} has no value"),
                fix,
            ));
        };
        if let Some(extra) = words.next() {
            return Err(ConfError::new(
                at(extra),
                format!("{directive} takes one value, found another: {extra:?}"),
                fix,
            ));
        }
        layer.set(info.key, Raw::Text(value), at(value), directive)?;
    }
    layer.check_consistent()?;
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_read_as_torsocks_conf_is_told_so() {
        let e = read(Path::new("/etc/x.conf"), "[tor]\nport = 9150\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown directive [tor]"), "{e}");
        assert!(e.contains("name does not end in .toml"), "{e}");
        let plain = read(Path::new("/etc/x.conf"), "TorPortt 9150\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(plain.contains("did you mean TorPort"), "{plain}");
        assert!(!plain.contains(".toml;"), "{plain}");
    }
}
