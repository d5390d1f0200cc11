//! The torify launcher.

// Started through torify_sys::entry, not std's start: that module says what it saves.
#![cfg_attr(not(test), no_main)]

mod argv;
mod backend;
mod cage;
mod check;
mod child;
mod cli;
mod completion;
mod exit;
mod forward;
mod inherited;
mod launch;
mod library;
mod progress;
mod random;
mod seccomp;
mod service;
mod session;
mod settings;
mod socks_client;
mod system;
mod ui;

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use torify_conf::{Backend, Loaded, SocksEndpoint};
use torify_core::pool::table;

use crate::backend::Chosen;
use crate::cli::{Cli, CompletionShell, ServeAction, Sub, SystemAction};
use crate::exit::{Exit, Failure, Status, fail};
use crate::launch::EnvChanges;

/// Everything a command, a shell or a check needs: settings, library, environment, backend.
struct Prepared {
    loaded: Loaded,
    lib: PathBuf,
    changes: EnvChanges,
    backend: Chosen,
}

fn prepare(cli: &Cli) -> Result<Prepared, Failure> {
    prepare_with(cli, settings::load(cli)?)
}

fn prepare_with(cli: &Cli, loaded: Loaded) -> Result<Prepared, Failure> {
    let lib = library::find().map_err(fail)?;
    let session = launch::session_token(&loaded.settings).map_err(fail)?;
    let changes = launch::env_changes(&loaded, cli.opts.config.as_deref(), session);
    let backend = backend::choose(&loaded, cli.opts.quiet);
    Ok(Prepared {
        loaded,
        lib,
        changes,
        backend,
    })
}

fn show(cli: &Cli) -> Result<Status, Failure> {
    let (loaded, refused) = settings::load_for_diagnosis(cli)?;
    if let Some(why) = &refused {
        ui::error(why);
        ui::error("every torified program stops on that; the settings without that file follow");
    }
    let lib = library::find().map_err(fail)?;
    ui::out(torify_conf::render(&loaded));
    ui::out(format!("# library: {}\n", lib.display()));
    ui::out(format!(
        "# embedded client's service: {}\n",
        library::service().map_or_else(|why| why, |p| p.display().to_string())
    ));
    let current = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    ui::out(format!("LD_PRELOAD=\"{}\"\n", current.to_string_lossy()));
    Ok(if refused.is_some() {
        Status::FAILURE
    } else {
        Status::SUCCESS
    })
}

fn run(cli: &Cli, command: &[OsString], mut p: Prepared) -> Result<Status, Failure> {
    let program = torify_core::exec::locate(&command[0], std::env::var_os("PATH").as_deref())
        .ok_or_else(|| {
            Failure::new(
                Exit::NotFound,
                format!("{}: command not found", command[0].to_string_lossy()),
            )
        })?;
    // Only for a command that runs: check, resolve, forward and `on` have no use for one.
    launch::add_names_table(&mut p.changes);
    // In a cage already, what the cage gives is there: no second one, and no filter of default
    // mode (which would refuse the UDP the cage's resolver answers).
    let caged = cage::inside();
    let mut strict = p.loaded.settings.strict && !caged;
    let unenterable = launch::unenterable(&program);
    p.changes.unarmed = unenterable.is_some_and(torify_core::elf::Unenterable::refuses_the_library);
    if !strict
        && !caged
        && let Some(why) = unenterable
    {
        let shown = program.display().to_string();
        if p.loaded.settings.allow_unproxied_exec {
            ui::error(format!(
                "warning: {shown} runs WITHOUT Tor: it is {why} (allow.unproxied_exec is set)"
            ));
        } else if cage::unavailable().is_none() && !library::loaded_here() {
            // The cage carries what the library cannot enter: use it rather than refuse.
            if !cli.opts.quiet {
                ui::error(format!(
                    "{shown} is {why}: running it in the kernel cage (--strict), where its connections go through Tor"
                ));
            }
            strict = true;
        } else {
            return Err(Failure::new(
                Exit::CannotRun,
                torify_core::elf::Refused {
                    program: &shown,
                    why,
                }
                .to_string(),
            ));
        }
    }
    if strict {
        return cage::run(cage::Job {
            loaded: &p.loaded,
            command,
            program: &program,
            lib: &p.lib,
            changes: &p.changes,
            backend: p.backend,
            service: service_start(cli, &p.loaded),
        })
        .map(Status::from);
    }
    if let Some(why) = launch::privileged(&program) {
        if p.loaded.settings.allow_privileged_exec {
            ui::error(format!(
                "warning: {} is {why}: it runs WITHOUT Tor (allow.privileged_exec is set)",
                program.display()
            ));
        } else {
            return Err(Failure::new(
                Exit::CannotRun,
                format!(
                    "refused to run {}: it is {why}, so the dynamic loader would drop LD_PRELOAD and run it without Tor; allow.privileged_exec = true permits it (unsafe)",
                    program.display()
                ),
            ));
        }
    }
    let sealed = inherited::seal(&p.loaded.settings);
    for line in &sealed.lines {
        ui::error(line);
    }
    let filters = if caged {
        None
    } else {
        seccomp::Filters::for_settings(&p.loaded.settings)
            .map_err(|e| fail(format!("cannot build the kernel filter: {e}")))?
    };
    match p.backend {
        Chosen::Daemon => Err(launch::exec(
            command, &program, &p.lib, &p.changes, filters, &sealed,
        )),
        Chosen::Embedded => embedded_run(cli, &p, command, &program, filters),
    }
}

/// `torify --shell`: the user's shell, torified, marked for prompts.
fn shell(cli: &Cli, mut p: Prepared) -> Result<Status, Failure> {
    let shell = std::env::var_os("SHELL")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| OsString::from("/bin/sh"));
    p.changes.set.push((session::MARKER, OsString::from("1")));
    let mut command = vec![shell.clone()];
    // The prompt's mark is a convenience: without a place for its start-up file the shell
    // still starts, torified, and says so.
    let marked = service::Place::find().and_then(|place| {
        session::mark_prompt(Path::new(&shell), &place.shell_dir(), &|n| {
            std::env::var_os(n)
        })
        .map_err(|e| format!("cannot write the shell's start-up file: {e}"))
    });
    match marked {
        Ok(marked) => {
            command.extend(marked.args);
            p.changes.set.extend(marked.vars);
        }
        Err(why) => ui::error(format!("the prompt is not marked: {why}")),
    }
    if !cli.opts.quiet {
        ui::error(format!(
            "starting {} with every connection through Tor (prompt marked \"(tor) \", {}=1 set); `exit` leaves it",
            shell.to_string_lossy(),
            session::MARKER
        ));
    }
    run(cli, &command, p)
}

/// `torify on`: shell code that torifies the current session: through the tor daemon, or
/// through the embedded client's service, started if need be and held while the shell lives.
fn on(cli: &Cli) -> Result<Status, Failure> {
    if std::env::var_os(session::MARKER).is_some() {
        ui::error(format!(
            "this shell is already torified ({} is set); eval \"$(torify off)\" turns it off",
            session::MARKER
        ));
        return Ok(Status::SUCCESS);
    }
    let mut p = prepare(cli)?;
    if p.backend == Chosen::Embedded {
        let socket = embedded_for_shell(cli, &p)?;
        let address = torify_conf::ADDRESS_VARIABLE;
        p.changes.set.retain(|(var, _)| *var != address);
        p.changes.remove.retain(|var| *var != address);
        let mut value = OsString::from("unix:");
        value.push(socket.as_os_str());
        p.changes.set.push((address, value));
    }
    let mut wanted: Vec<(String, Option<OsString>)> = Vec::new();
    wanted.push((
        "LD_PRELOAD".to_owned(),
        Some(launch::preload_value(
            &p.lib,
            std::env::var_os("LD_PRELOAD").as_deref(),
        )),
    ));
    for (var, value) in &p.changes.set {
        wanted.push(((*var).to_owned(), Some(value.clone())));
    }
    // No table of names outlives a launcher: each command of the shell makes its own (torify
    // --shell shares one across the whole shell), and a stale variable is not passed on.
    wanted.push((table::VARIABLE.to_owned(), None));
    for var in &p.changes.remove {
        wanted.push(((*var).to_owned(), None));
    }
    let script = session::on_script(&wanted, &|name| std::env::var_os(name));
    ui::out_bytes(&script);
    Ok(Status::SUCCESS)
}

/// `torify off`: shell code that undoes `torify on`.
fn off() -> Result<Status, Failure> {
    if std::env::var_os(session::MARKER).is_none() {
        ui::error("this shell is not torified; nothing to undo");
        return Ok(Status::SUCCESS);
    }
    ui::out(session::off_script());
    Ok(Status::SUCCESS)
}

/// `torify check`.
fn check(cli: &Cli, name: &str) -> Result<Status, Failure> {
    let (loaded, refused) = settings::load_for_diagnosis(cli)?;
    let p = prepare_with(cli, loaded)?;
    // Before anything can start a thread: the trial cage forks.
    let cage = cage::trial();
    let mut report = check::Report::default();
    match refused {
        Some(why) => report.fail(format!(
            "The settings file cannot be used, so every torified program stops: {why}. What follows is checked without it."
        )),
        None => report.info(check::settings_sentence(&p.loaded)),
    }
    let endpoint = p.loaded.settings.socks_endpoint();
    match p.backend {
        Chosen::Daemon => {
            report.info(format!(
                "Backend: the tor daemon at {endpoint} (backend = {}).",
                p.loaded.settings.backend.name()
            ));
            check::socks_checks(&mut report, &p.loaded, endpoint, false, name);
        }
        Chosen::Embedded => {
            report.info(format!(
                "Backend: the Tor client embedded in torify (backend = {}{}).",
                p.loaded.settings.backend.name(),
                if p.loaded.settings.backend == Backend::Auto {
                    format!(", as nothing answers at {endpoint}")
                } else {
                    String::new()
                }
            ));
            let loaded = p.loaded.clone();
            let name = name.to_owned();
            match with_embedded(cli, &p.loaded, move |socks| {
                let mut r = check::Report::default();
                r.ok(format!(
                    "The embedded Tor client's service runs (unix:{}).",
                    socks.display()
                ));
                check::socks_checks(&mut r, &loaded, SocksEndpoint::Unix(socks), true, &name);
                r
            }) {
                Ok(r) => report.extend(r),
                Err(f) => report.fail(f.line),
            }
        }
    }
    check::library_check(&mut report, &p.lib, &p.changes);
    check::cage_check(&mut report, cage, p.loaded.settings.strict);
    ui::out(report.render());
    Ok(if report.passed() {
        Status::SUCCESS
    } else {
        Status::FAILURE
    })
}

/// `torify resolve NAME` / `torify resolve -x IP`, like tor-resolve.
fn resolve(cli: &Cli, reverse: bool, target: &str) -> Result<Status, Failure> {
    let fail = |why: String| Failure::new(Exit::Failed, why);
    if reverse {
        let ip: IpAddr = target
            .parse()
            .map_err(|_| fail(format!("{target} is not an IP address (-x takes one)")))?;
        let answer = through_tor(cli, move |loaded, endpoint| {
            socks_client::resolve_ptr(&loaded.settings, endpoint, ip)
                .map_err(|e| format!("Tor found no name for {ip}: {}", e.explain(endpoint)))
        })?;
        ui::out(format!("{}\n", answer.map_err(fail)?));
    } else {
        if let Ok(ip) = target.parse::<IpAddr>() {
            ui::out(format!("{ip}\n"));
            return Ok(Status::SUCCESS);
        }
        if torify_core::onion::is_onion(target) {
            if let Err(why) = torify_core::onion::validate(target) {
                return Err(fail(format!(
                    "{target} is not a valid onion address: {why}"
                )));
            }
            return Err(fail(format!(
                "{target} is an onion service: it has no address; connect to it by name (torify ssh {target})"
            )));
        }
        let name = target.to_owned();
        let answer = through_tor(cli, move |loaded, endpoint| {
            socks_client::resolve(&loaded.settings, endpoint, &name)
                .map_err(|e| format!("Tor could not resolve {name}: {}", e.explain(endpoint)))
        })?;
        ui::out(format!("{}\n", answer.map_err(fail)?));
    }
    Ok(Status::SUCCESS)
}

fn forward(
    cli: &Cli,
    listen: &str,
    expose: bool,
    isolate: bool,
    destination: &str,
) -> Result<Status, Failure> {
    let destination = forward::Destination::parse(destination).map_err(fail)?;
    let (listen, warning) = forward::listen_address(listen, expose).map_err(fail)?;
    if let Some(w) = warning {
        ui::error(w);
    }
    let verbosity = cli.verbosity();
    let status = through_tor(cli, move |loaded, endpoint| {
        forward::serve(
            &loaded.settings,
            endpoint,
            listen,
            destination,
            isolate,
            verbosity,
        )
    })?
    .map_err(fail)?;
    Ok(Status::from(status))
}

/// Runs `work` against the SOCKS endpoint of the chosen backend.
fn through_tor<T: Send + 'static>(
    cli: &Cli,
    work: impl FnOnce(&Loaded, SocksEndpoint<'_>) -> T + Send + 'static,
) -> Result<T, Failure> {
    let p = prepare(cli)?;
    match p.backend {
        Chosen::Daemon => Ok(work(&p.loaded, p.loaded.settings.socks_endpoint())),
        Chosen::Embedded => {
            let loaded = p.loaded.clone();
            with_embedded(cli, &p.loaded, move |socks| {
                work(&loaded, SocksEndpoint::Unix(socks))
            })
        }
    }
}

/// `torify completions SHELL`: generated from the command line definition. The zsh script
/// also completes the `torsocks` name.
fn completions(shell: CompletionShell) -> Result<Status, Failure> {
    let mut cmd = Cli::command();
    let script = match shell {
        CompletionShell::Zsh => completion::zsh(&mut cmd),
        CompletionShell::Bash => completion::bash(&mut cmd),
    };
    ui::out_bytes(&script);
    Ok(Status::SUCCESS)
}

/// How a command starts the service when none runs: lingering `arti.linger` after it.
fn service_start<'a>(cli: &'a Cli, loaded: &'a Loaded) -> service::Start<'a> {
    serve_start(cli, loaded, Some(loaded.settings.arti.linger))
}

/// How this command line starts the service: `linger` seconds after its last client, or
/// (`None`) until stopped.
fn serve_start<'a>(cli: &'a Cli, loaded: &'a Loaded, linger: Option<u64>) -> service::Start<'a> {
    service::Start {
        loaded,
        config_flag: cli.opts.config.as_deref(),
        linger,
        debug: cli.opts.debug,
        quiet: cli.opts.quiet,
    }
}

/// Runs the command against the embedded client's service (started if none runs), holding
/// the service while the command runs.
fn embedded_run(
    cli: &Cli,
    p: &Prepared,
    command: &[OsString],
    program: &Path,
    filters: Option<seccomp::Filters>,
) -> Result<Status, Failure> {
    let (socket, _lease) = service::ensure(&service_start(cli, &p.loaded))?;
    let extra = [(
        torify_conf::ADDRESS_VARIABLE,
        format!("unix:{}", socket.display()),
    )];
    child::run(command, program, &p.lib, &p.changes, &extra, filters).map(Status::from)
}

/// Runs `work` with the socket of the embedded client's service (started if none runs).
fn with_embedded<T: Send + 'static>(
    cli: &Cli,
    loaded: &Loaded,
    work: impl FnOnce(&Path) -> T + Send + 'static,
) -> Result<T, Failure> {
    let (socket, _lease) = service::ensure(&service_start(cli, loaded))?;
    Ok(work(&socket))
}

/// The service for a shell `torify on` torifies: started if none runs, and held until the
/// shell exits (the shell is this process's parent: `$(torify on)` execs torify).
fn embedded_for_shell(cli: &Cli, p: &Prepared) -> Result<PathBuf, Failure> {
    let (socket, _lease) = service::ensure(&service_start(cli, &p.loaded))?;
    let place = service::Place::find().map_err(fail)?;
    let shell = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    service::hold(&place, u32::try_from(shell).unwrap_or(0)).map_err(fail)?;
    Ok(socket)
}

/// `torify serve [--foreground] [status|stop]`.
fn serve(
    cli: &Cli,
    foreground: bool,
    linger: Option<u64>,
    ready_fd: Option<i32>,
    action: Option<ServeAction>,
) -> Result<Status, Failure> {
    let place = || service::Place::find().map_err(fail);
    match action {
        Some(ServeAction::Status) => {
            let place = place()?;
            let socket = place.socket();
            match service::status(&place, std::time::Duration::from_secs(5)) {
                Some(st) => {
                    ui::out(format!(
                        "running: pid {}, SOCKS at unix:{}, {} client(s), {}\n",
                        st.pid,
                        socket.display(),
                        st.clients,
                        st.linger.map_or_else(
                            || "until stopped".to_owned(),
                            |s| format!("stops {s}s after its last client")
                        )
                    ));
                    Ok(Status::SUCCESS)
                }
                None => {
                    ui::out(format!(
                        "not running (nothing answers at unix:{})\n",
                        socket.display()
                    ));
                    Ok(Status::from(3))
                }
            }
        }
        Some(ServeAction::Stop) => {
            let place = place()?;
            if service::stop(&place).map_err(fail)? {
                ui::error("the Tor service stopped");
            } else {
                ui::error("no torify service is running");
            }
            Ok(Status::SUCCESS)
        }
        None => {
            if foreground {
                return Err(serve_here(cli, linger, ready_fd));
            }
            let loaded = settings::load(cli)?;
            library::refuse_if_loaded_here().map_err(fail)?;
            let place = place()?;
            let pid = service::start_detached(&place, &serve_start(cli, &loaded, linger))?;
            if !cli.opts.quiet {
                ui::error(format!(
                    "the Tor service runs (pid {pid}): SOCKS at unix:{}; `torify serve stop` stops it",
                    place.socket().display()
                ));
            }
            Ok(Status::SUCCESS)
        }
    }
}

/// `torify serve --foreground`: becomes the service program, in this process (systemd's
/// unit and a terminal see the service itself).
fn serve_here(cli: &Cli, linger: Option<u64>, ready_fd: Option<i32>) -> Failure {
    let loaded = match settings::load(cli) {
        Ok(loaded) => loaded,
        Err(failure) => return failure,
    };
    let mut cmd = match service::program(&serve_start(cli, &loaded, linger), ready_fd) {
        Ok(cmd) => cmd,
        Err(failure) => return failure,
    };
    if cli.opts.quiet {
        cmd.arg("-q");
    }
    let err = std::os::unix::process::CommandExt::exec(&mut cmd);
    fail(format!(
        "cannot start the embedded Tor client's service: {err}"
    ))
}

#[cfg(not(test))]
torify_sys::entry!(|| launch_main().0);
// The unit tests have the test harness's main; this keeps the launcher's code live there.
#[cfg(test)]
const _: fn() -> Status = launch_main;

fn launch_main() -> Status {
    let parsed = cli::parse(std::env::args_os().collect());
    // Parsed: the password need not stay in /proc/PID/cmdline.
    argv::scrub_password();
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Status::from(Exit::Torify)
            } else {
                Status::SUCCESS
            };
        }
    };
    let outcome = match &cli.sub {
        Some(Sub::Show) => show(&cli),
        Some(Sub::Check { name }) => check(&cli, name),
        Some(Sub::Resolve { reverse, target }) => resolve(&cli, *reverse, target),
        Some(Sub::On) => on(&cli),
        Some(Sub::Off) => off(),
        Some(Sub::Completions { shell }) => completions(*shell),
        // Only enable reads the settings: disable and status must work with a broken file.
        Some(Sub::System {
            action: SystemAction::Enable { users, programs },
        }) => settings::load(&cli).and_then(|loaded| {
            system::run(
                system::Action::Enable {
                    users,
                    programs,
                    listed: &loaded.settings.system,
                },
                cli.opts.quiet,
            )
        }),
        Some(Sub::System {
            action: SystemAction::Disable,
        }) => system::run(system::Action::Disable, cli.opts.quiet),
        Some(Sub::System {
            action: SystemAction::Status,
        }) => system::run(system::Action::Status, cli.opts.quiet),
        Some(Sub::Serve {
            foreground,
            linger,
            ready_fd,
            action,
        }) => serve(&cli, *foreground, *linger, *ready_fd, *action),
        Some(Sub::Forward {
            listen,
            expose,
            isolate,
            destination,
        }) => forward(&cli, listen, *expose, *isolate, destination),
        Some(Sub::Run(command)) if cli.shell => Err(Failure::new(
            Exit::Torify,
            format!(
                "--shell starts your shell and takes no command ({} given)",
                command[0].to_string_lossy()
            ),
        )),
        // torsocks' `sh`, alone, is its `show`; with arguments, or after `--`, the program sh.
        Some(Sub::Run(command))
            if command.len() == 1
                && command[0] == "sh"
                && !std::env::args_os().any(|a| a == "--") =>
        {
            show(&cli)
        }
        Some(Sub::Run(command)) if !command.is_empty() => {
            prepare(&cli).and_then(|p| run(&cli, command, p))
        }
        None if cli.shell => prepare(&cli).and_then(|p| shell(&cli, p)),
        _ => Err(Failure::new(
            Exit::Torify,
            "no command given; try `torify --help`".to_owned(),
        )),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            ui::error(failure.line);
            Status::from(failure.exit)
        }
    }
}
