use crate::error::{NnError, Result};
use tch::Device;

/// Parses `auto`, `cpu`, `cuda` or `cuda:K` and checks that the device exists here, so a
/// run never starts on a device it cannot use. `auto` is the first GPU when libtorch sees
/// one, else the CPU.
pub fn parse_device(spec: &str) -> Result<Device> {
    let fail = |why: String| NnError::Device {
        requested: spec.to_string(),
        why,
    };
    let device = match spec.trim() {
        "cpu" => return Ok(Device::Cpu),
        "auto" => return Ok(Device::cuda_if_available()),
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(k)) => Device::Cuda(k),
            _ => return Err(fail("expected auto, cpu, cuda or cuda:K".into())),
        },
    };
    let available = tch::Cuda::device_count().max(0) as usize;
    match device {
        Device::Cuda(_) if available == 0 => Err(fail(
            "CUDA is not available on this machine (libtorch sees no GPU); use --device cpu".into(),
        )),
        Device::Cuda(k) if k >= available => Err(fail(format!(
            "there are {available} CUDA device(s): cuda:0 .. cuda:{}",
            available - 1
        ))),
        d => Ok(d),
    }
}

/// libtorch's intra-op threads for this process (0: libtorch's default, one per core). The
/// one place a command sets them, so train, test, extract and the demo agree.
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(threads as i32);
    }
}

/// Intra-op threads of the deterministic mode, on every machine: results depend on how
/// reductions are split across threads, so the count is fixed rather than taken from the
/// cores.
pub const DETERMINISTIC_THREADS: usize = 2;

/// The settings under which the same seed gives the same bytes on any x86-64 machine with
/// AVX2, whatever its wider instruction sets and its core count: libtorch's kernels
/// dispatched for AVX2 (`ATEN_CPU_CAPABILITY`), oneDNN limited to AVX2 (`ONEDNN_MAX_CPU_ISA`),
/// MKL's conditional numerical reproducibility on its AVX2 path (`MKL_CBWR=AVX2,STRICT`,
/// threads fixed), [`DETERMINISTIC_THREADS`] intra-op threads; on CUDA, cuBLAS's fixed
/// workspace (`CUBLAS_WORKSPACE_CONFIG`) and cuDNN's benchmark search off.
///
/// The variables are read by libtorch, oneDNN and MKL when they first run, so this must be
/// called before any tensor is made (the commands call it right after parsing their flags).
pub fn pin_deterministic() {
    let settings = [
        ("ATEN_CPU_CAPABILITY", "avx2"),
        ("ONEDNN_MAX_CPU_ISA", "AVX2"),
        ("DNNL_MAX_CPU_ISA", "AVX2"),
        ("MKL_CBWR", "AVX2,STRICT"),
        ("MKL_DYNAMIC", "FALSE"),
        ("CUBLAS_WORKSPACE_CONFIG", ":4096:8"),
    ];
    for (k, v) in &settings {
        // SAFETY: called once at start-up, before libtorch or any other thread of this
        // process reads the environment.
        unsafe { std::env::set_var(k, v) };
    }
    tch::set_num_threads(DETERMINISTIC_THREADS as i32);
    if tch::Cuda::is_available() {
        tch::Cuda::cudnn_set_benchmark(false);
    }
}
