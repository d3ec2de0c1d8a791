//! Mixed precision on CUDA: the forward pass and the losses under libtorch's autocast
//! (float16 matrix products and convolutions), and a dynamic loss scale so that small float16
//! gradients do not flush to zero. The same step on the CPU is the fp32 step (autocast is a
//! no-op there), which is how this path is tested on machines without a GPU.
//!
//! The scale follows the usual dynamic rule: start at 2^16, halve and skip the update when a
//! gradient overflows, double after 2000 updates in a row without overflow. Its state is part
//! of the run state, so a resumed run scales as the uninterrupted one did.

use crate::data_parallel::DataParallel;
use crate::error::Result;
use crate::loss::part_losses;
use crate::sgd::Sgd;
use crate::step::StepLosses;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use vireid_nn::PartNet;

pub const INITIAL_SCALE: f64 = 65536.0;
pub const GROWTH_INTERVAL: usize = 2000;

/// The dynamic loss scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Updates in a row without an overflow since the last change of scale.
    pub good_steps: usize,
    /// Updates skipped because a gradient overflowed (for the log).
    pub skipped: usize,
    /// Overflows in a row at the smallest scale (1), where halving can no longer help: a run
    /// that keeps overflowing there has stopped learning (the trainer stops it).
    #[serde(default)]
    pub floor_overflows: usize,
}

impl Default for LossScale {
    fn default() -> Self {
        Self {
            scale: INITIAL_SCALE,
            good_steps: 0,
            skipped: 0,
            floor_overflows: 0,
        }
    }
}

/// How a run computes: float32 throughout, or float16 autocast with a loss scale (CUDA with
/// `amp`). Recorded in the run folder, so that a resume cannot switch silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    Float32,
    MixedFloat16,
}

impl Precision {
    /// The precision a run with `amp` on `device` trains in.
    pub fn of(amp: bool, device: tch::Device) -> Precision {
        if amp && device.is_cuda() {
            Precision::MixedFloat16
        } else {
            Precision::Float32
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::MixedFloat16 => "mixed precision (float16 autocast)",
        }
    }
}

impl LossScale {
    /// Records the outcome of a step: `finite` gradients were applied, others skipped.
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.floor_overflows = 0;
            self.good_steps += 1;
            if self.good_steps == GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            if self.scale <= 1.0 {
                self.floor_overflows += 1;
            }
            // Powers of two keep scaling and unscaling exact.
            self.scale = (self.scale / 2.0).max(1.0);
            self.good_steps = 0;
            self.skipped += 1;
        }
    }
}

/// One mixed-precision training step: autocast forward, losses in float32, scaled backward,
/// unscaled gradients, and the SGD update unless a gradient is not finite (then the step is
/// skipped and the scale halved). Losses are reported unscaled. `across` as in
/// [`crate::step::train_step`].
///
/// The losses run outside autocast on float32 copies of its outputs: under autocast the
/// triplet's `a.b` product would be float16, off by ~0.5-1 when |a|^2 ~ 1e3 (the margin is
/// 0.3) and infinite past 65504, which clamps the pair away without a word.
pub fn train_step_amp(
    net: &PartNet,
    sgd: &mut Sgd,
    across: Option<&DataParallel>,
    scale: &mut LossScale,
    visible: &Tensor,
    thermal: &Tensor,
    labels: &Tensor,
) -> Result<StepLosses> {
    let out = tch::autocast(true, || net.forward_train(visible, thermal));
    let float =
        |t: &[Tensor]| -> Vec<Tensor> { t.iter().map(|t| t.to_kind(Kind::Float)).collect() };
    let losses = part_losses(&float(&out.pooled), &float(&out.logits), labels)?;
    sgd.zero_grad();
    (&losses.total * scale.scale).f_backward()?;
    // Averaged before the check, so that every rank sees the same gradients and skips the
    // same steps (the loss scale stays equal everywhere).
    if let Some(dp) = across {
        dp.average_gradients(sgd)?;
    }
    let finite = sgd.scale_grads(1.0 / scale.scale);
    if finite {
        sgd.step();
    }
    if let Some(dp) = across {
        dp.share_buffers()?;
    }
    scale.update(finite);
    Ok(StepLosses {
        total: losses.total.double_value(&[]),
        identity: losses.identity.double_value(&[]),
        triplet: losses.triplet.double_value(&[]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_halves_on_overflow_and_doubles_after_a_run_of_good_steps() {
        let mut s = LossScale::default();
        s.update(false);
        assert_eq!(s.scale, INITIAL_SCALE / 2.0);
        assert_eq!(s.skipped, 1);
        for _ in 0..GROWTH_INTERVAL - 1 {
            s.update(true);
        }
        assert_eq!(s.scale, INITIAL_SCALE / 2.0);
        s.update(true);
        assert_eq!(s.scale, INITIAL_SCALE);
        assert_eq!(s.good_steps, 0);
        let mut floor = LossScale {
            scale: 1.0,
            ..LossScale::default()
        };
        floor.update(false);
        assert_eq!(floor.scale, 1.0);
        assert_eq!(floor.floor_overflows, 1);
        floor.update(false);
        assert_eq!(floor.floor_overflows, 2);
        floor.update(true);
        assert_eq!(
            floor.floor_overflows, 0,
            "a good step ends the run of overflows"
        );
        // Overflows above the floor are not counted: halving still helps there.
        assert_eq!(s.floor_overflows, 0);
    }

    #[test]
    fn precision_follows_amp_and_the_device() {
        use tch::Device;
        assert_eq!(Precision::of(true, Device::Cpu), Precision::Float32);
        assert_eq!(Precision::of(false, Device::Cuda(0)), Precision::Float32);
        assert_eq!(
            Precision::of(true, Device::Cuda(1)),
            Precision::MixedFloat16
        );
        let json = serde_json::to_string(&Precision::MixedFloat16).unwrap();
        assert_eq!(json, "\"mixed-float16\"");
    }
}
