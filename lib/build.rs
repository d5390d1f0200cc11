//! Builds the C shim for the variadic exec functions (shim/execl.c): stable Rust cannot read
//! C varargs, so execl, execlp and execle collect their lists in C with va_arg.

fn main() {
    println!("cargo:rerun-if-changed=shim/execl.c");
    cc::Build::new()
        .file("shim/execl.c")
        .flag("-fvisibility=hidden")
        .flag("-Wall")
        .flag("-Wextra")
        .warnings_into_errors(true)
        .compile("torify_shim");
}
