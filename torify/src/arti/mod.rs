//! The embedded Tor client (arti): its configuration, its bootstrap (with progress and an
//! early verdict when Tor is out of reach), its SOCKS server, and the per-user service that
//! hosts it (`torify serve`, serve.rs) for commands run with `--backend arti`. The kernel cage
//! (`--strict`) bootstraps a client of its own in the launcher.

mod config;
mod offline;
mod progress;
pub(crate) mod serve;
pub(crate) mod socks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arti_client::config::HasChanMethod as _;
use arti_client::{ErrorKind, HasKind, TorClient, TorClientConfig};
use tor_rtcompat::PreferredRuntime;
use torify_conf::Loaded;

use crate::exit::{Failure, fail};
use crate::ui::Verbosity;
use progress::Sink;

/// arti's own log lines: warnings only (and not the ones a small test network provokes), all of
/// torify's and arti's details with -d, nothing with -q. Beside them, [`PreemptiveWatch`].
fn init_logging(verbosity: Verbosity) {
    let (debug, quiet) = (verbosity.debug(), verbosity.quiet());
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
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
    use std::io::IsTerminal;
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a service's log is a file, a command's stderr a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .with_filter(EnvFilter::new(filter));
    let watch = PreemptiveWatch.with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target("tor_circmgr", tracing::Level::DEBUG),
    );
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(watch)
        .try_init();
}

/// Preemptive circuits built so far (see [`PreemptiveWatch`]).
static PREEMPTIVE_BUILT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Counts arti's "Preemptive circuit was created" events (tor-circmgr's
/// `launch_circuits_preemptively`, debug level): arti 0.47 offers no other way, short of its
/// experimental API, to learn that a circuit stands ready before anyone asks for one. The
/// service waits for the first (bounded) before it says it is ready, so the first command
/// does not wait for a circuit to be built. If a later arti words it otherwise, the wait runs
/// out and nothing else changes; e2e serve.rs measures the first command's first byte.
struct PreemptiveWatch;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PreemptiveWatch {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}").starts_with("Preemptive circuit was created");
                }
            }
        }
        let mut m = Message(false);
        event.record(&mut m);
        if m.0 {
            PREEMPTIVE_BUILT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Waits until arti has built a preemptive circuit, at most `limit`; whether it has.
pub(crate) async fn preemptive_circuit(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if PREEMPTIVE_BUILT.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The checks and process-wide set-up before a runtime starts: a route off the machine for
/// the public network, the TLS provider, the log.
pub(crate) fn prepare(loaded: &Loaded, verbosity: Verbosity) -> Result<(), Failure> {
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
    init_logging(verbosity);
    Ok(())
}

/// The relay addresses the client bootstraps from (its fallback directories), a sample.
fn bootstrap_relays(config: &TorClientConfig) -> Vec<SocketAddr> {
    let Ok(dir) = config.dir_mgr_config() else {
        return Vec::new();
    };
    let all: Vec<SocketAddr> = dir
        .fallbacks()
        .iter()
        .flat_map(|f| {
            f.chan_method()
                .socket_addrs()
                .map(<[SocketAddr]>::to_vec)
                .unwrap_or_default()
        })
        .collect();
    offline::sample(all)
}

/// Creates and bootstraps the client, its progress into `sink`. Fails past
/// `arti.bootstrap_timeout`, within seconds when none of the relays it bootstraps from
/// answers as a TLS server, or when arti finds it cannot reach Tor.
pub(crate) async fn bootstrap_into(
    loaded: &Loaded,
    sink: &mut Sink,
) -> Result<Arc<TorClient<PreferredRuntime>>, Failure> {
    let config = config::build(&loaded.settings.arti).map_err(fail)?;
    let timeout = Duration::from_secs(loaded.settings.arti.bootstrap_timeout);
    let relays = bootstrap_relays(&config);
    let client = create(config).await?;
    let events = client.bootstrap_events();
    let bootstrap = async {
        tokio::select! {
            done = client.bootstrap() => done.map_err(|e| format!(
                "the embedded Tor client could not bootstrap: {e}; nothing was run"
            )),
            blocked = offline::blocked(&client) => Err(blocked),
            unreachable = offline::unreachable(relays) => Err(unreachable),
            () = progress::follow(events, sink) => Err("bootstrap progress ended".to_owned()),
        }
    };
    let outcome = tokio::time::timeout(timeout, bootstrap).await;
    match outcome {
        Ok(Ok(())) => {
            // The bootstrap may end before its progress was seen (a warm cache): the final
            // status is shown all the same (shown twice, it is drawn once).
            let status = client.bootstrap_status();
            sink.update((status.as_frac() * 100.0) as u32, &status.to_string());
            Ok(client)
        }
        Ok(Err(why)) => Err(fail(why)),
        Err(_) => {
            let status = client.bootstrap_status();
            Err(fail(format!(
                "Tor did not bootstrap within {}s (last: {status}); nothing was run. Check the network, or raise arti.bootstrap_timeout",
                timeout.as_secs()
            )))
        }
    }
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
