//! Where a setting came from, and what is wrong with it.

use std::fmt;
use std::path::PathBuf;

/// The place a setting's value was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A configuration file, at a position (1-based line and column).
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column (in characters).
        col: usize,
    },
    /// An environment variable.
    Env(&'static str),
    /// A launcher flag, such as `-P`.
    Flag(&'static str),
}

impl Origin {
    /// A short word for the kind of source, as `torify show` prints it.
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::File { .. } => "file",
            Origin::Env(_) => "env",
            Origin::Flag(_) => "flag",
        }
    }

    /// True when both origins are the same kind of source (both the file, both the
    /// environment, both flags): a conflict inside one source is an error, while across
    /// sources the later one wins.
    pub fn same_source(&self, other: &Origin) -> bool {
        self.kind() == other.kind()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            // Line 0: the file as a whole (it could not be read).
            Origin::File { path, line: 0, .. } => write!(f, "{}", path.display()),
            Origin::File { path, line, col } => write!(f, "{}:{line}:{col}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A setting that cannot be used, as one line for the user: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    /// Where the offending value came from.
    pub origin: Origin,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl ConfError {
    pub(crate) fn new(origin: Origin, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        ConfError {
            origin,
            problem: cut(&problem.into()),
            fix: cut(&fix.into()),
        }
    }
}

/// How much of a quoted value a message shows, and how long a message may be at all: a bad
/// value of megabytes (an environment variable, a line of a file) is not echoed whole.
const QUOTED_MAX: usize = 64;
const MESSAGE_MAX: usize = 400;

/// `text` with every quoted value longer than [`QUOTED_MAX`] shortened to its start, and the
/// whole kept under [`MESSAGE_MAX`].
pub(crate) fn cut(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MESSAGE_MAX + 16));
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' {
            continue;
        }
        // Inside a Debug-quoted value: copy up to QUOTED_MAX characters, skip the rest.
        let (mut kept, mut skipped, mut escaped) = (0usize, 0usize, false);
        for c in chars.by_ref() {
            let closing = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            if closing {
                if skipped > 0 {
                    out.push_str(&format!("… ({skipped} more characters)"));
                }
                out.push('"');
                break;
            }
            if kept < QUOTED_MAX {
                out.push(c);
                kept += 1;
            } else {
                skipped += 1;
            }
        }
    }
    if out.chars().count() > MESSAGE_MAX {
        let short: String = out.chars().take(MESSAGE_MAX).collect();
        return format!("{short}…");
    }
    out
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.origin, self.problem, self.fix)
    }
}

impl std::error::Error for ConfError {}

/// 1-based (line, column) of a byte offset in `text`; the column counts characters.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\n[tor]\nport = 70000\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 19), (3, 8));
        assert_eq!(line_col(text, 1000), (4, 1));
    }

    #[test]
    fn huge_values_are_cut_in_messages() {
        let value = "x".repeat(3_000_000);
        let e = ConfError::new(
            Origin::Env("TORSOCKS_TOR_PORT"),
            format!("{value:?} is not a number"),
            "set a port",
        );
        let line = e.to_string();
        assert!(line.len() < 300, "{} bytes", line.len());
        assert!(
            line.contains("(2999936 more characters)\" is not a number"),
            "{line}"
        );
        assert_eq!(cut("\"a\\\"b\" ok"), "\"a\\\"b\" ok");
        assert!(cut(&"y".repeat(5000)).chars().count() <= 401);
    }

    #[test]
    fn error_is_one_line_with_origin_problem_and_fix() {
        let e = ConfError::new(
            Origin::File {
                path: "/etc/torify/torify.toml".into(),
                line: 3,
                col: 8,
            },
            "port 70000 is out of range 1-65535",
            "set tor.port to Tor's SocksPort",
        );
        let line = e.to_string();
        assert_eq!(
            line,
            "/etc/torify/torify.toml:3:8: port 70000 is out of range 1-65535; set tor.port to Tor's SocksPort"
        );
        assert!(!line.contains('\n'));
    }
}
