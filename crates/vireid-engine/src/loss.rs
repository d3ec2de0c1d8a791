//! The losses of docs/reference-behaviour.md (Losses): cross-entropy on the four classifiers and
//! batch-hard triplet on the four pooled (pre-BNNeck) features, stripes averaged, plus the global
//! part.

use crate::error::{EngineError, Result};
use tch::{Kind, Tensor};

/// The triplet margin of the reference.
pub const MARGIN: f64 = 0.3;

/// Batch-hard triplet loss (Hermans et al.): for each anchor, the largest distance to a sample
/// of its identity (itself included, at distance sqrt(1e-12)) and the smallest to another
/// identity; mean of max(0, d_pos - d_neg + margin). Distances are the reference's
/// sqrt(max(|a|^2 + |b|^2 - 2 a.b, 1e-12)).
pub fn batch_hard_triplet(features: &Tensor, labels: &Tensor, margin: f64) -> Result<Tensor> {
    check_identities(labels)?;
    Ok(triplet_of(features, labels, margin))
}

/// The reference raises on a batch of one identity (no negative); say so instead. Reading
/// the answer waits for the device, so a step checks once, and only where the labels live
/// on the CPU: on a GPU the identity sampler's batches (at least two people, which the
/// config's validation requires) are what guarantees it.
fn check_identities(labels: &Tensor) -> Result<()> {
    if labels.device() != tch::Device::Cpu {
        return Ok(());
    }
    let same = labels.unsqueeze(0).eq_tensor(&labels.unsqueeze(1));
    if same.all().int64_value(&[]) != 0 {
        return Err(EngineError::OneIdentity);
    }
    Ok(())
}

fn triplet_of(features: &Tensor, labels: &Tensor, margin: f64) -> Tensor {
    // In float32 whatever the input: |a|^2 + |b|^2 - 2 a.b cancels, and float16 loses the
    // difference (a no-op for float32 input).
    let features = &features.to_kind(Kind::Float);
    let n = features.size()[0];
    let squared = features
        .pow_tensor_scalar(2)
        .sum_dim_intlist(1, true, Kind::Float)
        .expand([n, n], false);
    let dist = (&squared + squared.tr() - features.mm(&features.tr()) * 2.0)
        .clamp_min(1e-12)
        .sqrt();
    let same = labels.unsqueeze(0).eq_tensor(&labels.unsqueeze(1));
    let hardest_positive = dist
        .masked_fill(&same.logical_not(), f64::NEG_INFINITY)
        .amax([1], false);
    let hardest_negative = dist.masked_fill(&same, f64::INFINITY).amin([1], false);
    (hardest_positive - hardest_negative + margin)
        .relu()
        .mean(Kind::Float)
}

/// The loss terms of one step.
pub struct Losses {
    pub identity: Tensor,
    pub triplet: Tensor,
    pub total: Tensor,
}

/// identity = mean CE of the three stripes + CE of the global part; triplet likewise on the
/// pooled features; total = identity + triplet.
pub fn part_losses(pooled: &[Tensor], logits: &[Tensor], labels: &Tensor) -> Result<Losses> {
    let ce: Vec<Tensor> = logits
        .iter()
        .map(|l| l.to_kind(Kind::Float).cross_entropy_for_logits(labels))
        .collect();
    let identity = (&ce[0] + &ce[1] + &ce[2]) / 3.0 + &ce[3];
    check_identities(labels)?;
    let tri: Vec<Tensor> = pooled
        .iter()
        .map(|p| triplet_of(p, labels, MARGIN))
        .collect();
    let triplet = (&tri[0] + &tri[1] + &tri[2]) / 3.0 + &tri[3];
    let total = &identity + &triplet;
    Ok(Losses {
        identity,
        triplet,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Features and logits in half precision (what autocast gives on a GPU) score exactly as
    /// their float32 values: the losses compute in float32.
    #[test]
    fn half_precision_inputs_give_the_float32_loss() {
        tch::manual_seed(3);
        // Large features, as an untrained network gives: |a|^2 ~ 1e3, where float16's
        // a.b is off by more than the margin.
        let pooled: Vec<Tensor> = (0..4)
            .map(|_| Tensor::randn([12, 64], (Kind::Float, tch::Device::Cpu)) * 4.0)
            .map(|t| t.to_kind(Kind::Half))
            .collect();
        let logits: Vec<Tensor> = (0..4)
            .map(|_| Tensor::randn([12, 5], (Kind::Float, tch::Device::Cpu)).to_kind(Kind::Half))
            .collect();
        let labels = Tensor::from_slice(&[0i64, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
        let float =
            |v: &[Tensor]| -> Vec<Tensor> { v.iter().map(|t| t.to_kind(Kind::Float)).collect() };
        let half = part_losses(&pooled, &logits, &labels).unwrap();
        let full = part_losses(&float(&pooled), &float(&logits), &labels).unwrap();
        for (h, f) in [
            (&half.triplet, &full.triplet),
            (&half.identity, &full.identity),
            (&half.total, &full.total),
        ] {
            assert_eq!(h.kind(), Kind::Float);
            assert_eq!(h.double_value(&[]), f.double_value(&[]));
        }
    }

    /// A batch of one person has no negative: refused by name, by the step's losses and by
    /// the triplet alone; two people are enough.
    #[test]
    fn one_identity_is_refused_once_per_step() {
        let pooled: Vec<Tensor> = (0..4)
            .map(|_| Tensor::randn([4, 8], (Kind::Float, tch::Device::Cpu)))
            .collect();
        let logits: Vec<Tensor> = (0..4)
            .map(|_| Tensor::randn([4, 3], (Kind::Float, tch::Device::Cpu)))
            .collect();
        let one = Tensor::from_slice(&[2i64, 2, 2, 2]);
        assert!(matches!(
            part_losses(&pooled, &logits, &one),
            Err(EngineError::OneIdentity)
        ));
        assert!(matches!(
            batch_hard_triplet(&pooled[0], &one, MARGIN),
            Err(EngineError::OneIdentity)
        ));
        let two = Tensor::from_slice(&[2i64, 2, 1, 1]);
        assert!(part_losses(&pooled, &logits, &two).is_ok());
    }
}
