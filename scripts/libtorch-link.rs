// Shared by the build scripts of the crates whose binaries and tests load libtorch.
//
// torch-sys (a direct dependency of these crates) publishes the lib folder it linked against
// as DEP_TCH_LIBTORCH_LIB. Two things follow from it:
// - an rpath, so that nobody exports LD_LIBRARY_PATH by hand;
// - libtorch_cuda kept in the link even though no symbol of it is referenced: the linker's
//   default --as-needed would drop it, and CUDA would then be silently unavailable on a GPU
//   machine (torch registers its CUDA backend from that library's static initialisers).
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
