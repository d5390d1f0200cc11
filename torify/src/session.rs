//! `torify on` / `torify off`: shell code that torifies the current sh/bash/zsh session and
//! undoes exactly that. `on` saves, in a shell variable of that session, code that puts back
//! every variable it changes as it was (set to its old value, or unset); `off` runs it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Set (to 1) in a torified session, for prompts and for `torify on` to know.
pub(crate) const MARKER: &str = "TORIFY_SHELL";

/// The shell variable (not exported) holding the code that turns the session off again.
const UNDO: &str = "TORIFY_OFF";

/// What a prompt shows while the session is torified.
const PROMPT_TAG: &str = "(tor) ";

/// `value` as one single-quoted shell word: every byte stands for itself.
fn quote(value: &OsStr, out: &mut Vec<u8>) {
    out.push(b'\'');
    for &b in value.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// One line setting `name` to `value` (exported), or unsetting it.
fn assign(name: &str, value: Option<&OsStr>, out: &mut Vec<u8>) {
    match value {
        Some(v) => {
            out.extend_from_slice(format!("export {name}=").as_bytes());
            quote(v, out);
        }
        None => out.extend_from_slice(format!("unset {name}").as_bytes()),
    }
    out.push(b'\n');
}

/// The code for `eval "$(torify on)"`: `wanted` is each variable's value in the torified
/// session (None: unset), `before` its value now.
pub(crate) fn on_script(
    wanted: &[(String, Option<OsString>)],
    before: &dyn Fn(&str) -> Option<OsString>,
) -> Vec<u8> {
    let mut undo = Vec::new();
    let mut apply = Vec::new();
    for (name, value) in wanted {
        let old = before(name);
        if old.as_deref() == value.as_deref() {
            continue;
        }
        assign(name, old.as_deref(), &mut undo);
        assign(name, value.as_deref(), &mut apply);
    }
    assign(MARKER, before(MARKER).as_deref(), &mut undo);
    assign(MARKER, Some(OsStr::new("1")), &mut apply);
    undo.extend_from_slice(
        format!("if [ -n \"${{PS1+x}}\" ]; then PS1=${{PS1#\"{PROMPT_TAG}\"}}; fi\n").as_bytes(),
    );
    let mut out = format!("{UNDO}=").into_bytes();
    quote(OsStr::from_bytes(&undo), &mut out);
    out.push(b'\n');
    out.extend_from_slice(&apply);
    out.extend_from_slice(
        format!("if [ -n \"${{PS1+x}}\" ]; then PS1=\"{PROMPT_TAG}$PS1\"; fi\n").as_bytes(),
    );
    out
}

/// The code for `eval "$(torify off)"` in a torified session (the launcher answers an
/// untorified one itself). A shell that inherited the marker (a child shell, or
/// `torify --shell`) has no undo code of its own: it says so.
pub(crate) fn off_script() -> String {
    format!(
        "if [ -n \"${{{UNDO}+x}}\" ]; then eval \"${UNDO}\"; unset {UNDO}; \
else echo 'torify: this shell inherited Tor from the one that started it (or from torify --shell); exit it to leave Tor' >&2; fi\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn quoting_keeps_every_byte() {
        let mut out = Vec::new();
        quote(OsStr::new("it's $HOME `x` \"y\""), &mut out);
        assert_eq!(text(out), "'it'\\''s $HOME `x` \"y\"'");
    }

    #[test]
    fn on_changes_only_what_differs_and_saves_the_old_values() {
        let wanted = vec![
            (
                "LD_PRELOAD".to_owned(),
                Some(OsString::from("/l/libtorify.so:/x.so")),
            ),
            ("TORSOCKS_TOR_PORT".to_owned(), Some(OsString::from("9150"))),
            ("TORSOCKS_USERNAME".to_owned(), None),
            ("TORSOCKS_LOG_LEVEL".to_owned(), Some(OsString::from("2"))),
        ];
        let before = |name: &str| match name {
            "LD_PRELOAD" => Some(OsString::from("/x.so")),
            "TORSOCKS_USERNAME" => Some(OsString::from("old'user")),
            "TORSOCKS_LOG_LEVEL" => Some(OsString::from("2")),
            _ => None,
        };
        let script = text(on_script(&wanted, &before));
        // The undo code is one quoted word on the first line(s); the changes follow it.
        let at = script.find("\nexport LD_PRELOAD='/l/").unwrap();
        let (undo, apply) = (&script[..at], &script[at + 1..]);
        assert!(undo.starts_with("TORIFY_OFF='"));
        assert!(undo.contains("export LD_PRELOAD='\\''/x.so'\\''"), "{undo}");
        assert!(undo.contains("unset TORSOCKS_TOR_PORT"), "{undo}");
        assert!(undo.contains("old'\\''\\'\\'''\\''user"), "{undo}");
        assert!(undo.contains("unset TORIFY_SHELL"), "{undo}");
        assert!(
            !undo.contains("TORSOCKS_LOG_LEVEL"),
            "unchanged values stay out: {undo}"
        );
        assert!(
            apply.contains("export LD_PRELOAD='/l/libtorify.so:/x.so'\n"),
            "{apply}"
        );
        assert!(
            apply.contains("export TORSOCKS_TOR_PORT='9150'\n"),
            "{apply}"
        );
        assert!(apply.contains("unset TORSOCKS_USERNAME\n"), "{apply}");
        assert!(apply.contains("export TORIFY_SHELL='1'\n"), "{apply}");
        assert!(!apply.contains("TORSOCKS_LOG_LEVEL"), "{apply}");
    }

    #[test]
    fn off_runs_the_saved_code_or_explains() {
        let s = off_script();
        assert!(s.contains("eval \"$TORIFY_OFF\"; unset TORIFY_OFF"));
        assert!(s.contains("exit it to leave Tor"));
    }
}
