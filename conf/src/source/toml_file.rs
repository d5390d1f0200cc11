//! torify.toml: sections of keys, read with spans so every problem has a line and column.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use crate::error::{ConfError, Origin, line_col};
use crate::keys::{KEYS, nearest};
use crate::layer::Layer;
use crate::raw::Raw;

fn origin(path: &Path, text: &str, offset: usize) -> Origin {
    let (line, col) = line_col(text, offset);
    Origin::File {
        path: path.to_owned(),
        line,
        col,
    }
}

fn raw_of<'a>(value: &'a DeValue<'_>) -> Raw<'a> {
    match value {
        DeValue::String(s) => Raw::TomlStr(s),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map_or(Raw::Other("integer too large"), Raw::Int),
        DeValue::Boolean(b) => Raw::Bool(*b),
        DeValue::Float(_) => Raw::Other("float"),
        DeValue::Datetime(_) => Raw::Other("datetime"),
        DeValue::Array(_) => Raw::Other("array"),
        DeValue::Table(_) => Raw::Other("table"),
    }
}

fn toml_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().filter_map(|k| k.toml)
}

/// Reads a torify.toml document.
pub(crate) fn read(path: &Path, text: &str) -> Result<Layer, ConfError> {
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let message = e.message().lines().next().unwrap_or("syntax error").trim();
        ConfError::new(
            origin(path, text, at),
            format!("TOML syntax error: {message}"),
            "fix the syntax; torify.toml(5) and conf/torify.toml show every key",
        )
    })?;
    let mut layer = Layer::default();
    for (section, value) in doc.get_ref().iter() {
        let section_name: &str = section.get_ref();
        let at = origin(path, text, section.span().start);
        if section_name == "arti"
            && let DeValue::Table(t) = value.get_ref()
        {
            layer.arti = Some(crate::arti::read(t, &|offset| origin(path, text, offset))?);
            continue;
        }
        let DeValue::Table(keys) = value.get_ref() else {
            let leaf_match = toml_names().find(|n| n.rsplit('.').next() == Some(section_name));
            let hint = leaf_match
                .or_else(|| nearest(section_name, toml_names()))
                .map_or(String::new(), |n| format!(" (did you mean {n}?)"));
            return Err(ConfError::new(
                at,
                format!("key `{section_name}` is not inside a section{hint}"),
                "put keys under their section, such as [tor] port = 9050",
            ));
        };
        if !toml_names().any(|n| n.split('.').next() == Some(section_name)) {
            // [arti] is read above; anything else unknown is an error.
            let sections = toml_names().filter_map(|n| n.split('.').next());
            let hint = nearest(section_name, sections)
                .map_or(String::new(), |n| format!(" (did you mean [{n}]?)"));
            return Err(ConfError::new(
                at,
                format!("unknown section [{section_name}]{hint}"),
                "use the sections listed in torify.toml(5): [tor], [dns], [allow], [log], [system], [arti]",
            ));
        }
        for (key, value) in keys.iter() {
            let dotted = format!("{section_name}.{}", key.get_ref());
            let Some(info) = KEYS.iter().find(|k| k.toml == Some(dotted.as_str())) else {
                let hint = nearest(&dotted, toml_names())
                    .map_or(String::new(), |n| format!(" (did you mean {n}?)"));
                return Err(ConfError::new(
                    origin(path, text, key.span().start),
                    format!("unknown key {dotted}{hint}"),
                    "remove it or use a key listed in torify.toml(5)",
                ));
            };
            let at = origin(path, text, value.span().start);
            match value.get_ref() {
                // The lists (allow.direct, system.*); every other key takes a single value.
                DeValue::Array(items) if info.key.is_list() => {
                    let items: Vec<(Raw<'_>, Origin)> = items
                        .iter()
                        .map(|item| {
                            (
                                raw_of(item.get_ref()),
                                origin(path, text, item.span().start),
                            )
                        })
                        .collect();
                    layer.set(info.key, Raw::List(&items), at, &dotted)?;
                }
                other => layer.set(info.key, raw_of(other), at, &dotted)?,
            }
        }
    }
    layer.check_consistent()?;
    Ok(layer)
}
