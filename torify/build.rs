//! Links the `torify` launcher as a static PIE, so that no dynamic loader runs before it.
//!
//! Every torified command starts the launcher, and on a dynamic launcher the loader's work
//! (mapping libc, libgcc_s and libm, binding a few hundred symbols, copying the relocated
//! pages) was a third of `torify true`. `-static-pie` for the launcher alone, with the static
//! archives of ../build/static_archives.rs; torify-serve and the tests stay dynamic. Without
//! the archives (no libc6-dev) the launcher is linked dynamically, works the same, starts
//! slower, and cargo says so; tests/tests/cli.rs checks the build the tests use.
//!
//! And it lays out together the functions the launcher runs before it execs a command
//! (launcher.order, written by bench/order-launcher), with lld's `--symbol-ordering-file`:
//! the launcher's start is mostly page faults on the code it touches, and spread over the
//! program that code took 14-27 of its 64 KiB windows, depending on where the compiler happened
//! to put things; together, 9. Names the file has and the program not (after a toolchain or
//! dependency update) are ignored: only the layout is lost. rustc links with lld on x86_64
//! Linux; with another linker, or a linker configured for the build, the file is not passed.

#[path = "../build/static_archives.rs"]
mod static_archives;

/// The rest of the libraries rustc's link line names for a dynamic Linux program.
const LIBC: [(&str, &str); 6] = [
    ("util", "libutil.a"),
    ("rt", "librt.a"),
    ("pthread", "libpthread.a"),
    ("m", "libm.a"),
    ("dl", "libdl.a"),
    ("c", "libc.a"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build/static_archives.rs");
    println!("cargo:rerun-if-changed=launcher.order");
    let lld = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && std::env::var_os("RUSTC_LINKER").is_none();
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("launcher.order");
    if lld && static_archives::glibc_linux() && order.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=torify=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
            order.display()
        );
    }
    if !static_archives::glibc_linux() {
        return;
    }
    let Some(dir) = std::env::var_os("OUT_DIR").map(|d| std::path::PathBuf::from(d).join("static"))
    else {
        return;
    };
    let mut wanted = vec![static_archives::UNWINDER];
    wanted.extend(LIBC);
    match static_archives::archives(&dir, &wanted) {
        Ok(()) => {
            println!("cargo:rustc-link-arg-bin=torify=-static-pie");
            println!("cargo:rustc-link-arg-bin=torify=-L{}", dir.display());
        }
        Err(why) => println!(
            "cargo:warning=the torify launcher is linked dynamically (slower to start): {why}"
        ),
    }
}
