//! Bakes libtorch's lib folder into the binaries' rpath, so `colorize-train`
//! runs without LD_LIBRARY_PATH, and with the `cuda` feature force-links
//! `torch_cuda`: nothing references it by symbol, so the linker would drop it
//! with --as-needed and `tch::Cuda::is_available()` would report false.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{libtorch}/lib");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg-bins=-ltorch_cuda");
        println!("cargo:rustc-link-arg-bins=-Wl,--as-needed");
    }
}
