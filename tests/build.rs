//! Compiles the C probes in probes/ with the system C compiler; tests find them in PROBE_DIR.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let probes = std::fs::read_dir("probes").unwrap_or_else(|e| panic!("probes/: {e}"));
    for entry in probes.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "c") {
            continue;
        }
        let stem = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // NAME_so.c becomes the shared library NAME.so; every other probe a program.
        let (output, shared): (String, &[&str]) = match stem.strip_suffix("_so") {
            Some(lib) => (format!("{lib}.so"), &["-shared", "-fPIC"]),
            None => (stem.clone(), &[]),
        };
        let status = Command::new(&cc)
            .args(["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"])
            .args(shared)
            .arg("-o")
            .arg(out.join(&output))
            .arg(&path)
            .args(["-ldl", "-lresolv", "-lanl"])
            // liburing (liburing-dev) for the probe of what only the kernel filter catches.
            .args(if stem == "uring" {
                &["-luring"][..]
            } else {
                &[]
            })
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc} (install gcc): {e}"));
        assert!(status.success(), "{cc} failed on {}", path.display());
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=probes");
    println!("cargo:rustc-env=PROBE_DIR={}", out.display());
}
