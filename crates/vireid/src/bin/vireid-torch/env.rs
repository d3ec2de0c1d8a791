use anyhow::Result;
use serde_json::json;
use tch::{Device, Kind, Tensor};

/// What vireid runs on here: libtorch's CPU features and threads, whether its CUDA half was
/// loaded (and why not), the CUDA and cuDNN versions it was built with, the GPUs it sees and
/// whether the NCCL backend is built in. For bug reports, and to check a GPU machine before
/// a long run.
#[derive(clap::Args)]
pub struct Args {
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let cuda = vireid_nn::load_cuda();
    let gpus = tch::Cuda::device_count().max(0);
    let (libtorch, libtorch_version) = libtorch();
    let report = json!({
        "vireid": env!("CARGO_PKG_VERSION"),
        "libtorch": libtorch,
        "libtorch_version": libtorch_version,
        "threads": tch::get_num_threads(),
        "mkl": tch::utils::has_mkl(),
        "onednn": tch::utils::has_mkldnn(),
        "openmp": tch::utils::has_openmp(),
        "fused_conv_kernels": vireid_nn::fused::available(&Tensor::zeros([1], (Kind::Float, Device::Cpu))),
        "cuda_half": cuda.describe(),
        "libtorch_cuda_in_process": vireid_nn::cuda_in_process(),
        // libtorch answers these from its CUDA half only; without it they throw.
        "cuda_runtime_version": asked(tch::utils::version_cudart),
        "cudnn_version": asked(tch::utils::version_cudnn),
        "gpus": gpus,
        "nccl_built": vireid_dist::Backend::nccl_built(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let object = report.as_object().expect("an object");
    let width = object.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in object {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => "-".into(),
            other => other.to_string(),
        };
        println!("{k:<width$}  {v}");
    }
    Ok(())
}

/// The folder of the libtorch_cpu this process runs (from its memory map) and the version
/// found beside it: a torch wheel's `version.py`, or a libtorch archive's `build-version`.
fn libtorch() -> (Option<String>, Option<String>) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Some(lib) = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .and_then(|p| std::path::Path::new(p).parent())
    else {
        return (None, None);
    };
    let root = lib.parent().unwrap_or(lib);
    let from_wheel = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
        });
    let version = from_wheel.or_else(|| {
        std::fs::read_to_string(root.join("build-version"))
            .ok()
            .map(|v| v.trim().to_string())
    });
    (Some(lib.display().to_string()), version)
}

/// A version libtorch knows only with its CUDA half loaded: tch panics on the C++ exception
/// it gets otherwise, which here means "not there".
fn asked(version: fn() -> i64) -> Option<i64> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let v = std::panic::catch_unwind(version).ok();
    std::panic::set_hook(quiet);
    v
}
