//! One image or a batch through a preset: uint8 HWC in, normalised float32 CHW out.
//!
//! The pixel-wise steps (padding, grayscale, crop, flip, to-tensor, MRLE and normalize) are
//! one pass that reads each source pixel once and writes the normalised output; radical RLE
//! and erasing then touch only their rectangles, working on normalised values directly:
//! scaling x by f is n * f + (mean / std) (f - 1) in normalised units, and a fill value e is
//! (e - mean) / std. Channel exchange, when enabled, is a last pass.

use crate::draws::{exchange_choice, happens, mrle_weights, RrleStep, Trace};
use crate::error::AugmentError;
use crate::params::Preset;
use crate::region::attempt;
use crate::transforms::exchange;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution};
use rayon::prelude::*;

/// A source image: `height x width x 3` bytes, row-major (the cache's layout).
#[derive(Debug, Clone, Copy)]
pub struct SourceImage<'a> {
    pub pixels: &'a [u8],
    pub height: usize,
    pub width: usize,
}

/// Scratch memory reused across images of one worker.
#[derive(Default)]
pub struct Scratch {
    mask: Vec<f32>,
    tables: Option<Box<Tables>>,
}

/// Per-byte lookup tables of a normalisation, built once per worker rather than per image.
struct Tables {
    mean: [f32; 3],
    std: [f32; 3],
    /// The normalised value of each byte, per channel: the division by 255 then the
    /// subtraction and division that torchvision does, in the same order and precision.
    lut: [[f32; 256]; 3],
    /// v / 255 for each byte v (the grey path of moderate RLE).
    unit: [f32; 256],
}

impl Scratch {
    fn tables(&mut self, mean: [f32; 3], std: [f32; 3]) -> &Tables {
        let stale = self
            .tables
            .as_ref()
            .is_none_or(|t| t.mean != mean || t.std != std);
        if stale {
            let unit: [f32; 256] = std::array::from_fn(|v| v as f32 / 255.0);
            let lut =
                std::array::from_fn(|c| std::array::from_fn(|v| (unit[v] - mean[c]) / std[c]));
            self.tables = Some(Box::new(Tables {
                mean,
                std,
                lut,
                unit,
            }));
        }
        self.tables.as_deref().expect("just built")
    }
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
            t.mrle = Some(mrle_weights(rng, m.beta));
        }
    }
    base_pass(
        preset,
        src,
        &t,
        out,
        scratch.tables(preset.mean, preset.std),
    );
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
        let choice = exchange_choice(rng, &ce);
        exchange(out, h * w, choice);
        t.exchange = Some(choice);
    }
    Ok(t)
}

/// Padding, grayscale, crop, flip, to-tensor, MRLE and normalize in one pass.
fn base_pass(preset: &Preset, src: &SourceImage, t: &Trace, out: &mut [f32], tables: &Tables) {
    let (h, w, pad) = (preset.height, preset.width, preset.pad);
    let plane = h * w;
    let lut = &tables.lut;
    let (out_r, rest) = out.split_at_mut(plane);
    let (out_g, out_b) = rest.split_at_mut(plane);
    let write = |px: [u8; 3]| -> [f32; 3] {
        match t.mrle {
            None => [
                lut[0][px[0] as usize],
                lut[1][px[1] as usize],
                lut[2][px[2] as usize],
            ],
            Some(wt) => {
                let g = wt[0] * (px[0] as f32 / 255.0)
                    + wt[1] * (px[1] as f32 / 255.0)
                    + wt[2] * (px[2] as f32 / 255.0);
                [
                    (g - preset.mean[0]) / preset.std[0],
                    (g - preset.mean[1]) / preset.std[1],
                    (g - preset.mean[2]) / preset.std[2],
                ]
            }
        }
    };
    let black = write([0, 0, 0]);
    let mix = Mix {
        weights: t.mrle.unwrap_or([0.0; 3]),
        unit: &tables.unit,
        mean: preset.mean,
        inv_std: preset.std.map(|s| 1.0 / s),
    };
    // Output column x reads padded column left + x (left + w - 1 - x when flipped), that is
    // source column left + x - pad: the columns with a source pixel form one range.
    let first_col = t.left as isize - pad as isize;
    let in_src = |x: usize| -> Option<usize> {
        let cx = if t.flip { w - 1 - x } else { x };
        let sx = first_col + cx as isize;
        (sx >= 0 && (sx as usize) < src.width).then_some(sx as usize)
    };
    let (mut lo, mut hi) = (w, 0);
    for x in 0..w {
        if in_src(x).is_some() {
            lo = lo.min(x);
            hi = hi.max(x + 1);
        }
    }
    for y in 0..h {
        let o = y * w;
        let (r, g, b) = (
            &mut out_r[o..o + w],
            &mut out_g[o..o + w],
            &mut out_b[o..o + w],
        );
        let sy = (t.top + y) as isize - pad as isize;
        if sy < 0 || sy as usize >= src.height || lo >= hi {
            r.fill(black[0]);
            g.fill(black[1]);
            b.fill(black[2]);
            continue;
        }
        for x in (0..lo).chain(hi..w) {
            (r[x], g[x], b[x]) = (black[0], black[1], black[2]);
        }
        let row = &src.pixels[sy as usize * src.width * 3..(sy as usize + 1) * src.width * 3];
        let start = in_src(if t.flip { hi - 1 } else { lo }).expect("in range");
        let pixels = &row[start * 3..(start + hi - lo) * 3];
        let dst = (&mut r[lo..hi], &mut g[lo..hi], &mut b[lo..hi]);
        // One specialised loop per combination, so that nothing is decided per pixel.
        match (t.grayscale, t.mrle.is_some(), t.flip) {
            (false, false, false) => fill::<false, false, false>(pixels, dst, lut, &mix),
            (false, false, true) => fill::<false, false, true>(pixels, dst, lut, &mix),
            (true, false, false) => fill::<true, false, false>(pixels, dst, lut, &mix),
            (true, false, true) => fill::<true, false, true>(pixels, dst, lut, &mix),
            (false, true, false) => fill::<false, true, false>(pixels, dst, lut, &mix),
            (false, true, true) => fill::<false, true, true>(pixels, dst, lut, &mix),
            (true, true, false) => fill::<true, true, false>(pixels, dst, lut, &mix),
            (true, true, true) => fill::<true, true, true>(pixels, dst, lut, &mix),
        }
    }
}

/// MRLE's weights and the normalisation, for the per-pixel grey path.
struct Mix<'a> {
    weights: [f32; 3],
    /// v / 255 for each byte v.
    unit: &'a [f32; 256],
    mean: [f32; 3],
    inv_std: [f32; 3],
}

/// Writes one row's source pixels (reversed when FLIP) to the three output planes.
#[inline(always)]
fn fill<const GRAY: bool, const MRLE: bool, const FLIP: bool>(
    pixels: &[u8],
    (r, g, b): (&mut [f32], &mut [f32], &mut [f32]),
    lut: &[[f32; 256]; 3],
    mix: &Mix,
) {
    let put = |((r, g), b): ((&mut f32, &mut f32), &mut f32), px: &[u8]| {
        let mut p = [px[0], px[1], px[2]];
        if GRAY {
            let l = ((p[0] as u32 * 19595 + p[1] as u32 * 38470 + p[2] as u32 * 7471 + 0x8000)
                >> 16) as u8;
            p = [l, l, l];
        }
        if MRLE {
            let (w, u) = (mix.weights, &mix.unit);
            let v = w[0] * u[p[0] as usize] + w[1] * u[p[1] as usize] + w[2] * u[p[2] as usize];
            *r = (v - mix.mean[0]) * mix.inv_std[0];
            *g = (v - mix.mean[1]) * mix.inv_std[1];
            *b = (v - mix.mean[2]) * mix.inv_std[2];
        } else {
            *r = lut[0][p[0] as usize];
            *g = lut[1][p[1] as usize];
            *b = lut[2][p[2] as usize];
        }
    };
    let targets = r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut());
    if FLIP {
        targets
            .zip(pixels.chunks_exact(3).rev())
            .for_each(|(t, px)| put(t, px));
    } else {
        targets
            .zip(pixels.chunks_exact(3))
            .for_each(|(t, px)| put(t, px));
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
    // The mask holds 1 everywhere between uses; only the regions touched are reset after.
    if scratch.mask.len() != 3 * h * w {
        scratch.mask.clear();
        scratch.mask.resize(3 * h * w, 1.0);
    }
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
            let rows =
                || (region.top..region.top + region.h).map(|y| (c * h + y) * w + region.left);
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
        // Only this region's scales changed, and every other pixel is still at or above
        // min_out (else the loop would have stopped): the rule needs this region's minimum.
        let mut min = f32::INFINITY;
        for c in 0..3 {
            for y in region.top..region.top + region.h {
                let i = (c * h + y) * w + region.left;
                min = scratch.mask[i..i + region.w]
                    .iter()
                    .copied()
                    .fold(min, f32::min);
            }
        }
        if min < r.min_out {
            t.rrle_min_scale = Some(min);
            break;
        }
    }
    for s in &steps {
        for c in 0..3 {
            for y in s.region.top..s.region.top + s.region.h {
                let i = (c * h + y) * w + s.region.left;
                scratch.mask[i..i + s.region.w].fill(1.0);
            }
        }
    }
    t.rrle = Some(steps);
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
