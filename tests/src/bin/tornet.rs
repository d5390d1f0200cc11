//! Starts the private Tor network (see `torify_tests::tornet`).
//!
//! tornet run [--dir DIR] -- COMMAND [ARGS…]
//!     starts the network, runs COMMAND inside its network namespace with TORNET_SOCKS,
//!     TORNET_CONTROL, TORNET_ONION, TORNET_DEST, TORNET_SSH_KEY, TORNET_SSH_USER and
//!     TORNET_DIR set, stops everything, and exits with COMMAND's status.
//! tornet up [--dir DIR]
//!     starts the network, prints those variables, and runs until stdin closes or Ctrl-C.
//!
//! TORNET_DELAY_MS=D delays every OR connection by D ms each way (a forwarder in front of
//! every ORPort; see `torify_tests::tornet::Options`); scripts see it as TORNET_DELAY_MS.
//!
//! Needs root (network namespaces). Every process it starts dies with it.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use torify_tests::tornet::{Options, TorNet};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    let mut dir = std::env::temp_dir().join(format!("torify-tornet-{}", std::process::id()));
    if args.first().map(String::as_str) == Some("--dir") && args.len() > 1 {
        dir = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if !(mode == "up" || mode == "run" && !args.is_empty()) {
        eprintln!("usage: tornet run [--dir DIR] -- COMMAND [ARGS...] | tornet up [--dir DIR]");
        return ExitCode::from(2);
    }
    let options = match Options::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tornet: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "tornet: starting 3 authorities, 4 exit relays, a client and an onion service in {}{}",
        dir.display(),
        if options.or_delay_ms > 0 {
            format!(", every ORPort {} ms late each way", options.or_delay_ms)
        } else {
            String::new()
        }
    );
    let net = match TorNet::start_with(&dir, options) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("tornet: the private Tor network did not come up:\n{e}");
            return ExitCode::from(1);
        }
    };
    let phases: Vec<String> = net
        .phases
        .iter()
        .map(|(what, at)| format!("{what} {:.1}s", at.as_secs_f64()))
        .collect();
    eprintln!(
        "tornet: ready after {:.1}s ({}); onion service {}",
        net.ready_after.as_secs_f64(),
        phases.join(", "),
        net.onion
    );
    let code = if mode == "up" {
        for (k, v) in net.env() {
            println!("{k}={v}");
        }
        eprintln!("tornet: running; close stdin or press Ctrl-C to stop");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        0
    } else {
        let status = Command::new(&args[0])
            .args(&args[1..])
            .envs(net.env())
            .status();
        match status {
            Ok(s) => s.code().unwrap_or(1),
            Err(e) => {
                eprintln!("tornet: cannot run {}: {e}", args[0]);
                127
            }
        }
    };
    net.stop();
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
