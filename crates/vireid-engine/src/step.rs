//! One training step: forward in training mode, the losses, backward, SGD.

use crate::data_parallel::DataParallel;
use crate::error::Result;
use crate::loss::part_losses;
use crate::sgd::Sgd;
use serde::{Deserialize, Serialize};
use tch::Tensor;
use vireid_nn::PartNet;

/// The loss terms of a step, as numbers.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct StepLosses {
    pub total: f64,
    pub identity: f64,
    pub triplet: f64,
}

/// `visible` and `thermal` are the B K images of each modality (normalised NCHW on the
/// network's device), `labels` the 2 B K labels (visible then thermal). With `across`, the
/// gradients are averaged over its ranks before the update and its buffers shared after.
pub fn train_step(
    net: &PartNet,
    sgd: &mut Sgd,
    across: Option<&DataParallel>,
    visible: &Tensor,
    thermal: &Tensor,
    labels: &Tensor,
) -> Result<StepLosses> {
    let out = net.forward_train(visible, thermal);
    let losses = part_losses(&out.pooled, &out.logits, labels)?;
    sgd.zero_grad();
    losses.total.f_backward()?;
    if let Some(dp) = across {
        dp.average_gradients(sgd)?;
    }
    sgd.step();
    if let Some(dp) = across {
        dp.share_buffers()?;
    }
    Ok(StepLosses {
        total: losses.total.double_value(&[]),
        identity: losses.identity.double_value(&[]),
        triplet: losses.triplet.double_value(&[]),
    })
}
