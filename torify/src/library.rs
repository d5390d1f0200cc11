//! Finding libtorify.so and the embedded client's service program beside the launcher.

use std::path::{Path, PathBuf};

/// The file name of the preload library.
pub(crate) const LIBRARY: &str = "libtorify.so";

/// Where `make install` puts the library (overridable at build time with TORIFY_LIBDIR).
pub(crate) const INSTALL_DIR: &str = match option_env!("TORIFY_LIBDIR") {
    Some(dir) => dir,
    None => "/usr/local/lib/torify",
};

/// The file name of the embedded Tor client's service, a program of its own so that the
/// launcher every command runs carries none of it.
pub(crate) const SERVICE: &str = "torify-serve";

/// The places looked at, in order, for `file` (the library or the service) of a launcher at
/// `exe`.
pub(crate) fn candidates(exe: &Path, file: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = exe.parent() {
        out.push(dir.join(file));
        out.push(dir.join("../lib/torify").join(file));
        out.push(dir.join("../lib").join(file));
    }
    out.push(Path::new(INSTALL_DIR).join(file));
    out
}

/// The library, as an absolute path, or the one-line reason it was not found.
pub(crate) fn find() -> Result<PathBuf, String> {
    find_file(LIBRARY)
}

/// The embedded client's service program, as an absolute path, or why it was not found.
pub(crate) fn service() -> Result<PathBuf, String> {
    find_file(SERVICE)
}

fn find_file(file: &str) -> Result<PathBuf, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot locate the torify executable: {e}"))?;
    let tried = candidates(&exe, file);
    tried
        .iter()
        .find(|p| p.is_file())
        .and_then(|p| p.canonicalize().ok())
        .ok_or_else(|| {
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            format!(
                "{file} not found (looked at {}); install it with `make install`, or put it next to the torify executable (`cargo install` installs only the launcher)",
                list.join(", ")
            )
        })
}

/// True when the library is loaded into this launcher (it runs in a torified shell).
pub(crate) fn loaded_here() -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines().any(|l| l.ends_with(&format!("/{LIBRARY}")))
}

/// The embedded client cannot run with the library loaded into the launcher (in a shell
/// torified by `torify on` or `--shell`): its listener would be refused and its connections to
/// relays sent into Tor. Nor can the launcher shed the library by running itself again: the
/// library gives every child LD_PRELOAD back, which is the point of it. So it refuses (a
/// service that runs already is fine: it is reached through a unix socket).
pub(crate) fn refuse_if_loaded_here() -> Result<(), String> {
    if loaded_here() {
        return Err(
            "refused to start the embedded Tor client: this shell is torified (torify on or --shell), so the client's own connections to Tor relays would be refused; run eval \"$(torify off)\" (or leave the --shell) first, start it with `torify serve` outside, or use the tor daemon with --backend tor".to_owned(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_beside_then_in_lib_then_install_dir() {
        let c = candidates(Path::new("/opt/x/bin/torify"), LIBRARY);
        assert_eq!(c[0], Path::new("/opt/x/bin/libtorify.so"));
        assert_eq!(c[1], Path::new("/opt/x/bin/../lib/torify/libtorify.so"));
        assert_eq!(c[2], Path::new("/opt/x/bin/../lib/libtorify.so"));
        assert_eq!(c[3], Path::new(INSTALL_DIR).join(LIBRARY));
    }
}
