//! The embedded Tor client (`--backend arti`): the launcher bootstraps arti, serves SOCKS on a
//! loopback port only its command is told about, runs the command as a child with the library
//! pointed there, forwards signals, and stops the client when the command exits.

mod config;
mod offline;
mod progress;
pub(crate) mod socks;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arti_client::{ErrorKind, HasKind, TorClient, TorClientConfig};
use tor_rtcompat::PreferredRuntime;
use torify_conf::Loaded;

use crate::child;
use crate::launch::{EnvChanges, Failure, fail};

/// arti's own log lines: warnings only (and not the ones a small test network provokes), all of
/// torify's and arti's details with -d, nothing with -q.
fn init_logging(debug: bool, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = if quiet {
        "off"
    } else if debug {
        "info,torify=debug"
    } else {
        "warn,tor_netdir=error,tor_guardmgr=error,tor_dirmgr=error,tor_circmgr=error"
    };
    // TORIFY_ARTI_LOG takes a tracing filter ("debug,tor_hsclient=trace") for debugging; -q
    // still silences everything.
    let filter = match std::env::var("TORIFY_ARTI_LOG") {
        Ok(custom) if !quiet => custom,
        _ => filter.to_owned(),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

/// Runs `command` through the embedded client; the exit status is the command's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    loaded: &Loaded,
    command: &[OsString],
    program: &Path,
    lib: &Path,
    changes: &EnvChanges,
    filters: Option<crate::seccomp::Filters>,
    debug: bool,
    quiet: bool,
) -> Result<u8, Failure> {
    let (command, program, lib, changes) = (
        command.to_vec(),
        program.to_owned(),
        lib.to_owned(),
        changes.clone(),
    );
    serve(loaded, debug, quiet, move |socks| {
        let extra = [
            ("TORSOCKS_TOR_ADDRESS", socks.ip().to_string()),
            ("TORSOCKS_TOR_PORT", socks.port().to_string()),
        ];
        child::run(&command, &program, &lib, &changes, &extra, filters)
    })?
}

/// Bootstraps the embedded client, serves SOCKS on a random loopback port, calls `work` with
/// that address (on a thread where blocking is fine), then stops the client. A bootstrap that
/// misses `arti.bootstrap_timeout` is an error and `work` never runs.
pub(crate) fn serve<T: Send + 'static>(
    loaded: &Loaded,
    debug: bool,
    quiet: bool,
    work: impl FnOnce(SocketAddr) -> T + Send + 'static,
) -> Result<T, Failure> {
    prepare(loaded, debug, quiet)?;
    let runtime = crate::launch::runtime()?;
    let outcome = runtime.block_on(async {
        let client = bootstrap(loaded, quiet).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| fail(format!("cannot open a SOCKS port for the command: {e}")))?;
        let addr = listener.local_addr().map_err(|e| fail(e.to_string()))?;
        let server = tokio::spawn(socks::serve(listener, client.clone()));
        let result = tokio::task::spawn_blocking(move || work(addr))
            .await
            .map_err(|e| fail(format!("the command's waiter failed: {e}")));
        server.abort();
        drop(client);
        result
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    outcome
}

/// The checks and process-wide set-up before a runtime starts: a route off the machine for
/// the public network, the TLS provider, the log.
pub(crate) fn prepare(loaded: &Loaded, debug: bool, quiet: bool) -> Result<(), Failure> {
    // The public network needs a route off this machine; a private one may live on loopback.
    if loaded.settings.arti.network.is_none()
        && !offline::has_default_route(
            &std::fs::read_to_string("/proc/net/route").unwrap_or_default(),
            &std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default(),
        )
    {
        return Err(fail(
            "this machine has no route to the internet, so the embedded Tor client cannot reach any Tor relay; nothing was run. Connect to a network, or point torify at a tor daemon (--backend tor, -P PORT)",
        ));
    }
    // arti's TLS stack expects a process-wide crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    init_logging(debug, quiet);
    Ok(())
}

/// Creates and bootstraps the client, showing progress; fails past `arti.bootstrap_timeout`
/// or as soon as arti finds it cannot reach Tor.
pub(crate) async fn bootstrap(
    loaded: &Loaded,
    quiet: bool,
) -> Result<Arc<TorClient<PreferredRuntime>>, Failure> {
    let config = config::build(&loaded.settings.arti).map_err(fail)?;
    let timeout = Duration::from_secs(loaded.settings.arti.bootstrap_timeout);
    let client = create(config).await?;
    let started = Instant::now();
    let show = progress::Show::new(quiet);
    let progress = tokio::spawn(progress::follow(client.bootstrap_events(), show));
    let bootstrap = async {
        tokio::select! {
            done = client.bootstrap() => done.map_err(|e| format!(
                "the embedded Tor client could not bootstrap: {e}; nothing was run"
            )),
            blocked = offline::blocked(&client) => Err(blocked),
        }
    };
    match tokio::time::timeout(timeout, bootstrap).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            progress.abort();
            return Err(fail(why));
        }
        Err(_) => {
            progress.abort();
            let status = client.bootstrap_status();
            return Err(fail(format!(
                "Tor did not bootstrap within {}s (last: {status}); nothing was run. Check the network, or raise arti.bootstrap_timeout",
                timeout.as_secs()
            )));
        }
    }
    let _ = progress.await;
    if !quiet {
        eprintln_ready(started.elapsed());
    }
    Ok(client)
}

/// Creates the client. Launchers starting at once share arti's cache: the one that did not get
/// the cache lock opens it read-only, which fails while the other is still creating it or
/// holds sqlite's write lock. A moment later it succeeds, so those failures are retried
/// briefly.
async fn create(config: TorClientConfig) -> Result<Arc<TorClient<PreferredRuntime>>, Failure> {
    let mut attempts = 0;
    loop {
        match TorClient::builder()
            .config(config.clone())
            .create_unbootstrapped()
        {
            Ok(client) => return Ok(client),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::CacheAccessFailed | ErrorKind::LocalResourceAlreadyInUse
                ) && attempts < 20 =>
            {
                attempts += 1;
                tracing::debug!(target: "torify", "cache busy, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(fail(format!("cannot start the embedded Tor client: {e}"))),
        }
    }
}

fn eprintln_ready(after: Duration) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "torify: Tor is ready (embedded client, {:.1}s)",
        after.as_secs_f64()
    );
}
