//! The effective settings of a run, read the same way by the launcher and the service.

use torify_conf::{Loaded, SYSTEM_FILES, Sources};

use crate::cli::Cli;
use crate::exit::{Failure, fail};

/// True when this process runs set-ID or with file capabilities (AT_SECURE): then the
/// environment, which its caller chose, is not trusted.
pub(crate) use torify_sys::process::secure_exec;

/// The settings for `show` and `check`: as [`load`] reads them, or, when the settings file
/// cannot be used, those without it and the one line saying why (a program would not run).
pub(crate) fn load_for_diagnosis(cli: &Cli) -> Result<(Loaded, Option<String>), Failure> {
    with_sources(cli, |sources| {
        torify_conf::load_for_diagnosis(sources).map(|(l, e)| (l, e.map(|e| e.to_string())))
    })
}

/// The effective settings: defaults < file < environment < flags.
pub(crate) fn load(cli: &Cli) -> Result<Loaded, Failure> {
    with_sources(cli, torify_conf::load)
}

fn with_sources<T>(
    cli: &Cli,
    read: impl FnOnce(&Sources<'_>) -> Result<T, torify_conf::ConfError>,
) -> Result<T, Failure> {
    let secure = secure_exec();
    let env = |name: &str| {
        if secure {
            None
        } else {
            std::env::var(name).ok()
        }
    };
    let flags = cli.setting_flags().map_err(fail)?;
    read(&Sources {
        env: &env,
        secure,
        config_flag: cli.opts.config.as_deref(),
        flags: &flags,
        system_files: &SYSTEM_FILES,
    })
    .map_err(|e| fail(e.to_string()))
}
