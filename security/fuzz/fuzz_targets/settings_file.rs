//! Feeds arbitrary text to the settings parsers as a hostile or broken settings file: a
//! torify.toml (the first byte odd) or a torsocks.conf. It must never panic, and a refusal is
//! one line for the user, never an echo of the whole input.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let name = if selector & 1 == 1 { "fuzz.toml" } else { "torsocks.conf" };
    if let Err(e) = torify_conf::check_text(Path::new(name), text) {
        let line = e.to_string();
        assert!(!line.contains('\n'), "{line:?}");
        assert!(line.len() < 2000, "{} bytes", line.len());
    }
});
