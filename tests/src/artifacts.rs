//! The built launcher, library and probes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// target/<profile>, found from the running test or binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The newest modification time of the Rust sources under `dir`.
fn newest_source(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs")
            || path.file_name().is_some_and(|n| n == "Cargo.toml")
        {
            // Only what the build reads: conf/torify.toml is an example, not an input.
            entry.metadata().and_then(|m| m.modified()).ok()
        } else {
            None
        };
        newest = newest.max(time);
    }
    newest
}

/// A built artifact, which must exist and be newer than the sources it is built from: a test
/// of yesterday's library is no test.
fn built(name: &str, sources: &[&str]) -> PathBuf {
    let path = target_dir().join(name);
    let build =
        "build the workspace first (cargo build --release --workspace, then cargo test --release)";
    let built_at = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {build}", path.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in sources {
        if let Some(source) = newest_source(&root.join(dir)) {
            assert!(
                source <= built_at,
                "{} is older than the sources in {dir}/: {build}",
                path.display()
            );
        }
    }
    path
}

/// The torify launcher.
pub fn torify() -> PathBuf {
    built("torify", &["torify", "conf", "lib/core"])
}

/// libtorify.so.
pub fn library() -> PathBuf {
    built("libtorify.so", &["lib/src", "conf", "lib/core"])
}

/// The mock SOCKS server binary.
pub fn mock_socks() -> PathBuf {
    built("mock-socks", &["tests/src"])
}

/// A C probe compiled by build.rs.
pub fn probe(name: &str) -> PathBuf {
    PathBuf::from(env!("PROBE_DIR")).join(name)
}

/// libc's own path: a library every program loads anyway, so preloading it is harmless. Tests
/// use it as "the LD_PRELOAD the user already had".
pub fn libc() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.contains("/libc.so"))
        .expect("libc in /proc/self/maps")
        .to_owned()
}
