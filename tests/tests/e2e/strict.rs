//! The kernel cage against the private Tor network: programs no preload can enter (static and
//! Go, with their own resolvers) fetch the page by name through an exit, and curl does through
//! the library inside the cage, with the tor daemon and with the embedded client.

use std::process::{Command, Stdio};

use torify_tests::artifacts;
use torify_tests::builds::programs;
use torify_tests::probe;
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::in_net;

/// An HTTP request the probes send; they print as many bytes of the answer as they sent.
fn request() -> String {
    format!("GET / HTTP/1.0\r\nHost: {DEST_NAME}\r\n\r\n")
}

#[test]
fn programs_with_their_own_resolver_fetch_by_name_in_the_cage_with_both_backends() {
    in_net(|net| {
        for backend in [&["--backend", "tor"][..], &["--backend", "arti", "-c"]] {
            for p in programs() {
                let mut cmd = Command::new(artifacts::torify());
                cmd.arg("--strict").args(backend);
                if backend.contains(&"arti") {
                    cmd.arg(&net.arti_config);
                }
                cmd.arg(&p.path)
                    .args([DEST_NAME, "80", &request()])
                    .stdin(Stdio::null());
                let run = probe::run(&mut cmd);
                assert!(
                    run.stdout.contains("reply=HTTP/1."),
                    "{} with {backend:?}: {run:?}",
                    p.name
                );
            }
            let mut cmd = Command::new(artifacts::torify());
            cmd.arg("--strict").args(backend);
            if backend.contains(&"arti") {
                cmd.arg(&net.arti_config);
            }
            cmd.args(["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")])
                .stdin(Stdio::null());
            let run = probe::run(&mut cmd);
            assert_eq!(run.stdout, PAGE, "curl with {backend:?}: {run:?}");
        }
    });
}
