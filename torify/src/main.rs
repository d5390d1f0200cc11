//! The torify launcher.

#[cfg(feature = "arti")]
mod arti;
mod backend;
#[cfg(feature = "arti")]
mod child;
mod cli;
mod launch;
mod library;
mod ui;

use std::process::ExitCode;

use clap::Parser;
use torify_conf::{Loaded, SYSTEM_FILES, Sources};

use crate::cli::{Cli, Sub};
use crate::launch::EXIT_TORIFY;

fn secure_exec() -> bool {
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The effective settings: defaults < file < environment < flags.
fn load_settings(cli: &Cli) -> Result<Loaded, String> {
    let secure = secure_exec();
    let env = |name: &str| {
        if secure {
            None
        } else {
            std::env::var(name).ok()
        }
    };
    let flags = cli.setting_flags();
    torify_conf::load(&Sources {
        env: &env,
        secure,
        config_flag: cli.config.as_deref(),
        flags: &flags,
        system_files: &SYSTEM_FILES,
    })
    .map_err(|e| e.to_string())
}

fn show(cli: &Cli) -> Result<ExitCode, (u8, String)> {
    let loaded = load_settings(cli).map_err(|e| (EXIT_TORIFY, e))?;
    let lib = library::find().map_err(|e| (EXIT_TORIFY, e))?;
    ui::out(torify_conf::render(&loaded));
    ui::out(format!("# library: {}\n", lib.display()));
    let current = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    ui::out(format!("LD_PRELOAD=\"{}\"\n", current.to_string_lossy()));
    Ok(ExitCode::SUCCESS)
}

fn run(cli: &Cli, command: &[std::ffi::OsString]) -> Result<ExitCode, (u8, String)> {
    let loaded = load_settings(cli).map_err(|e| (EXIT_TORIFY, e))?;
    let lib = library::find().map_err(|e| (EXIT_TORIFY, e))?;
    let program = torify_core::exec::locate(&command[0], std::env::var_os("PATH").as_deref())
        .ok_or_else(|| {
            (
                launch::EXIT_NOT_FOUND,
                format!("{}: command not found", command[0].to_string_lossy()),
            )
        })?;
    if let Some(why) = launch::privileged(&program) {
        if loaded.settings.allow_privileged_exec {
            ui::error(format!(
                "warning: {} is {why}: it runs WITHOUT Tor (allow.privileged_exec is set)",
                program.display()
            ));
        } else {
            return Err((
                launch::EXIT_CANNOT_RUN,
                format!(
                    "refused to run {}: it is {why}, so the dynamic loader would drop LD_PRELOAD and run it without Tor; allow.privileged_exec = true permits it (unsafe)",
                    program.display()
                ),
            ));
        }
    }
    let session = launch::session_token(&loaded.settings).map_err(|e| (EXIT_TORIFY, e))?;
    let changes = launch::env_changes(&loaded, cli.config.as_deref(), session);
    match backend::choose(&loaded.settings) {
        backend::Chosen::Daemon => Err(launch::exec(command, &program, &lib, &changes)),
        backend::Chosen::Embedded => embedded(cli, &loaded, command, &program, &lib, &changes),
    }
}

#[cfg(feature = "arti")]
fn embedded(
    cli: &Cli,
    loaded: &Loaded,
    command: &[std::ffi::OsString],
    program: &std::path::Path,
    lib: &std::path::Path,
    changes: &launch::EnvChanges,
) -> Result<ExitCode, (u8, String)> {
    arti::run(loaded, command, program, lib, changes, cli.debug, cli.quiet).map(ExitCode::from)
}

#[cfg(not(feature = "arti"))]
fn embedded(
    _: &Cli,
    _: &Loaded,
    _: &[std::ffi::OsString],
    _: &std::path::Path,
    _: &std::path::Path,
    _: &launch::EnvChanges,
) -> Result<ExitCode, (u8, String)> {
    Err((
        EXIT_TORIFY,
        "this torify was built without the embedded Tor client (the arti feature); start a tor daemon and use --backend tor".to_owned(),
    ))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_TORIFY)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match &cli.command {
        Some(Sub::Show) => show(&cli),
        Some(Sub::Run(command)) if !command.is_empty() => run(&cli, command),
        _ => Err((
            EXIT_TORIFY,
            "no command given; try `torify --help`".to_owned(),
        )),
    };
    match outcome {
        Ok(code) => code,
        Err((status, message)) => {
            ui::error(message);
            ExitCode::from(status)
        }
    }
}
