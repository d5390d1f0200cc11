//! The built launcher, library and probes.

use std::path::PathBuf;

/// target/<profile>, found from the running test or binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn built(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --release --workspace, then cargo test --release)",
        path.display()
    );
    path
}

/// The torify launcher.
pub fn torify() -> PathBuf {
    built("torify")
}

/// libtorify.so.
pub fn library() -> PathBuf {
    built("libtorify.so")
}

/// The mock SOCKS server binary.
pub fn mock_socks() -> PathBuf {
    built("mock-socks")
}

/// A C probe compiled by build.rs.
pub fn probe(name: &str) -> PathBuf {
    PathBuf::from(env!("PROBE_DIR")).join(name)
}
