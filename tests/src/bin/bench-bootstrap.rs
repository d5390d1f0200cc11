//! Cold start to first byte on the private Tor network: a tor client with an empty data
//! directory against torify's embedded arti client with an empty state and cache, and arti
//! again with its cache filled (what a user sees from the second run on).
//!
//! bench-bootstrap [ROUNDS]   (root: network namespaces; default 3 rounds)
//!
//! Each figure is from starting the client to the first byte of `GET /` from the destination
//! through an exit. Prints a table of the median and the range.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use torify_tests::artifacts;
use torify_tests::tornet::{DEST_NAME, PAGE, TorNet, http_get_via_socks};

/// The cold tor client's SocksPort.
const COLD_PORT: u16 = 9060;

/// A tor client started from nothing, until a GET through it returns the page.
fn tor_cold(net: &TorNet, round: usize) -> Result<Duration, String> {
    let started = Instant::now();
    net.start_client(&format!("cold{round}"), COLD_PORT + round as u16)?;
    let socks = std::net::SocketAddr::from(([127, 0, 0, 1], COLD_PORT + round as u16));
    loop {
        if let Ok(body) = http_get_via_socks(socks, DEST_NAME, 80)
            && body.contains(PAGE.trim())
        {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err("the cold tor client never carried a stream".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `torify --backend arti curl` with the given state and cache directory.
fn arti(net: &TorNet, dir: &Path) -> Result<Duration, String> {
    let config = net.arti_config_at(dir)?;
    let started = Instant::now();
    let out = Command::new(artifacts::torify())
        .args(["--backend", "arti", "-q", "-c"])
        .arg(&config)
        .args(["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if String::from_utf8_lossy(&out.stdout) != PAGE {
        return Err(format!(
            "arti run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(took)
}

fn summary(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    let s = |d: Duration| format!("{:.2}", d.as_secs_f64());
    format!(
        "| {name:<34} | {:>8} | {:>6} – {:<6} |",
        s(v[v.len() / 2]),
        s(v[0]),
        s(v[v.len() - 1])
    )
}

fn main() -> ExitCode {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = std::env::temp_dir().join(format!("torify-bench-{}", std::process::id()));
    eprintln!(
        "bench-bootstrap: starting the private Tor network in {}",
        dir.display()
    );
    let net = match TorNet::start(&dir) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("bench-bootstrap: the private Tor network did not come up:\n{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut tor, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let result = (|| -> Result<(), String> {
        for round in 0..rounds {
            tor.push(tor_cold(&net, round)?);
            let state = dir.join(format!("arti-cold{round}"));
            cold.push(arti(&net, &state)?);
            warm.push(arti(&net, &state)?);
            eprintln!("bench-bootstrap: round {} of {rounds} done", round + 1);
        }
        Ok(())
    })();
    net.stop();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        eprintln!("bench-bootstrap: {e}");
        return ExitCode::FAILURE;
    }
    println!("start to first byte through an exit, private network, {rounds} rounds (seconds)");
    println!("| client                             |   median |      range      |");
    println!("|------------------------------------|----------|-----------------|");
    println!("{}", summary("tor daemon, empty data directory", tor));
    println!("{}", summary("torify --backend arti, empty cache", cold));
    println!("{}", summary("torify --backend arti, warm cache", warm));
    ExitCode::SUCCESS
}
