// Compiles shim/c10d.cpp against the libtorch that torch-sys linked (it publishes the lib
// folder as DEP_TCH_LIBTORCH_LIB; the headers sit beside it in include/). The NCCL backend is
// compiled in when that libtorch has CUDA and nccl.h and the CUDA runtime headers are found:
// the torch wheel's own nvidia-* packages ship them beside torch/ (NCCL_INCLUDE_DIR and
// CUDA_INCLUDE_DIR point elsewhere).
use std::path::{Path, PathBuf};
use std::process::Command;

include!("../../scripts/libtorch-link.rs");

fn main() {
    println!("cargo:rerun-if-changed=shim");
    println!("cargo:rerun-if-env-changed=NCCL_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=CUDA_INCLUDE_DIR");
    link_libtorch(None);
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB unset)");
    };
    let lib = PathBuf::from(lib);
    let root = lib
        .parent()
        .expect("libtorch's lib folder has a parent")
        .to_path_buf();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include("shim/gloo-decl")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .define("USE_C10D_GLOO", None)
        .file("shim/c10d.cpp");
    if let Some(includes) = nccl_includes(&lib, &root) {
        for dir in includes {
            build.include(dir);
        }
        build
            .define("USE_C10D_NCCL", None)
            .define("VIREID_NCCL", None);
        println!("cargo:rustc-cfg=vireid_nccl");
    }
    println!("cargo:rustc-check-cfg=cfg(vireid_nccl)");
    build.compile("vireid_c10d");
    check_no_gloo_definitions();
}

/// nccl.h and the CUDA runtime headers, when libtorch has CUDA and both are found.
fn nccl_includes(lib: &Path, root: &Path) -> Option<Vec<PathBuf>> {
    if !lib.join("libtorch_cuda.so").exists() {
        return None;
    }
    // The wheel's torch/ is usually reached through a link (.libtorch): its real parent is
    // the site-packages folder that holds nvidia/.
    let site = root.canonicalize().ok()?.parent()?.to_path_buf();
    let find = |var: &str, candidates: &[PathBuf], file: &str| -> Option<PathBuf> {
        std::env::var_os(var)
            .map(PathBuf::from)
            .into_iter()
            .chain(candidates.iter().cloned())
            .find(|dir| dir.join(file).exists())
    };
    let nccl = find(
        "NCCL_INCLUDE_DIR",
        &[site.join("nvidia/nccl/include")],
        "nccl.h",
    )?;
    let cuda = find(
        "CUDA_INCLUDE_DIR",
        &[
            site.join("nvidia/cu13/include"),
            site.join("nvidia/cuda_runtime/include"),
            PathBuf::from("/usr/local/cuda/include"),
        ],
        "cuda_runtime_api.h",
    )?;
    Some(vec![nccl, cuda])
}

/// The gloo declarations in shim/gloo-decl stand in for headers the wheel lacks; a gloo
/// symbol *defined* in the shim (an inline vtable, say) could take the place of libtorch's
/// own when the program loads, so the build refuses one. Skipped where `nm` is missing.
fn check_no_gloo_definitions() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let archive = out.join("libvireid_c10d.a");
    let Ok(listing) = Command::new("nm")
        .args(["--defined-only", "-C"])
        .arg(&archive)
        .output()
    else {
        return;
    };
    let text = String::from_utf8_lossy(&listing.stdout);
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("gloo::") || l.contains("GlooStore"))
        .collect();
    assert!(
        bad.is_empty(),
        "the c10d shim defines gloo symbols, which could shadow libtorch's:\n{}",
        bad.join("\n")
    );
}
