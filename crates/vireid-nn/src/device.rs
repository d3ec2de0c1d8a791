use crate::error::{NnError, Result};
use std::ffi::CStr;
use tch::Device;

/// What [`load_cuda`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CudaLoad {
    /// libtorch_cuda is in the process: CUDA devices work if the driver sees any.
    Loaded,
    /// No NVIDIA driver here: the CPU only, and none of the CUDA libraries mapped.
    NoDriver,
    /// `VIREID_CUDA=0`: the CPU only, whatever the machine has.
    Disabled,
    /// A driver is here (or `VIREID_CUDA=1`) but libtorch_cuda would not load (the message
    /// says why: this libtorch may have no CUDA half). The CPU only.
    Failed(String),
}

impl CudaLoad {
    /// In words, for `vireid env` and notes.
    pub fn describe(&self) -> String {
        match self {
            CudaLoad::Loaded => "loaded".into(),
            CudaLoad::NoDriver => "not loaded: no NVIDIA driver (libcuda.so.1) found".into(),
            CudaLoad::Disabled => "not loaded: VIREID_CUDA=0".into(),
            CudaLoad::Failed(why) => format!("failed to load: {why}"),
        }
    }
}

/// Loads libtorch's CUDA half (libtorch_cuda and, through it, the CUDA libraries) where an
/// NVIDIA driver is, and nowhere else. The `vireid-torch` executable is linked without it:
/// mapping and initialising those libraries costs 0.1 s of every start even on a machine
/// with no GPU, a third of a one-image `embed`. The driver is looked for as the CUDA runtime
/// itself does (`libcuda.so.1` on the library path). `VIREID_CUDA=0` never loads it (a GPU
/// machine running on the CPU), `VIREID_CUDA=1` always tries.
///
/// Must run before anything asks libtorch about CUDA: libtorch decides once, at the first
/// question, whether its CUDA half is there. Programs linked with libtorch_cuda (the tests)
/// have it already, and this only confirms it.
pub fn load_cuda() -> CudaLoad {
    LOADED.get_or_init(try_load_cuda).clone()
}

/// The outcome of the process's one [`load_cuda`], for messages about a missing GPU.
static LOADED: std::sync::OnceLock<CudaLoad> = std::sync::OnceLock::new();

fn try_load_cuda() -> CudaLoad {
    let wanted = match std::env::var("VIREID_CUDA").as_deref() {
        Ok("0") => return CudaLoad::Disabled,
        Ok("1") => true,
        _ => loadable(c"libcuda.so.1", libc::RTLD_LAZY | libc::RTLD_LOCAL).is_ok(),
    };
    if !wanted {
        return CudaLoad::NoDriver;
    }
    // Global, so that its symbols serve later lookups (the NCCL backend's constructors).
    match loadable(c"libtorch_cuda.so", libc::RTLD_LAZY | libc::RTLD_GLOBAL) {
        Ok(()) => CudaLoad::Loaded,
        Err(why) => CudaLoad::Failed(why),
    }
}

/// Whether libtorch_cuda is mapped into this process, by whatever means (loaded at start by
/// [`load_cuda`], or linked in, as the tests are).
pub fn cuda_in_process() -> bool {
    // SAFETY: RTLD_NOLOAD only looks; a handle it returns is closed again at once.
    unsafe {
        let handle = libc::dlopen(
            c"libtorch_cuda.so".as_ptr(),
            libc::RTLD_LAZY | libc::RTLD_NOLOAD,
        );
        if handle.is_null() {
            return false;
        }
        libc::dlclose(handle);
        true
    }
}

/// dlopen, keeping the library loaded for the life of the process.
fn loadable(name: &CStr, flags: libc::c_int) -> std::result::Result<(), String> {
    // SAFETY: a NUL-terminated name; the handle is never closed, so nothing the library
    // registers (static initialisers, kernels) outlives its code.
    let handle = unsafe { libc::dlopen(name.as_ptr(), flags) };
    if !handle.is_null() {
        return Ok(());
    }
    // SAFETY: dlerror returns null or a NUL-terminated message owned by libc, read at once.
    let err = unsafe { libc::dlerror() };
    Err(if err.is_null() {
        format!("{} could not be loaded", name.to_string_lossy())
    } else {
        unsafe { CStr::from_ptr(err) }
            .to_string_lossy()
            .into_owned()
    })
}

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
        Device::Cuda(_) if available == 0 => Err(fail(match LOADED.get() {
            Some(CudaLoad::Disabled) => {
                "CUDA is off in this process (VIREID_CUDA=0); use --device cpu".into()
            }
            Some(CudaLoad::NoDriver) => "CUDA is not available: no NVIDIA driver was found \
                 (libcuda.so.1), so libtorch's CUDA half was not loaded (VIREID_CUDA=1 \
                 loads it anyway); use --device cpu"
                .into(),
            Some(CudaLoad::Failed(why)) => format!(
                "CUDA is not available: libtorch_cuda did not load ({why}); use --device cpu"
            ),
            _ => "CUDA is not available on this machine (libtorch sees no GPU); use --device \
                  cpu"
            .into(),
        })),
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
