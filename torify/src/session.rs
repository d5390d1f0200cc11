//! `torify on` / `torify off`: shell code that torifies the current sh/bash/zsh session and
//! undoes exactly that; and the start-up files that mark the prompt of `torify --shell`. `on` saves, in a shell variable of that session, code that puts back
//! every variable it changes as it was (set to its old value, or unset); `off` runs it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

/// bash's start-up file under `torify --shell` (`--rcfile`): the user's own, then the mark.
const BASHRC: &str = "# torify --shell: your ~/.bashrc, then the prompt marked\n\
[ -f ~/.bashrc ] && . ~/.bashrc\n\
case $PS1 in \"(tor) \"*) ;; *) PS1=\"(tor) $PS1\" ;; esac\n";

/// zsh's `.zshenv` under `torify --shell` (ZDOTDIR points here until `.zshrc`): the user's own,
/// from their ZDOTDIR (saved in TORIFY_SHELL_ZDOTDIR) or HOME; a ZDOTDIR it sets is kept for
/// later.
const ZSHENV: &str = "# torify --shell: your .zshenv\n\
_torify_d=${TORIFY_SHELL_ZDOTDIR-$HOME}\n\
_torify_z=$ZDOTDIR\n\
[ -f \"$_torify_d/.zshenv\" ] && . \"$_torify_d/.zshenv\"\n\
if [ \"$ZDOTDIR\" != \"$_torify_z\" ]; then TORIFY_SHELL_ZDOTDIR=$ZDOTDIR; ZDOTDIR=$_torify_z; fi\n\
unset _torify_d _torify_z\n";

/// zsh's `.zshrc` under `torify --shell`: ZDOTDIR as it was, the user's `.zshrc`, the mark.
const ZSHRC: &str = "# torify --shell: your .zshrc, then the prompt marked\n\
if [ -n \"${TORIFY_SHELL_ZDOTDIR+x}\" ]; then ZDOTDIR=$TORIFY_SHELL_ZDOTDIR; else unset ZDOTDIR; fi\n\
unset TORIFY_SHELL_ZDOTDIR\n\
[ -f \"${ZDOTDIR:-$HOME}/.zshrc\" ] && . \"${ZDOTDIR:-$HOME}/.zshrc\"\n\
case $PS1 in \"(tor) \"*) ;; *) PS1=\"(tor) $PS1\" ;; esac\n";

/// A POSIX shell's `$ENV` file under `torify --shell`: the user's own `$ENV` (saved in
/// TORIFY_SHELL_ENV), then the mark.
const ENV_SH: &str = "# torify --shell: your $ENV file, then the prompt marked\n\
if [ -n \"${TORIFY_SHELL_ENV:-}\" ]; then ENV=$TORIFY_SHELL_ENV; . \"$ENV\"; else unset ENV; fi\n\
unset TORIFY_SHELL_ENV\n\
case ${PS1-} in \"(tor) \"*) ;; *) PS1=\"(tor) ${PS1-$ }\" ;; esac\n";

/// How a shell is told to read torify's start-up file.
#[derive(Debug, PartialEq, Eq)]
enum Hook {
    /// bash: `--rcfile FILE`.
    Rcfile,
    /// zsh: ZDOTDIR.
    Zdotdir,
    /// POSIX shells: ENV, read by an interactive shell.
    Env,
}

fn hook_of(shell: &Path) -> Option<Hook> {
    let name = shell.file_name()?.to_str()?;
    match name {
        "bash" => Some(Hook::Rcfile),
        "zsh" => Some(Hook::Zdotdir),
        "sh" | "dash" | "ash" | "ksh" | "mksh" | "yash" | "posh" => Some(Hook::Env),
        _ => None,
    }
}

/// What the shell is started with so that its prompt shows the mark.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Marked {
    /// Arguments after the shell's name.
    pub(crate) args: Vec<OsString>,
    /// Variables to set for it.
    pub(crate) vars: Vec<(&'static str, OsString)>,
}

/// Writes torify's start-up file for `shell` into `dir` (private to the user) and says how to
/// start the shell with it: it runs the user's own start-up file, then marks the prompt as
/// `torify on` does. A shell other than bash, zsh and the POSIX ones gets nothing (its prompt
/// can test TORIFY_SHELL). `var` reads the current environment.
pub(crate) fn mark_prompt(
    shell: &Path,
    dir: &Path,
    var: &dyn Fn(&str) -> Option<OsString>,
) -> std::io::Result<Marked> {
    let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            let part = path.with_file_name(format!(".{file}.{}", std::process::id()));
            std::fs::write(&part, text)?;
            std::fs::rename(&part, &path)?;
        }
        Ok(path)
    };
    let mut marked = Marked::default();
    match hook_of(shell) {
        Some(Hook::Rcfile) => {
            marked.args.push("--rcfile".into());
            marked.args.push(write("bashrc", BASHRC)?.into_os_string());
        }
        Some(Hook::Zdotdir) => {
            use std::os::unix::fs::DirBuilderExt;
            let zdot = dir.join("zsh");
            match std::fs::DirBuilder::new().mode(0o700).create(&zdot) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            write("zsh/.zshenv", ZSHENV)?;
            write("zsh/.zshrc", ZSHRC)?;
            if let Some(own) = var("ZDOTDIR") {
                marked.vars.push(("TORIFY_SHELL_ZDOTDIR", own));
            }
            marked.vars.push(("ZDOTDIR", zdot.into_os_string()));
        }
        Some(Hook::Env) => {
            if let Some(own) = var("ENV") {
                marked.vars.push(("TORIFY_SHELL_ENV", own));
            }
            marked
                .vars
                .push(("ENV", write("env.sh", ENV_SH)?.into_os_string()));
        }
        None => {}
    }
    Ok(marked)
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

    #[test]
    fn each_shell_reads_torify_s_start_up_file_and_keeps_its_own() {
        let dir = tempfile_dir();
        let none = |_: &str| None;
        let bash = mark_prompt(Path::new("/bin/bash"), &dir, &none).unwrap();
        assert_eq!(
            bash.args,
            [OsString::from("--rcfile"), dir.join("bashrc").into()]
        );
        assert!(bash.vars.is_empty());
        let own = |n: &str| (n == "ZDOTDIR").then(|| OsString::from("/home/u/.config/zsh"));
        let zsh = mark_prompt(Path::new("/usr/bin/zsh"), &dir, &own).unwrap();
        assert!(zsh.args.is_empty());
        assert_eq!(
            zsh.vars,
            [
                (
                    "TORIFY_SHELL_ZDOTDIR",
                    OsString::from("/home/u/.config/zsh")
                ),
                ("ZDOTDIR", dir.join("zsh").into())
            ]
        );
        assert!(dir.join("zsh/.zshenv").is_file() && dir.join("zsh/.zshrc").is_file());
        let sh = mark_prompt(Path::new("/bin/dash"), &dir, &none).unwrap();
        assert_eq!(sh.vars, [("ENV", dir.join("env.sh").into())]);
        let fish = mark_prompt(Path::new("/usr/bin/fish"), &dir, &none).unwrap();
        assert_eq!(fish, Marked::default());
        for f in ["bashrc", "env.sh", "zsh/.zshrc"] {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(text.contains("PS1=\"(tor) "), "{f}: {text}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("torify-prompt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }
}
