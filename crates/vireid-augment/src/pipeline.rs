//! One image or a batch through a preset: uint8 HWC in, normalised float32 CHW out.
//!
//! The pixel-wise steps (padding, grayscale, crop, flip, to-tensor, MRLE and normalize) are
//! one pass that reads each source pixel once and writes the normalised output; radical RLE
//! and erasing then touch only their rectangles, working on normalised values directly:
//! scaling x by f is n * f + (mean / std) (f - 1) in normalised units, and a fill value e is
//! (e - mean) / std. Channel exchange, when enabled, is a last pass.

use crate::error::AugmentError;
use crate::params::Preset;
use crate::region::{attempt, Region};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;
use serde::Serialize;

/// A source image: `height x width x 3` bytes, row-major (the cache's layout).
#[derive(Debug, Clone, Copy)]
pub struct SourceImage<'a> {
    pub pixels: &'a [u8],
    pub height: usize,
    pub width: usize,
}

/// One region radical RLE rescaled, and the Beta draws of its channels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RrleStep {
    pub region: Region,
    pub alpha: [f32; 3],
    /// The factor applied per channel: alpha / max(region), or 1 where the region was all
    /// zero (the reference would divide by zero there).
    pub factor: [f32; 3],
}

/// What happened to one image: every random decision, for tests and pictures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    pub grayscale: bool,
    pub top: usize,
    pub left: usize,
    pub flip: bool,
    pub mrle: Option<[f32; 3]>,
    /// Regions radical RLE used, when it ran.
    pub rrle: Option<Vec<RrleStep>>,
    /// Attempts radical RLE drew, used or not.
    pub rrle_attempts: usize,
    /// The smallest accumulated scale when radical RLE stopped.
    pub rrle_min_scale: Option<f32>,
    pub erased: Option<Region>,
    /// Channel exchange: 0, 1, 2 = that channel everywhere, 3 = grey, 4 = unchanged.
    pub exchange: Option<u8>,
}

/// Scratch memory reused across images of one worker.
#[derive(Default)]
pub struct Scratch {
    mask: Vec<f32>,
}

fn check(preset: &Preset, src: &SourceImage, out: &[f32]) -> Result<(), AugmentError> {
    if src.pixels.len() != src.height * src.width * 3 {
        return Err(AugmentError::Source(format!(
            "{} bytes for a {} x {} x 3 image",
            src.pixels.len(),
            src.height,
            src.width
        )));
    }
    if src.height + 2 * preset.pad < preset.height || src.width + 2 * preset.pad < preset.width {
        return Err(AugmentError::Source(format!(
            "a {} x {} image padded by {} is smaller than the {} x {} crop",
            src.height, src.width, preset.pad, preset.height, preset.width
        )));
    }
    if out.len() != preset.output_len() {
        return Err(AugmentError::Output(format!(
            "{} floats for 3 x {} x {}",
            out.len(),
            preset.height,
            preset.width
        )));
    }
    Ok(())
}

/// Python's `random.uniform(0, 1) > p` test, inverted: applied with probability p.
fn happens(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() <= p
}

fn beta(rng: &mut impl Rng, b: f64) -> f32 {
    Beta::new(b, b).expect("positive beta").sample(rng) as f32
}

/// Augments one image into `out` (3 x height x width, normalised).
pub fn augment_one(
    preset: &Preset,
    src: &SourceImage,
    rng: &mut impl Rng,
    out: &mut [f32],
    scratch: &mut Scratch,
) -> Result<Trace, AugmentError> {
    check(preset, src, out)?;
    let (h, w) = (preset.height, preset.width);
    let mut t = Trace {
        grayscale: happens(rng, preset.grayscale_p),
        top: rng.random_range(0..=src.height + 2 * preset.pad - h),
        left: rng.random_range(0..=src.width + 2 * preset.pad - w),
        flip: happens(rng, preset.flip_p),
        ..Trace::default()
    };
    if let Some(m) = preset.mrle {
        if happens(rng, m.p) {
            let draws = [beta(rng, m.beta), beta(rng, m.beta), beta(rng, m.beta)];
            let sum: f32 = draws.iter().sum();
            t.mrle = Some(if sum > 0.0 {
                draws.map(|d| d / sum)
            } else {
                [1.0 / 3.0; 3]
            });
        }
    }
    base_pass(preset, src, &t, out);
    if let Some(r) = preset.rrle {
        if happens(rng, r.p) {
            radical(preset, &r, rng, out, scratch, &mut t);
        }
    }
    if let Some(e) = preset.erasing {
        if happens(rng, e.p) {
            for _ in 0..e.regions.attempts {
                if let Some(region) = attempt(rng, &e.regions, h, w) {
                    for c in 0..3 {
                        let v = (e.fill[c] - preset.mean[c]) / preset.std[c];
                        for y in region.top..region.top + region.h {
                            let row = (c * h + y) * w;
                            out[row + region.left..row + region.left + region.w].fill(v);
                        }
                    }
                    t.erased = Some(region);
                    break;
                }
            }
        }
    }
    if let Some(ce) = preset.channel_exchange {
        let idx = rng.random_range(0..=3u8);
        let choice = if idx < 3 {
            idx
        } else if happens(rng, ce.grey_p) {
            3
        } else {
            4
        };
        exchange(out, h * w, choice);
        t.exchange = Some(choice);
    }
    Ok(t)
}

/// Padding, grayscale, crop, flip, to-tensor, MRLE and normalize in one pass.
fn base_pass(preset: &Preset, src: &SourceImage, t: &Trace, out: &mut [f32]) {
    let (h, w, pad) = (preset.height, preset.width, preset.pad);
    let plane = h * w;
    // The normalised value of each byte, per channel: the division by 255 then the
    // subtraction and division that torchvision does, in the same order and precision.
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, e) in table.iter_mut().enumerate() {
            *e = (v as f32 / 255.0 - preset.mean[c]) / preset.std[c];
        }
    }
    let (out_r, rest) = out.split_at_mut(plane);
    let (out_g, out_b) = rest.split_at_mut(plane);
    for y in 0..h {
        let sy = (t.top + y) as isize - pad as isize;
        let row_in = sy >= 0 && (sy as usize) < src.height;
        let o = y * w;
        for x in 0..w {
            let cx = if t.flip { w - 1 - x } else { x };
            let sx = (t.left + cx) as isize - pad as isize;
            let px = if row_in && sx >= 0 && (sx as usize) < src.width {
                let i = (sy as usize * src.width + sx as usize) * 3;
                [src.pixels[i], src.pixels[i + 1], src.pixels[i + 2]]
            } else {
                [0, 0, 0]
            };
            let px = if t.grayscale {
                let l = ((px[0] as u32 * 19595 + px[1] as u32 * 38470 + px[2] as u32 * 7471
                    + 0x8000)
                    >> 16) as u8;
                [l, l, l]
            } else {
                px
            };
            match t.mrle {
                None => {
                    out_r[o + x] = lut[0][px[0] as usize];
                    out_g[o + x] = lut[1][px[1] as usize];
                    out_b[o + x] = lut[2][px[2] as usize];
                }
                Some(wt) => {
                    let g = wt[0] * (px[0] as f32 / 255.0)
                        + wt[1] * (px[1] as f32 / 255.0)
                        + wt[2] * (px[2] as f32 / 255.0);
                    out_r[o + x] = (g - preset.mean[0]) / preset.std[0];
                    out_g[o + x] = (g - preset.mean[1]) / preset.std[1];
                    out_b[o + x] = (g - preset.mean[2]) / preset.std[2];
                }
            }
        }
    }
}

/// Radical RLE on normalised values, with the reference's attempt and stopping rule.
fn radical(
    preset: &Preset,
    r: &crate::params::Rrle,
    rng: &mut impl Rng,
    out: &mut [f32],
    scratch: &mut Scratch,
    t: &mut Trace,
) {
    let (h, w) = (preset.height, preset.width);
    let plane = h * w;
    scratch.mask.clear();
    scratch.mask.resize(3 * plane, 1.0);
    let mut steps = Vec::new();
    for _ in 0..r.regions.attempts {
        t.rrle_attempts += 1;
        let Some(region) = attempt(rng, &r.regions, h, w) else {
            continue;
        };
        let alpha = [beta(rng, r.beta), beta(rng, r.beta), beta(rng, r.beta)];
        let mut factor = [1f32; 3];
        for c in 0..3 {
            let (m, s) = (preset.mean[c], preset.std[c]);
            let rows = || (region.top..region.top + region.h).map(|y| (c * h + y) * w + region.left);
            let max_n = rows()
                .flat_map(|i| out[i..i + region.w].iter().copied())
                .fold(f32::NEG_INFINITY, f32::max);
            let max_x = max_n * s + m;
            // A region that is black in this channel (the zero padding, say) would divide by
            // zero and put NaN into the image in the reference: it is left as it is.
            if max_x <= 1e-6 {
                continue;
            }
            let f = alpha[c] / max_x;
            factor[c] = f;
            let shift = m / s * (f - 1.0);
            for i in rows() {
                for v in &mut out[i..i + region.w] {
                    *v = *v * f + shift;
                }
                for v in &mut scratch.mask[i..i + region.w] {
                    *v *= f;
                }
            }
        }
        steps.push(RrleStep {
            region,
            alpha,
            factor,
        });
        let min = scratch.mask.iter().copied().fold(f32::INFINITY, f32::min);
        if min < r.min_out {
            t.rrle_min_scale = Some(min);
            break;
        }
    }
    t.rrle = Some(steps);
}

/// The CAJ channel augmentation on normalised planes.
fn exchange(out: &mut [f32], plane: usize, choice: u8) {
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    match choice {
        0 => {
            g.copy_from_slice(r);
            b.copy_from_slice(r);
        }
        1 => {
            r.copy_from_slice(g);
            b.copy_from_slice(g);
        }
        2 => {
            r.copy_from_slice(b);
            g.copy_from_slice(b);
        }
        3 => {
            for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
                let grey = 0.2989 * *r + 0.587 * *g + 0.114 * *b;
                (*r, *g, *b) = (grey, grey, grey);
            }
        }
        _ => {}
    }
}

/// The random stream of image `index` of a run seeded with `seed`: independent of thread
/// count and order.
pub fn image_rng(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Augments a batch into one contiguous `N x 3 x H x W` buffer, in parallel; image `i` uses
/// the stream `image_rng(seed, first_index + i)`.
pub fn augment_batch(
    preset: &Preset,
    images: &[SourceImage],
    seed: u64,
    first_index: u64,
    out: &mut [f32],
) -> Result<(), AugmentError> {
    let len = preset.output_len();
    if out.len() != images.len() * len {
        return Err(AugmentError::Output(format!(
            "{} floats for {} images of 3 x {} x {}",
            out.len(),
            images.len(),
            preset.height,
            preset.width
        )));
    }
    out.par_chunks_mut(len)
        .zip(images.par_iter())
        .enumerate()
        .try_for_each_init(Scratch::default, |scratch, (i, (dst, src))| {
            let mut rng = image_rng(seed, first_index + i as u64);
            augment_one(preset, src, &mut rng, dst, scratch).map(|_| ())
        })
}
