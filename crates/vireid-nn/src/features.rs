//! Evaluation features of image batches: the reference's test-time forward, optionally plus
//! the forward of the horizontally flipped batch (its test script's augmentation).

use crate::error::{NnError, Result};
use crate::network::{Modality, PartNet};
use tch::{Device, Kind, Tensor};

/// `pool` and `bn` features, row-major N x dim.
#[derive(Debug, Clone, Default)]
pub struct FeatureSet {
    pub pool: Vec<f32>,
    pub bn: Vec<f32>,
    pub dim: usize,
}

impl FeatureSet {
    pub fn rows(&self) -> usize {
        self.pool.len().checked_div(self.dim).unwrap_or(0)
    }
}

/// Features of one batch on the network's device, under no_grad. With `flip`, the sum of the
/// features of the batch and of its mirror image, not re-normalised (as the reference). On
/// a GPU the batch and its mirror go through the network as one batch of 2N (one series of
/// kernels, each on twice the work); on the CPU, where that gains nothing, as two passes, so
/// that CPU features stay the bytes they have always been.
pub fn forward_batch(
    net: &PartNet,
    xs: &Tensor,
    modality: Modality,
    flip: bool,
) -> (Tensor, Tensor) {
    if flip && xs.device().is_cuda() {
        return forward_flip_joined(net, xs, modality);
    }
    tch::no_grad(|| {
        let (mut pool, mut bn) = net.forward_eval(xs, modality);
        if flip {
            let (p2, b2) = net.forward_eval(&xs.flip([3]), modality);
            pool += p2;
            bn += b2;
        }
        (pool, bn)
    })
}

/// The flip features as one forward of the batch and its mirror stacked (2N images), split
/// and summed: equal to the two passes up to the kernels' rounding for the batch size.
pub fn forward_flip_joined(net: &PartNet, xs: &Tensor, modality: Modality) -> (Tensor, Tensor) {
    tch::no_grad(|| {
        let n = xs.size()[0];
        let both = Tensor::cat(&[xs.shallow_clone(), xs.flip([3])], 0);
        let (pool, bn) = net.forward_eval(&both, modality);
        let sum = |t: &Tensor| t.narrow(0, 0, n) + t.narrow(0, n, n);
        (sum(&pool), sum(&bn))
    })
}

/// Image geometry of a flat NCHW float32 buffer.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Geometry {
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// How to run an extraction.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    pub device: Device,
    pub modality: Modality,
    /// Add the features of the mirrored images (the reference's test-time augmentation).
    pub flip: bool,
    pub batch: usize,
}

/// Runs `images` (N x 3 x H x W, normalised) through the network in batches, calling
/// `progress(done)` after each. Output rows are in input order.
pub fn extract(
    net: &PartNet,
    images: &[f32],
    geometry: Geometry,
    options: &ExtractOptions,
    progress: impl FnMut(usize),
) -> Result<FeatureSet> {
    let len = geometry.image_len();
    if len == 0 || images.len() % len != 0 {
        return Err(NnError::Batch(format!(
            "{} values are not a whole number of {}x{}x{} images",
            images.len(),
            geometry.channels,
            geometry.height,
            geometry.width
        )));
    }
    let n = images.len() / len;
    let load = |start: usize, slots: &mut [f32]| -> Result<()> {
        slots.copy_from_slice(&images[start * len..start * len + slots.len()]);
        Ok(())
    };
    extract_with(net, n, geometry, options, load, progress)
}

/// Extraction of `n` images that `load(first, slots)` writes batch by batch into `slots`
/// (rows `first..first + slots.len() / image_len`, normalised NCHW), so that a whole test set
/// never has to sit in memory as floats. One batch buffer serves throughout: once a batch is
/// a tensor, `load` fills the buffer with the next batch on another thread while the network
/// runs on this one (decoding overlapped with the network; on a GPU it would otherwise wait).
///
/// `load`'s own error type passes through unchanged (a decoder's error keeps its cause).
pub fn extract_with<E: From<NnError> + Send>(
    net: &PartNet,
    n: usize,
    geometry: Geometry,
    options: &ExtractOptions,
    mut load: impl FnMut(usize, &mut [f32]) -> std::result::Result<(), E> + Send,
    mut progress: impl FnMut(usize),
) -> std::result::Result<FeatureSet, E> {
    let ExtractOptions {
        device,
        modality,
        flip,
        batch,
    } = *options;
    if geometry.channels != 3 {
        return Err(NnError::Batch(format!(
            "expected 3-channel images, found {} channels",
            geometry.channels
        ))
        .into());
    }
    crate::NetConfig::check_height(geometry.height).map_err(NnError::Batch)?;
    let len = geometry.image_len();
    let dim = net.config.feature_dim() as usize;
    let mut out = FeatureSet {
        pool: vec![0.0; n * dim],
        bn: vec![0.0; n * dim],
        dim,
    };
    let batch = batch.max(1);
    let mut buffer = vec![0f32; batch.min(n) * len];
    let mut done = 0;
    if n > 0 {
        load(0, &mut buffer[..batch.min(n) * len])?;
    }
    while done < n {
        let rows = batch.min(n - done);
        // A copy: from here on the buffer is free for the next batch.
        let xs = Tensor::f_from_slice(&buffer[..rows * len])
            .map_err(NnError::from)?
            .view([
                rows as i64,
                3,
                geometry.height as i64,
                geometry.width as i64,
            ])
            .to_device(device);
        let next = done + rows;
        let next_rows = batch.min(n - next);
        let (features, loaded) = std::thread::scope(|s| {
            let ahead = (next_rows > 0).then(|| {
                let (load, slots) = (&mut load, &mut buffer[..next_rows * len]);
                s.spawn(move || load(next, slots))
            });
            let features = forward_batch(net, &xs, modality, flip);
            let loaded = ahead.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (features, loaded)
        });
        let (pool, bn) = features;
        let range = done * dim..next * dim;
        let cpu = |t: Tensor| t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        cpu(pool)
            .f_copy_data(&mut out.pool[range.clone()], rows * dim)
            .map_err(NnError::from)?;
        cpu(bn)
            .f_copy_data(&mut out.bn[range], rows * dim)
            .map_err(NnError::from)?;
        loaded.transpose()?;
        done = next;
        progress(done);
    }
    Ok(out)
}
