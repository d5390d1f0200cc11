//! Bootstrap progress on stderr, wherever it comes from (the embedded client in this process,
//! or a service starting for this command): on a terminal one line, cut to the terminal's
//! width and rewritten in place; otherwise a plain line each time the percentage grows, with
//! no control characters, so a log or a pipe reads cleanly; nothing with -q.

use std::io::{IsTerminal, Write};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Show {
    /// Not at all (-q).
    Quiet,
    /// A line rewritten in place (stderr is a terminal).
    InPlace,
    /// A line per step forward.
    Lines,
}

impl Show {
    /// The way for this stderr and these flags.
    pub(crate) fn new(quiet: bool) -> Self {
        if quiet {
            Show::Quiet
        } else if std::io::stderr().is_terminal() {
            Show::InPlace
        } else {
            Show::Lines
        }
    }
}

/// What the bootstrap lines begin with.
pub(crate) const PREFIX: &str = "torify: bootstrapping Tor (embedded): ";

/// The progress line on stderr.
pub(crate) struct Progress {
    show: Show,
    last_percent: Option<u32>,
    last_text: String,
    drawn: bool,
}

impl Progress {
    /// Progress shown as `show` says.
    pub(crate) fn new(show: Show) -> Self {
        Progress {
            show,
            last_percent: None,
            last_text: String::new(),
            drawn: false,
        }
    }

    /// Shows `text` (arti's status, which starts with the percentage) at `percent`.
    pub(crate) fn update(&mut self, percent: u32, text: &str) {
        let mut err = std::io::stderr();
        match self.show {
            Show::Quiet => {}
            Show::InPlace => {
                if text != self.last_text {
                    let line = fit(&format!("{PREFIX}{text}"), terminal_width());
                    let _ = write!(err, "\r{line}\x1b[K");
                    self.drawn = true;
                }
            }
            // Monotonic: a status that goes back or only rewords itself adds no line.
            Show::Lines => {
                if self.last_percent.is_none_or(|p| percent > p) {
                    let _ = writeln!(err, "{PREFIX}{}", plain(text));
                }
            }
        }
        self.last_percent = Some(self.last_percent.map_or(percent, |p| p.max(percent)));
        text.clone_into(&mut self.last_text);
    }

    /// Clears the in-place line, so what follows starts on a clean line.
    pub(crate) fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `text` without control characters (a status from elsewhere must not move the cursor).
fn plain(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// `line` cut to fit `width` columns (one column kept free: a line that fills the last column
/// makes some terminals wrap, and the next `\r` then rewrites the wrong line).
fn fit(line: &str, width: usize) -> String {
    let room = width.saturating_sub(1).max(1);
    let clean = plain(line);
    if clean.chars().count() <= room {
        return clean;
    }
    let mut cut: String = clean.chars().take(room.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The terminal's width in columns (80 when it does not say).
fn terminal_width() -> usize {
    // On a non-terminal the call fails: then 80.
    match rustix::termios::tcgetwinsize(std::io::stderr()) {
        Ok(ws) if ws.ws_col > 0 => usize::from(ws.ws_col),
        _ => 80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_the_terminal_and_carry_no_control_characters() {
        assert_eq!(fit("short", 80), "short");
        assert_eq!(fit("abcdefghij", 6), "abcd…");
        assert_eq!(fit("a\x1b[2Jb\rc", 80), "a[2Jbc");
        assert_eq!(fit("abc", 0), "…");
        assert_eq!(plain("50%: ok\n"), "50%: ok");
    }
}
