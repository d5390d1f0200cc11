//! `torify serve`: the embedded client as this user's service. It bootstraps once, then serves
//! SOCKS on a unix socket in the service directory (service.rs) to every command that uses
//! `--backend arti`, so their circuits are built before they need them and commands no longer
//! pay for a bootstrap each. The socket appears only once the client is ready; a
//! socket-activated service (systemd passes the listening socket) accepts only from then on.
//!
//! It stops on `torify serve stop`, on SIGTERM, SIGINT or SIGHUP, or, when started with a
//! linger time, that long after its last client (a command's lease, a held shell, a SOCKS
//! connection) went away; then it removes its socket.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arti_client::TorClient;
use signal_hook::iterator::Signals;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tor_rtcompat::PreferredRuntime;
use torify_conf::Loaded;

use super::progress::Sink;
use super::socks::{self, Isolation};
use crate::exit::{Failure, fail};
use crate::service::{self, CONTROL, Lock, Place, Status};
use crate::ui::Verbosity;

/// How `torify serve` was asked to run.
pub(crate) struct Options {
    /// Stop this long after the last client left; `None`: run until stopped.
    pub(crate) linger: Option<Duration>,
    /// The starter's report pipe (`--ready-fd`), if it gave one.
    pub(crate) ready_fd: Option<i32>,
}

/// A new client's grace: even with a linger of 0 the command that started the service must
/// have time to take its lease.
const FIRST_CLIENT_GRACE: Duration = Duration::from_secs(5);

/// How long a service that bootstrapped waits for arti's first preemptive circuit.
const PREEMPTIVE_WAIT: Duration = Duration::from_secs(10);

/// What every connection's task shares.
struct State {
    client: Arc<TorClient<PreferredRuntime>>,
    isolation: Isolation,
    limits: socks::Limits,
    uid: u32,
    settings: String,
    linger: Option<Duration>,
    clients: AtomicU32,
    /// When the last client left (or the service became ready).
    last_left: Mutex<Instant>,
    /// Whether any client came yet.
    had_client: std::sync::atomic::AtomicBool,
    stop: Notify,
}

/// Counts one client while it lives.
struct Counted(Arc<State>);

impl Counted {
    fn new(state: &Arc<State>) -> Counted {
        state.clients.fetch_add(1, Ordering::SeqCst);
        state.had_client.store(true, Ordering::SeqCst);
        Counted(state.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        *self
            .0
            .last_left
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
    }
}

impl State {
    /// True when the service has had no client for its linger time.
    fn idle_long_enough(&self) -> bool {
        let Some(linger) = self.linger else {
            return false;
        };
        if self.clients.load(Ordering::SeqCst) > 0 {
            return false;
        }
        let wait = if self.had_client.load(Ordering::SeqCst) {
            linger
        } else {
            linger.max(FIRST_CLIENT_GRACE)
        };
        self.last_left
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            >= wait
    }
}

/// Runs the service in this process until it stops; the exit status is 0 for a clean stop.
pub(crate) fn run(loaded: &Loaded, options: &Options, verbosity: Verbosity) -> Result<u8, Failure> {
    // The starter (service::spawn) left this descriptor open for this process alone.
    let mut sink = match options.ready_fd.and_then(torify_sys::fd::claim_inherited) {
        Some(fd) => Sink::Pipe(File::from(fd)),
        None => Sink::here(verbosity.quiet()),
    };
    let outcome = serve(loaded, options, verbosity, &mut sink);
    if let Err(Failure { line: why, .. }) = &outcome {
        sink.fail(why);
    }
    outcome
}

fn serve(
    loaded: &Loaded,
    options: &Options,
    verbosity: Verbosity,
    sink: &mut Sink,
) -> Result<u8, Failure> {
    let place = Place::find().map_err(fail)?;
    let lock = take_service_lock(&place)?;
    let activated = activated_listener(&place)?;
    // Before any thread exists: from here on they are caught, and wait for the waiter below.
    let signals = stop_signals()?;
    super::prepare(loaded, verbosity)?;
    let quiet = verbosity.quiet();
    let runtime = crate::exit::runtime()?;
    let outcome = runtime.block_on(async {
        let started = Instant::now();
        let client = super::bootstrap_into(loaded, sink).await?;
        // Ready means a circuit is ready too, as far as arti lets us know (mod.rs,
        // PreemptiveWatch); a network that builds none in this time still gets its service.
        if !super::preemptive_circuit(PREEMPTIVE_WAIT).await {
            tracing::debug!(target: "torify", "no preemptive circuit within {PREEMPTIVE_WAIT:?}");
        }
        let (listener, bound) = match activated {
            Some(l) => (
                UnixListener::from_std(l)
                    .map_err(|e| fail(format!("cannot serve the socket systemd passed: {e}")))?,
                None,
            ),
            None => {
                let (l, ino) = bind(&place)?;
                (l, Some(ino))
            }
        };
        let state = Arc::new(State {
            client,
            isolation: Isolation::default(),
            limits: socks::Limits::of(&loaded.settings.arti),
            uid: rustix::process::geteuid().as_raw(),
            settings: service::fingerprint(&loaded.settings.arti),
            linger: options.linger,
            clients: AtomicU32::new(0),
            last_left: Mutex::new(Instant::now()),
            had_client: std::sync::atomic::AtomicBool::new(false),
            stop: Notify::new(),
        });
        let ready = started.elapsed();
        if sink.is_pipe() {
            sink.ready(ready.as_millis());
            // The starter has what it waited for; the rest goes to the log.
            *sink = Sink::here(true);
        } else {
            sink.ready(ready.as_millis());
        }
        if !quiet {
            crate::ui::error(format!(
                "Tor is ready (embedded client, {:.1}s): serving SOCKS at unix:{} (pid {}){}",
                ready.as_secs_f64(),
                place.socket().display(),
                std::process::id(),
                match options.linger {
                    Some(l) => format!(", until {}s after the last client", l.as_secs()),
                    None => ", until stopped".to_owned(),
                }
            ));
        }
        let stop_signal = Arc::new(Notify::new());
        spawn_signal_waiter(signals, stop_signal.clone());
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let why = loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        tokio::spawn(connection(stream, state.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(target: "torify", "accepting a client failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                () = state.stop.notified() => break "asked to stop",
                () = stop_signal.notified() => break "a signal",
                _ = tick.tick() => {
                    if state.idle_long_enough() {
                        break "no client for the linger time (arti.linger)";
                    }
                }
            }
        };
        if !quiet {
            crate::ui::error(format!("stopping the Tor service: {why}"));
        }
        drop(listener);
        if let Some(ino) = bound {
            remove_socket(&place, ino);
        }
        Ok::<u8, Failure>(0)
    });
    // The socket is gone: the next service may start now, while this one finishes.
    drop(lock);
    if outcome.is_ok() {
        runtime.shutdown_timeout(Duration::from_secs(2));
    } else {
        // A failed start leaves reachability probes blocked in connect or read: their answer
        // is of no use any more, and waiting for them would only delay the next start.
        runtime.shutdown_background();
    }
    outcome
}

/// The service lock. A service that is leaving (its linger time ran out just as a command
/// came) has removed its socket but may hold the lock for a moment more: wait briefly for it
/// rather than fail the command that found no socket.
fn take_service_lock(place: &Place) -> Result<Lock, Failure> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(lock) = Lock::take(&place.lock(), false).map_err(fail)? {
            return Ok(lock);
        }
        if Instant::now() >= deadline || place.socket().exists() {
            return Err(fail(format!(
                "a torify service already runs for you (unix:{}); `torify serve status` tells about it, `torify serve stop` stops it",
                place.socket().display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Binds the SOCKS socket (mode 0600), replacing a stale one of ours: the service lock is
/// held, so no other service uses it. Returns the listener and the socket's inode.
fn bind(place: &Place) -> Result<(UnixListener, u64), Failure> {
    let path = place.socket();
    let uid = rustix::process::geteuid().as_raw();
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_socket() && m.uid() == uid => {
            std::fs::remove_file(&path)
                .map_err(|e| fail(format!("cannot remove the stale {}: {e}", path.display())))?;
        }
        Ok(_) => {
            return Err(fail(format!(
                "{} is not a socket of yours: torify refuses to replace it; remove it",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(format!("{}: {e}", path.display()))),
    }
    let listener = UnixListener::bind(&path)
        .map_err(|e| fail(format!("cannot listen at {}: {e}", path.display())))?;
    // The directory is 0700 already; the socket is the user's alone as well.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(format!("cannot restrict {}: {e}", path.display())))?;
    let ino = std::fs::symlink_metadata(&path)
        .map(|m| m.ino())
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok((listener, ino))
}

/// Removes the socket this service bound (the same inode), and nothing else.
fn remove_socket(place: &Place, ino: u64) {
    let path = place.socket();
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.ino() == ino) {
        let _ = std::fs::remove_file(&path);
    }
}

/// The listening socket systemd passed (socket activation: LISTEN_PID is us, LISTEN_FDS ≥ 1,
/// the first at descriptor 3), checked to be a listening unix stream socket.
fn activated_listener(place: &Place) -> Result<Option<std::os::unix::net::UnixListener>, Failure> {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if !ours || count == 0 {
        return Ok(None);
    }
    const FIRST: i32 = 3;
    // systemd passed descriptor 3 to this process (LISTEN_PID is ours).
    let Some(fd) = torify_sys::fd::claim_inherited(FIRST) else {
        return Err(fail(
            "LISTEN_FDS says systemd passed a socket, but descriptor 3 is not open; check torify.socket",
        ));
    };
    use rustix::net::sockopt;
    let unix_stream = rustix::net::getsockname(&fd)
        .is_ok_and(|a| a.address_family() == rustix::net::AddressFamily::UNIX)
        && sockopt::socket_type(&fd).is_ok_and(|t| t == rustix::net::SocketType::STREAM)
        && sockopt::socket_acceptconn(&fd).unwrap_or(false);
    if !unix_stream {
        return Err(fail(
            "the socket systemd passed is not a listening unix stream socket; torify.socket needs ListenStream=%t/torify/socks.sock",
        ));
    }
    let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
    let listener = std::os::unix::net::UnixListener::from(fd);
    // Commands look for the service at one place only; a socket elsewhere would serve no one,
    // and this service's lock would guard another directory than its socket's.
    let at = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(std::path::Path::to_owned));
    if at.as_deref() != Some(place.socket().as_path()) {
        return Err(fail(format!(
            "systemd passed a socket at {}, but commands look for the service at {}; set ListenStream=%t/torify/socks.sock in torify.socket (and XDG_RUNTIME_DIR for the service)",
            at.map_or_else(|| "no path".to_owned(), |p| p.display().to_string()),
            place.socket().display()
        )));
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| fail(format!("cannot use the socket systemd passed: {e}")))?;
    Ok(Some(listener))
}

/// The signals that stop the service, caught (signal-hook) and kept for one thread to wait
/// for.
fn stop_signals() -> Result<Signals, Failure> {
    Signals::new([libc::SIGTERM, libc::SIGINT, libc::SIGHUP])
        .map_err(|e| fail(format!("cannot catch the stop signals: {e}")))
}

/// A thread that waits for one of `signals` and then asks the service to stop.
fn spawn_signal_waiter(mut signals: Signals, stop: Arc<Notify>) {
    std::thread::spawn(move || {
        // The handlers stay for as long as `signals` does: a second signal is not fatal either.
        for _ in signals.forever() {
            stop.notify_one();
        }
    });
}

/// One connection: refused unless from this user; a line to the service, or SOCKS.
async fn connection(mut stream: UnixStream, state: Arc<State>) {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == state.uid => {}
        Ok(cred) => {
            tracing::warn!(target: "torify", "refused a connection from uid {} (the service serves uid {} only)", cred.uid(), state.uid);
            return;
        }
        Err(e) => {
            tracing::warn!(target: "torify", "refused a connection whose peer is unknown: {e}");
            return;
        }
    }
    let mut first = [0u8; 1];
    if stream.read(&mut first).await.ok() != Some(1) {
        return;
    }
    if first[0] == CONTROL[0] {
        control(stream, &state).await;
        return;
    }
    let _counted = Counted::new(&state);
    if let Err(e) = socks::handle(
        stream,
        Some(first[0]),
        &state.client,
        &state.isolation,
        state.limits,
    )
    .await
    {
        tracing::debug!(target: "torify", "SOCKS connection ended: {e}");
    }
}

/// A line to the service itself (service.rs lists them).
async fn control(mut stream: UnixStream, state: &Arc<State>) {
    let mut line = vec![CONTROL[0]];
    let mut byte = [0u8; 1];
    while line.len() < 64 {
        match stream.read(&mut byte).await {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return,
        }
    }
    let Some(request) = line.strip_prefix(CONTROL) else {
        return;
    };
    let request = String::from_utf8_lossy(request).into_owned();
    let mut words = request.split_whitespace();
    match (words.next(), words.next()) {
        (Some("status"), None) => {
            let status = Status {
                pid: std::process::id(),
                clients: state.clients.load(Ordering::SeqCst),
                linger: state.linger.map(|l| l.as_secs()),
                settings: state.settings.clone(),
            };
            let _ = stream.write_all(status.line().as_bytes()).await;
        }
        (Some("stop"), None) => {
            let _ = stream.write_all(b"ok\n").await;
            state.stop.notify_one();
        }
        (Some("lease"), None) => {
            let _counted = Counted::new(state);
            if stream.write_all(b"ok\n").await.is_ok() {
                // Held until the command closes it (or dies).
                let mut rest = [0u8; 64];
                while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
            }
        }
        (Some("hold"), Some(pid)) => {
            match pid.parse::<i32>().ok().and_then(|p| watch(p, state.uid)) {
                Some(exited) => {
                    let _counted = Counted::new(state);
                    let _ = stream.write_all(b"ok\n").await;
                    drop(stream);
                    exited.await;
                }
                None => {
                    let _ = stream.write_all(b"fail no such process of yours\n").await;
                }
            }
        }
        _ => {
            let _ = stream.write_all(b"fail unknown request\n").await;
        }
    }
}

/// A future that ends when process `pid` (which must be `uid`'s) exits.
fn watch(pid: i32, uid: u32) -> Option<impl std::future::Future<Output = ()>> {
    if pid <= 0 {
        return None;
    }
    let process = rustix::process::Pid::from_raw(pid)?;
    let pidfd = rustix::process::pidfd_open(process, rustix::process::PidfdFlags::empty()).ok()?;
    // Checked after the pidfd pins the process: the pid cannot be someone else's by now.
    let owner = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
    if owner != uid {
        return None;
    }
    let fd =
        torify_sys::async_fd::register_with_interest(pidfd, tokio::io::Interest::READABLE).ok()?;
    tracing::debug!(target: "torify", "holding for process {pid} (fd {})", fd.get_ref().as_raw_fd());
    Some(async move {
        // A pidfd becomes readable when its process exits.
        let _ = fd.readable().await;
    })
}
