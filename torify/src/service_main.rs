//! `torify-serve`: the embedded Tor client (arti) as this user's service, a program of its own
//! so that the launcher, which every torified command starts, carries none of it. The launcher
//! starts it for `torify serve` and for commands of `--backend arti|auto` when none runs, with
//! the launcher's own arguments (`serve --foreground …`); it is not meant to be run by hand.

mod arti;
// Modules shared with the launcher: the service uses part of each (its command line, its
// settings, its directory and lock), the launcher the rest.
#[allow(dead_code)]
mod cli;
#[allow(dead_code)]
mod exit;
#[allow(dead_code)]
mod library;
#[allow(dead_code)]
mod progress;
#[allow(dead_code)]
mod service;
#[allow(dead_code)]
mod settings;
#[allow(dead_code)]
mod ui;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Sub};
use crate::exit::Failure;

/// Runs the service in this process until it stops.
fn serve(cli: &Cli, linger: Option<u64>, ready_fd: Option<i32>) -> Result<u8, Failure> {
    library::refuse_if_loaded_here().map_err(exit::fail)?;
    let loaded = settings::load(cli)?;
    let options = arti::serve::Options {
        linger: linger.map(std::time::Duration::from_secs),
        ready_fd,
    };
    arti::serve::run(&loaded, &options, cli.verbosity())
}

fn main() -> ExitCode {
    let outcome = match Cli::try_parse() {
        Ok(cli) => match cli.sub {
            Some(Sub::Serve {
                foreground: true,
                linger,
                ready_fd,
                action: None,
            }) => serve(&cli, linger, ready_fd),
            _ => Err(exit::fail(
                "torify-serve is the embedded Tor client's service that torify starts; run `torify serve` instead",
            )),
        },
        Err(e) => Err(exit::fail(e.to_string().trim_end())),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            ui::error(failure.line);
            ExitCode::from(failure.exit)
        }
    }
}
