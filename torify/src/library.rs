//! Finding libtorify.so and the embedded client's service program beside the launcher.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The file name of the preload library.
pub(crate) const LIBRARY: &str = "libtorify.so";

/// Where `make install` puts the library (overridable at build time with TORIFY_LIBDIR).
pub(crate) const INSTALL_DIR: &str = match option_env!("TORIFY_LIBDIR") {
    Some(dir) => dir,
    None => "/usr/local/lib/torify",
};

/// Debian's multiarch triplet of the architecture this launcher is built for (`dpkg-architecture
/// -qDEB_HOST_MULTIARCH`), for the Debian package, which puts the library and the service in
/// `/usr/lib/<triplet>/torify/`: a launcher of one architecture then never picks up the library
/// of another. None where Debian has no such architecture (the other places still apply).
pub(crate) const MULTIARCH: Option<&str> =
    if cfg!(not(all(target_os = "linux", target_env = "gnu"))) {
        None
    } else if cfg!(all(target_arch = "x86_64", target_pointer_width = "64")) {
        Some("x86_64-linux-gnu")
    } else if cfg!(target_arch = "x86") {
        Some("i386-linux-gnu")
    } else if cfg!(target_arch = "aarch64") {
        Some("aarch64-linux-gnu")
    } else if cfg!(all(target_arch = "arm", target_abi = "eabihf")) {
        Some("arm-linux-gnueabihf")
    } else if cfg!(all(target_arch = "arm", target_abi = "eabi")) {
        Some("arm-linux-gnueabi")
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Some("powerpc64le-linux-gnu")
    } else if cfg!(target_arch = "riscv64") {
        Some("riscv64-linux-gnu")
    } else if cfg!(target_arch = "s390x") {
        Some("s390x-linux-gnu")
    } else {
        None
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
        if let Some(triplet) = MULTIARCH {
            out.push(dir.join("../lib").join(triplet).join("torify").join(file));
        }
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

/// True when the library would torify this launcher: it runs in a torified shell. The
/// launcher is a static program (torify/build.rs), which no loader preloads anything into, so
/// this asks what the loader would have done with a dynamic one: load the first libtorify.so
/// that LD_PRELOAD or /etc/ld.so.preload names. In the system-wide mode every program loads
/// it, and the launcher is left alone unless a torified shell started it
/// (`torify_preload::decide`).
pub(crate) fn loaded_here() -> bool {
    let env = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    let file = std::fs::read(torify_preload::PRELOAD_FILE).unwrap_or_default();
    let Some(path) = torify_preload::entries(env.as_bytes())
        .chain(torify_preload::entries(&file))
        .find(|e| torify_preload::names_the_library(e))
    else {
        return false;
    };
    let path = Path::new(std::ffi::OsStr::from_bytes(path));
    let launched = std::env::var_os(torify_preload::LAUNCHED_VARIABLE).is_some();
    torify_preload::this_process(launched, || torify_preload::listed(&file, path))
        == torify_preload::Verdict::Armed
}

/// Whether `lib` loads into a child: `cat /proc/self/maps` with it in LD_PRELOAD (`configure`
/// sets the rest of the child's environment); `Err` with what the loader said.
pub(crate) fn loads_into_a_child(
    lib: &Path,
    configure: impl FnOnce(&mut std::process::Command),
) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/maps")
        .env("LD_PRELOAD", lib)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| format!("could not start a child to test the library: {e}"))?;
    if out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains(&lib.display().to_string())
    {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(if said.is_empty() {
        format!("the child ended with {} and without it", out.status)
    } else {
        said
    })
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

    /// The library finds the launcher where the launcher finds the library (every layout but
    /// the fixed INSTALL_DIR): the library lets a torified shell start this static program only
    /// there.
    #[test]
    fn the_library_knows_where_the_launcher_is_in_every_layout() {
        let exe = Path::new("/opt/x/bin/torify");
        let mut layouts = candidates(exe, LIBRARY);
        layouts.pop();
        for lib in layouts {
            let dir = lib.parent().unwrap();
            let found = torify_core::exec::LAUNCHER_FROM_LIBRARY_DIR
                .iter()
                .any(|at| lexical(&dir.join(at)) == exe);
            assert!(found, "{}", lib.display());
        }
    }

    /// `path` with `..` taken away by hand (no file system).
    fn lexical(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in path.components() {
            match part {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    #[test]
    fn looks_beside_then_in_lib_then_install_dir() {
        let c = candidates(Path::new("/opt/x/bin/torify"), LIBRARY);
        let mut expected = vec![
            PathBuf::from("/opt/x/bin/libtorify.so"),
            PathBuf::from("/opt/x/bin/../lib/torify/libtorify.so"),
        ];
        // The Debian package's place: /usr/bin/torify finds /usr/lib/<triplet>/torify/.
        expected.extend(
            MULTIARCH.map(|t| PathBuf::from(format!("/opt/x/bin/../lib/{t}/torify/libtorify.so"))),
        );
        expected.push(PathBuf::from("/opt/x/bin/../lib/libtorify.so"));
        expected.push(Path::new(INSTALL_DIR).join(LIBRARY));
        assert_eq!(c, expected);
    }

    #[test]
    #[cfg(all(
        target_os = "linux",
        target_arch = "x86_64",
        target_pointer_width = "64",
        target_env = "gnu"
    ))]
    fn multiarch_triplet_is_debians() {
        // What dpkg-architecture -qDEB_HOST_MULTIARCH says on amd64.
        assert_eq!(MULTIARCH, Some("x86_64-linux-gnu"));
    }
}
