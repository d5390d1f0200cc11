//! Bootstrap progress on stderr: one line updated in place on a terminal, plain lines otherwise,
//! nothing with -q.

use std::io::{IsTerminal, Write};

use arti_client::status::BootstrapEvents;
use futures::StreamExt;

/// How progress is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    /// Not at all (-q).
    Quiet,
    /// A line rewritten in place (stderr is a terminal).
    InPlace,
    /// A line per change.
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

/// Prints each bootstrap status until the client is ready; returns the last one.
pub(crate) async fn follow(mut events: BootstrapEvents, show: Show) -> String {
    let mut last = String::new();
    let mut last_percent = None;
    while let Some(status) = events.next().await {
        let line = status.to_string();
        let percent = (status.as_frac() * 100.0) as u32;
        if line != last {
            let mut err = std::io::stderr();
            match show {
                Show::InPlace => {
                    let _ = write!(err, "\rtorify: bootstrapping Tor (embedded): {line}\x1b[K");
                }
                // A line per ten percent keeps a log readable.
                Show::Lines
                    if last_percent.is_none_or(|p: u32| percent / 10 != p / 10)
                        || status.ready_for_traffic() =>
                {
                    let _ = writeln!(err, "torify: bootstrapping Tor (embedded): {line}");
                }
                _ => {}
            }
            last = line;
            last_percent = Some(percent);
        }
        if status.ready_for_traffic() {
            break;
        }
    }
    if show == Show::InPlace {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    last
}
