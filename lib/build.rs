//! Builds the C shim for the variadic exec functions (shim/execl.c): stable Rust cannot read
//! C varargs, so execl, execlp and execle collect their lists in C with va_arg. And links the
//! unwinder into the library (../build/static_archives.rs): every torified program then loads
//! one shared object fewer, libgcc_s, which was a third of what loading the library cost.
//! The unwinder's symbols stay inside (rustc's version script exports only the hooks), so a
//! C++ program's exceptions still use its own libgcc_s.

#[path = "../build/static_archives.rs"]
mod static_archives;

fn main() {
    println!("cargo:rerun-if-changed=shim/execl.c");
    println!("cargo:rerun-if-changed=../build/static_archives.rs");
    cc::Build::new()
        .file("shim/execl.c")
        .flag("-fvisibility=hidden")
        .flag("-Wall")
        .flag("-Wextra")
        .warnings_into_errors(true)
        .compile("torify_shim");
    // The library's references to its own functions (the hooks its tables point at) bind
    // when it is linked, not by a lookup through every loaded object at each program's start.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic-functions");
    if static_archives::glibc_linux()
        && let Some(dir) =
            std::env::var_os("OUT_DIR").map(|d| std::path::PathBuf::from(d).join("static"))
    {
        match static_archives::archives(&dir, &[static_archives::UNWINDER]) {
            Ok(()) => println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display()),
            Err(why) => {
                println!("cargo:warning=libtorify.so needs libgcc_s (slower to load): {why}")
            }
        }
    }
}
