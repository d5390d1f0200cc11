//! Where arti's bootstrap progress goes: onto this process's stderr (crate::progress draws
//! it), or, in a service a command started, down the report pipe to that command, which
//! draws it on its own stderr and learns the service's verdict (ready, or why not).

use std::io::Write;

use arti_client::status::BootstrapEvents;
use futures::StreamExt;

use crate::progress::{Progress, Show};

/// The receiver of bootstrap progress and of the final verdict.
pub(crate) enum Sink {
    /// This process's stderr.
    Here(Progress),
    /// The report pipe of the command that started this service (`service::READY_FD`).
    Pipe(std::fs::File),
}

impl Sink {
    /// Progress on stderr, shown as `-q` and the terminal decide.
    pub(crate) fn here(quiet: bool) -> Sink {
        Sink::Here(Progress::new(Show::new(quiet)))
    }

    /// One status: `percent` done, arti's words for it.
    pub(crate) fn update(&mut self, percent: u32, text: &str) {
        match self {
            Sink::Here(p) => p.update(percent, text),
            Sink::Pipe(f) => {
                let text: String = text.chars().filter(|c| !c.is_control()).collect();
                let _ = writeln!(f, "progress {percent} {text}");
            }
        }
    }

    /// Bootstrapped, after `millis`: the SOCKS socket answers now.
    pub(crate) fn ready(&mut self, millis: u128) {
        match self {
            Sink::Here(p) => p.finish(),
            Sink::Pipe(f) => {
                let _ = writeln!(f, "ready {millis}");
            }
        }
    }

    /// Could not start: `line` says why. (Here the caller prints it, as any failure.)
    pub(crate) fn fail(&mut self, line: &str) {
        match self {
            Sink::Here(p) => p.finish(),
            Sink::Pipe(f) => {
                let line: String = line.chars().filter(|c| !c.is_control()).collect();
                let _ = writeln!(f, "fail {line}");
            }
        }
    }

    /// Whether the verdict goes to a command that waits for it (then it prints "ready").
    pub(crate) fn is_pipe(&self) -> bool {
        matches!(self, Sink::Pipe(_))
    }
}

/// Passes each bootstrap status on until the client is ready, then waits forever: it runs
/// beside the bootstrap, which decides when both end.
pub(crate) async fn follow(mut events: BootstrapEvents, sink: &mut Sink) {
    let mut last = String::new();
    while let Some(status) = events.next().await {
        let line = status.to_string();
        let percent = (status.as_frac() * 100.0) as u32;
        if line != last {
            sink.update(percent, &line);
            last = line;
        }
        if status.ready_for_traffic() {
            break;
        }
    }
    std::future::pending::<()>().await;
}
