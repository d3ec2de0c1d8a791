use crate::error::{NnError, Result};
use tch::Device;

/// Parses `cpu`, `cuda` or `cuda:K` and checks that the device exists here, so a run never
/// starts on a device it cannot use.
pub fn parse_device(spec: &str) -> Result<Device> {
    let fail = |why: String| NnError::Device {
        requested: spec.to_string(),
        why,
    };
    let device = match spec.trim() {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(k)) => Device::Cuda(k),
            _ => return Err(fail("expected cpu, cuda or cuda:K".into())),
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
