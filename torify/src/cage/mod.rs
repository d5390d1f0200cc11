//! `--strict`: the kernel cage. The command runs in new user (when not root), network, mount
//! and PID namespaces whose only route is a TUN device the launcher serves from outside: every
//! TCP flow becomes a Tor stream, DNS is answered by the cage's resolver with virtual addresses
//! (the stream then carries the name), every other datagram is refused at once. What no preload
//! library can enter — static programs, Go, liburing, raw system calls — goes through Tor or
//! nowhere. Dynamically linked programs still load the library, pointed at a SOCKS port the
//! launcher offers inside the cage, so names, isolation and refusals are as outside.

mod child;
mod connector;
mod dns;
mod mounts;
mod names;
mod netconf;
mod packet;
mod stack;

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use torify_conf::Loaded;
use torify_core::dns::LocalNames;

use crate::backend::Chosen;
use crate::exit::{Failure, fail};
use crate::launch::EnvChanges;
use crate::seccomp::Filters;

pub(crate) use child::INNER_SOCKS;

/// Why this machine cannot give the cage, if it cannot (what `check` reports, and the line
/// `--strict` refuses with).
pub(crate) fn unavailable() -> Option<String> {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun");
    let tun = match tun {
        Ok(f) => f,
        Err(e) => {
            return Some(format!(
                "/dev/net/tun cannot be opened ({e}): the tun module or the device node is missing, or it is not readable and writable for this user (Debian makes it 0666)"
            ));
        }
    };
    if !netconf::is_tun_device(&tun) {
        return Some("/dev/net/tun is not the TUN device".to_owned());
    }
    if rustix::process::geteuid().is_root() {
        return None;
    }
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some(
            "this kernel does not let unprivileged users create user namespaces (kernel.unprivileged_userns_clone = 0); run as root or enable them"
                .to_owned(),
        );
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some(
            "user namespaces are disabled (user.max_user_namespaces = 0); run as root or enable them"
                .to_owned(),
        );
    }
    None
}

/// True when this launcher itself runs in a cage (a nested torify in `torify --strict
/// --shell`): it already has what --strict gives, and builds no second one.
pub(crate) fn inside() -> bool {
    std::env::var("TORIFY_CAGE").is_ok_and(|tun| {
        std::fs::read("/proc/self/net/dev")
            .is_ok_and(|dev| torify_core::exec::only_cage_interfaces(&dev, tun.as_bytes()))
    })
}

/// Builds a cage around nothing and takes it down again (namespaces, mounts, TUN device,
/// routes, listener), for `torify check`: a kernel can have every piece `unavailable` looks
/// for and still refuse one (an LSM denying user namespaces, a mount it will not give).
/// Call before any thread starts, like `run`.
pub(crate) fn trial() -> Result<(), String> {
    if inside() {
        return Ok(());
    }
    if let Some(why) = unavailable() {
        return Err(why);
    }
    if crate::library::loaded_here() {
        return Err("this is a torified shell, and a cage cannot start from one".to_owned());
    }
    let dir = RunDir::new().map_err(|f| f.line)?;
    let resolv_conf = dir
        .file("resolv.conf", "# torify check: a trial cage\n")
        .map_err(|f| f.line)?;
    let plan = child::Plan {
        command: vec!["true".into()],
        program: PathBuf::from("true"),
        lib: PathBuf::new(),
        changes: EnvChanges::default(),
        extra: Vec::new(),
        resolv_conf,
        userns: !rustix::process::geteuid().is_root(),
        filters: Filters::for_cage().map_err(|e| format!("cannot build the cage's filter: {e}"))?,
    };
    let handles = child::start(plan)?;
    // No go: the cage's init ends as soon as its control socket closes, and with it the cage.
    drop(handles.control);
    child::wait_status(handles.pid);
    Ok(())
}

/// A private directory for the cage's files, removed when dropped.
struct RunDir(PathBuf);

impl RunDir {
    fn new() -> Result<RunDir, Failure> {
        let name =
            crate::random::hex::<8>().map_err(|e| fail(format!("cannot make a name: {e}")))?;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("torify-cage-{}", name.as_str()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        Ok(RunDir(dir))
    }

    fn file(&self, name: &str, text: &str) -> Result<PathBuf, Failure> {
        let path = self.0.join(name);
        std::fs::write(&path, text)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `run` needs.
pub(crate) struct Job<'a> {
    /// The settings.
    pub(crate) loaded: &'a Loaded,
    /// The command.
    pub(crate) command: &'a [OsString],
    /// The program.
    pub(crate) program: &'a Path,
    /// The library.
    pub(crate) lib: &'a Path,
    /// The settings' environment for the command.
    pub(crate) changes: &'a EnvChanges,
    /// Which Tor.
    pub(crate) backend: Chosen,
    /// How the embedded client's service is started if it is the one and none runs (its
    /// `quiet` is -q for the cage too).
    pub(crate) service: crate::service::Start<'a>,
}

/// Runs the command in the cage; the exit status is the command's.
pub(crate) fn run(job: Job<'_>) -> Result<u8, Failure> {
    if let Some(why) = unavailable() {
        return Err(fail(format!(
            "cannot run in the kernel cage (--strict): {why}; nothing was run"
        )));
    }
    if crate::library::loaded_here() {
        return Err(fail(
            "refused to start the kernel cage (--strict) from a torified shell: the shell's kernel filter would refuse the cage's DNS and its own connections to Tor would be judged by the library; run eval \"$(torify off)\" (or leave the --shell) first",
        ));
    }
    let settings = &job.loaded.settings;
    if job.backend == Chosen::Daemon && !crate::socks_client::accepts(settings.socks_endpoint()) {
        return Err(fail(format!(
            "cannot reach Tor's SOCKS port at {}: nothing answers there; start tor, or point tor.address/tor.port (-a/-P, TORSOCKS_TOR_ADDRESS/TORSOCKS_TOR_PORT) at its SocksPort; nothing was run",
            settings.socks_endpoint()
        )));
    }
    let dir = RunDir::new()?;
    let resolv_conf = dir.file(
        "resolv.conf",
        &format!(
            "# torify --strict: the cage's resolver answers names for Tor\nnameserver {}\n",
            names::RESOLVER_V4
        ),
    )?;
    for line in crate::inherited::seal_all() {
        if !job.service.quiet {
            crate::ui::error(line);
        }
    }
    let mut extra = vec![
        (
            "TORSOCKS_TOR_ADDRESS".to_owned(),
            INNER_SOCKS.ip().to_string(),
        ),
        (
            "TORSOCKS_TOR_PORT".to_owned(),
            INNER_SOCKS.port().to_string(),
        ),
        // The library in the cage lets programs it cannot enter run: the cage carries them.
        ("TORIFY_CAGE".to_owned(), netconf::TUN_NAME.to_owned()),
    ];
    if job.backend == Chosen::Embedded {
        extra.push(("TORIFY_BACKEND".to_owned(), "tor".to_owned()));
    }
    let plan = child::Plan {
        command: job.command.to_vec(),
        program: job.program.to_owned(),
        lib: job.lib.to_owned(),
        changes: job.changes.clone(),
        extra,
        resolv_conf,
        userns: !rustix::process::geteuid().is_root(),
        filters: Filters::for_cage()
            .map_err(|e| fail(format!("cannot build the cage's filter: {e}")))?,
    };
    // Forked before any thread exists: the caged side may do anything a program does.
    let handles = child::start(plan).map_err(fail)?;
    crate::child::forward_signals_to(handles.pid);
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let hostname = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let local = LocalNames::new(&hosts, Some(&hostname));
    // The embedded client is its service's (started if none runs), held while the cage runs;
    // the launcher reaches it outside the cage's namespaces, over its unix socket.
    let (endpoint, _lease) = match job.backend {
        Chosen::Daemon => (connector::Endpoint::of(settings.socks_endpoint()), None),
        Chosen::Embedded => {
            let (socket, lease) = crate::service::ensure(&job.service)?;
            (connector::Endpoint::Unix(socket), Some(lease))
        }
    };
    let tor = connector::Tor {
        endpoint,
        secret: crate::random::hex::<16>()
            .map_err(|e| fail(format!("cannot make an isolation secret: {e}")))?,
    };
    let runtime = crate::exit::runtime()?;
    let outcome = runtime.block_on(async {
        let cage = Arc::new(stack::Cage::new(
            tor.clone(),
            settings.clone(),
            local,
            job.service.quiet,
        ));
        let stack = tokio::spawn(stack::serve(handles.tun, cage));
        let listener = std::net::TcpListener::from(handles.socks);
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| fail(format!("cannot serve the cage's SOCKS port: {e}")))?;
        let socks = tokio::spawn(tor.serve_socks(listener));
        child::go(&handles.control)
            .map_err(|e| fail(format!("cannot start the command in the cage: {e}")))?;
        let pid = handles.pid;
        let status = tokio::task::spawn_blocking(move || child::wait_status(pid))
            .await
            .map_err(|e| fail(format!("waiting for the cage: {e}")))?;
        stack.abort();
        socks.abort();
        Ok::<u8, Failure>(u8::try_from(status).unwrap_or(1))
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    drop(dir);
    outcome
}
