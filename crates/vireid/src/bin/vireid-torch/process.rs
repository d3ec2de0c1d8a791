//! Process-wide settings of the network commands: libtorch's threads, or the deterministic
//! mode, which fixes them (and the kernels) so that a seed gives the same bytes anywhere.

use tch::Device;
use vireid_nn::{parse_device, pin_deterministic, set_threads, DETERMINISTIC_THREADS};

/// The device `--device` names; `auto` (the default) says in one line, unless `quiet`, when
/// it falls back to the CPU.
pub fn device(spec: &str, quiet: bool) -> anyhow::Result<Device> {
    let device = parse_device(spec)?;
    if spec.trim() == "auto" && device == Device::Cpu && !quiet {
        eprintln!("note: no CUDA GPU is visible here: running on the CPU (--device auto)");
    }
    Ok(device)
}

/// Applies `--threads` or, when `deterministic`, the deterministic mode (whose thread count
/// wins over `--threads`, said unless `quiet`). Outside the mode, cuDNN may time its
/// convolution algorithms on a GPU and keep the fastest (its benchmark mode: the shapes of
/// training and evaluation repeat, so the search pays for itself after a few steps; the
/// mode turns it off, as the chosen algorithm can differ between runs). Call before any
/// tensor is made.
pub fn settle(deterministic: bool, threads: usize, quiet: bool) {
    if !deterministic {
        set_threads(threads);
        if tch::Cuda::is_available() {
            tch::Cuda::cudnn_set_benchmark(true);
        }
        return;
    }
    if threads != 0 && threads != DETERMINISTIC_THREADS && !quiet {
        eprintln!(
            "note: deterministic mode runs {DETERMINISTIC_THREADS} threads on every machine; \
             --threads {threads} is ignored"
        );
    }
    pin_deterministic();
}
