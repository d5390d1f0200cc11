//! The built launcher, library and probes.

use std::path::{Path, PathBuf};

/// target/<profile>, found from the running test or binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe has a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The sources cargo built `artifact` from, as its dep-info file (`NAME.d` beside it, without
/// a library's `.so`) lists them: exactly what the build read, so a file
/// another artifact or only the tests use does not count.
fn sources_of(artifact: &Path) -> Vec<PathBuf> {
    let name = artifact
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let info = artifact.with_file_name(format!("{}.d", name.strip_suffix(".so").unwrap_or(name)));
    let text = std::fs::read_to_string(&info)
        .unwrap_or_else(|e| panic!("{}: {e}: {BUILD}", info.display()));
    // `target: source source…`, a space inside a path escaped with a backslash.
    let (_, list) = text.split_once(": ").unwrap_or_default();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = list.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(PathBuf::from(std::mem::take(&mut word)));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(PathBuf::from(word));
    }
    out
}

const BUILD: &str = "build the workspace first (cargo build --release --workspace and make rescue, then cargo test --release)";

/// A built artifact, which must exist and be newer than every source it is built from: a test
/// of yesterday's library is no test.
fn built(name: &str) -> PathBuf {
    fresh(target_dir().join(name))
}

/// `path`, checked as [`built`] checks its artifacts.
fn fresh(path: PathBuf) -> PathBuf {
    let built_at = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {BUILD}", path.display()));
    for source in sources_of(&path) {
        if let Ok(at) = std::fs::metadata(&source).and_then(|m| m.modified()) {
            assert!(
                at <= built_at,
                "{} is older than {}: {BUILD}",
                path.display(),
                source.display()
            );
        }
    }
    path
}

/// The torify launcher; the embedded client's service program it starts, from the same
/// build, must be beside it.
pub fn torify() -> PathBuf {
    built("torify-serve");
    built("torify")
}

/// The statically linked torify-rescue, which make builds apart (target/rescue).
pub fn rescue() -> PathBuf {
    let target = target_dir();
    let profile = target.file_name().expect("a profile directory").to_owned();
    fresh(
        target
            .with_file_name("rescue")
            .join(profile)
            .join("torify-rescue"),
    )
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
