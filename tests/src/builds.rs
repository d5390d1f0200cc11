//! Programs built at test time the ways the preload library cannot enter: statically linked,
//! against musl, and Go (static, and dynamic with cgo), from `tests/probes/other/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A program built so that the library cannot enter it, and the words its refusal carries.
pub struct Unenterable {
    /// A short name, for messages.
    pub name: &'static str,
    /// The program.
    pub path: PathBuf,
    /// Words its refusal line carries.
    pub why: &'static str,
}

fn build(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed (tests/install-deps installs gcc, musl-tools and golang-go): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the probes once per test run (Go's build cache makes the second time quick).
pub fn programs() -> &'static [Unenterable] {
    static BUILT: OnceLock<(tempfile::TempDir, Vec<Unenterable>)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/other");
            let at = |n: &str| dir.path().join(n);
            build(
                Command::new("cc")
                    .args(["-static", "-O1", "-o"])
                    .arg(at("static-c"))
                    .arg(src.join("connect.c")),
                "cc -static",
            );
            build(
                Command::new("musl-gcc")
                    .arg("-o")
                    .arg(at("musl-c"))
                    .arg(src.join("connect.c")),
                "musl-gcc",
            );
            for (cgo, name) in [("0", "go-static"), ("1", "go-dynamic")] {
                build(
                    Command::new("go")
                        .env("CGO_ENABLED", cgo)
                        .env("GOCACHE", std::env::temp_dir().join("torify-test-go-cache"))
                        .env("GOFLAGS", "-buildvcs=false")
                        .arg("build")
                        .arg("-o")
                        .arg(at(name))
                        .arg(src.join("connect.go"))
                        .arg(src.join("cgo.go")),
                    "go build",
                );
            }
            let list = vec![
                Unenterable {
                    name: "static-c",
                    path: at("static-c"),
                    why: "statically linked",
                },
                Unenterable {
                    name: "musl-c",
                    path: at("musl-c"),
                    why: "another C library",
                },
                Unenterable {
                    name: "go-static",
                    path: at("go-static"),
                    why: "a Go program",
                },
                Unenterable {
                    name: "go-dynamic",
                    path: at("go-dynamic"),
                    why: "a Go program",
                },
            ];
            (dir, list)
        })
        .1
}

/// `tests/probes/other/stream.c`, linked statically: bulk transfer, half-close, refused
/// connects and DNS over TCP across the cage's TUN device.
pub fn static_stream() -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &BUILT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("stream");
            build(
                Command::new("cc")
                    .args(["-static", "-O1", "-o"])
                    .arg(&path)
                    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("probes/other/stream.c")),
                "cc -static",
            );
            (dir, path)
        })
        .1
}
