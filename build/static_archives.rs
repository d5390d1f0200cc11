//! Static archives under the names rustc links with, for the build scripts of the launcher
//! and the library (each includes this file).
//!
//! rustc links a Linux program or shared library against `-lgcc_s` (the unwinder) and libc's
//! shared objects, and `-C target-feature=+crt-static`, its way to static linking, applies to
//! a whole build: the workspace's proc-macros and the preload library cannot take it. So a
//! build script makes a directory of links named as rustc's `-l` options ask
//! (`libgcc_s.a` → libgcc_eh.a, the unwinder's static form; `libc.a` → glibc's own archive,
//! …) and hands it to the linker with `-L`. The linker looks in `-L` directories before the
//! system's, so those names resolve to the archives: the same code, linked statically.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Links `dir/lib<name>.a` to the C compiler's `archive` for each (name, archive); `Err` with
/// the reason when the compiler has one of them not (the caller then links dynamically).
pub(crate) fn archives(dir: &Path, wanted: &[(&str, &str)]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    for (name, archive) in wanted {
        let found = Command::new(&cc)
            .arg(format!("-print-file-name={archive}"))
            .output()
            .map_err(|e| format!("cannot run {cc}: {e}"))?;
        let path = PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
        // The compiler echoes the bare name back when it has no such file.
        if !path.is_absolute() || !path.is_file() {
            return Err(format!(
                "{cc} has no {archive} (Debian: libc6-dev, libgcc-12-dev)"
            ));
        }
        let link = dir.join(format!("lib{name}.a"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path, &link)
            .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
    }
    Ok(())
}

/// Whether cargo builds for glibc on Linux, the only place these archives are known.
pub(crate) fn glibc_linux() -> bool {
    std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
}

/// The unwinder, linked statically.
pub(crate) const UNWINDER: (&str, &str) = ("gcc_s", "libgcc_eh.a");
