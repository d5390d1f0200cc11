//! The kernel cage against the private Tor network: programs no preload can enter (static and
//! Go, with their own resolvers) fetch the page by name through an exit, and curl does through
//! the library inside the cage, with the tor daemon and with the embedded client's service.

use std::process::Stdio;

use torify_tests::builds::programs;
use torify_tests::probe;
use torify_tests::tornet::{DEST_NAME, PAGE};

use super::{Runtime, in_net};

/// An HTTP request the probes send; they print as many bytes of the answer as they sent.
fn request() -> String {
    format!("GET / HTTP/1.0\r\nHost: {DEST_NAME}\r\n\r\n")
}

#[test]
fn programs_with_their_own_resolver_fetch_by_name_in_the_cage_with_both_backends() {
    in_net(|net| {
        // The embedded client is its service's, started by the first command here and
        // stopped with the runtime directory.
        let rt = Runtime::new(net, "strict");
        for backend in [&["--backend", "tor"][..], &["--backend", "arti", "-c"]] {
            let torify = || {
                let mut cmd = rt.torify();
                cmd.arg("--strict").args(backend);
                if backend.contains(&"arti") {
                    cmd.arg(&net.arti_config);
                }
                cmd
            };
            for p in programs() {
                let mut cmd = torify();
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
            let mut cmd = torify();
            cmd.args(["curl", "-s", "-m", "120", &format!("http://{DEST_NAME}/")])
                .stdin(Stdio::null());
            let run = probe::run(&mut cmd);
            assert_eq!(run.stdout, PAGE, "curl with {backend:?}: {run:?}");
        }
    });
}
