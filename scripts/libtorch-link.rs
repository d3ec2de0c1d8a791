// Shared by the build scripts of the crates whose binaries and tests load libtorch.
//
// torch-sys (a direct dependency of these crates) publishes the lib folder it linked against
// as DEP_TCH_LIBTORCH_LIB. Two things follow from it:
// - an rpath, so that nobody exports LD_LIBRARY_PATH by hand;
// - libtorch_cuda kept in the link even though no symbol of it is referenced: the linker's
//   default --as-needed would drop it, and CUDA would then be silently unavailable on a GPU
//   machine (torch registers its CUDA backend from that library's static initialisers).
//
// `only_bin`: Some(name) limits the rpath to that executable of the crate (the `vireid`
// package's other executable must not load libtorch) and leaves libtorch_cuda out of its
// link: that executable loads it itself, first thing, where an NVIDIA driver is
// (vireid_nn::device::load_cuda), and starts 0.1 s sooner without. None applies both to
// every target (the tests).
fn link_libtorch(only_bin: Option<&str>) {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let directive = match only_bin {
        Some(bin) => format!("cargo:rustc-link-arg-bin={bin}="),
        None => "cargo:rustc-link-arg=".to_string(),
    };
    println!("{directive}-Wl,-rpath,{lib}");
    if only_bin.is_none() && std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("{directive}-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
