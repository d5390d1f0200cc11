//! The mock Tor SOCKS server as a program, for scripts and benchmarks.
//!
//! mock-socks [--listen ADDR] [--reply CODE] [--delay-ms N] [--resolve NAME=IP]...
//!            [--ptr IP=NAME]... [--banner TEXT | --close] [--require-auth]
//!
//! Prints `listening on ADDR` once ready, then one line per request it sees.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use torify_tests::mock::{After, Behaviour, serve};

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut b = Behaviour::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value(),
            "--reply" => {
                b.reply = value()
                    .parse()
                    .unwrap_or_else(|_| panic!("--reply takes a number"))
            }
            "--delay-ms" => b.delay = Duration::from_millis(value().parse().unwrap_or(0)),
            "--resolve" => {
                let v = value();
                let (name, ip) = v
                    .split_once('=')
                    .unwrap_or_else(|| panic!("--resolve NAME=IP"));
                b.resolve.push((
                    name.to_owned(),
                    ip.parse().unwrap_or_else(|_| panic!("bad IP {ip}")),
                ));
            }
            "--ptr" => {
                let v = value();
                let (ip, name) = v.split_once('=').unwrap_or_else(|| panic!("--ptr IP=NAME"));
                b.ptr.push((
                    ip.parse().unwrap_or_else(|_| panic!("bad IP {ip}")),
                    name.to_owned(),
                ));
            }
            "--banner" => b.after = After::Banner(value()),
            "--close" => b.after = After::Close,
            "--require-auth" => b.require_auth = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let listener =
        TcpListener::bind(&listen).unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    println!(
        "listening on {}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let b = Arc::new(b);
    let seen = Arc::new(Mutex::new(Vec::new()));
    for conn in listener.incoming().flatten() {
        let (b, seen) = (b.clone(), seen.clone());
        std::thread::spawn(move || {
            let _ = serve(conn, &b, &seen);
            if let Some(last) = seen.lock().ok().and_then(|s| s.last().cloned()) {
                println!(
                    "request command=0x{:02x} host={} port={} auth={}",
                    last.command,
                    last.host,
                    last.port,
                    last.auth.is_some()
                );
            }
        });
    }
}
