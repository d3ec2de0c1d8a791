//! The batch prefetcher: a background thread that augments the next batches of an epoch
//! while the current step runs. Batch k of epoch e is the same whatever ran before it (its
//! identities come from the epoch's sampler stream, each image's augmentation from a seed of
//! epoch, step and position), which is what lets a stopped epoch resume mid-way exactly.

use super::TrainData;
use crate::error::Result;
use std::sync::mpsc::SyncSender;
use vireid_augment::{augment_batch, Preset, SourceImage};
use vireid_data::cache::ImageCache;
use vireid_data::sampler::Batch;

/// One augmented batch: B K visible then B K thermal images (normalised NCHW), and the
/// 2 B K labels.
pub struct Prepared {
    pub visible: Vec<f32>,
    pub thermal: Vec<f32>,
    pub labels: Vec<i64>,
}

/// A seed for the augmentation of epoch `epoch`, distinct per epoch.
pub(crate) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn sources<'a>(cache: &'a ImageCache, idx: &[usize], h: usize, w: usize) -> Vec<SourceImage<'a>> {
    idx.iter()
        .map(|&i| SourceImage {
            pixels: cache.image(i),
            height: h,
            width: w,
        })
        .collect()
}

/// Augments `batches[skip..]` in order into `tx`, stopping when the receiver is gone.
pub fn produce(
    data: &TrainData,
    preset: &Preset,
    batches: &[Batch],
    skip: usize,
    seed: u64,
    tx: SyncSender<Result<Prepared>>,
) {
    let (h, w) = (preset.height, preset.width);
    let image_len = 3 * h * w;
    for (step, b) in batches.iter().enumerate().skip(skip) {
        let bk = b.visible.len();
        let first = (step * 2 * bk) as u64;
        let mut visible = vec![0f32; bk * image_len];
        let mut thermal = vec![0f32; bk * image_len];
        let done = augment_batch(
            preset,
            &sources(&data.visible, &b.visible, h, w),
            seed,
            first,
            &mut visible,
        )
        .and_then(|_| {
            augment_batch(
                preset,
                &sources(&data.thermal, &b.thermal, h, w),
                seed,
                first + bk as u64,
                &mut thermal,
            )
        })
        .map_err(Into::into)
        .map(|_| Prepared {
            visible,
            thermal,
            labels: b.labels.iter().chain(&b.labels).copied().collect(),
        });
        if tx.send(done).is_err() {
            return;
        }
    }
}
