//! Each transform as its own unit, in the reference's terms: uint8 HWC images for the steps
//! before to-tensor, float CHW tensors in [0, 1] after it. `compose` runs them one after the
//! other in a preset's order; the fused pipeline (`augment_one`) must give the same result
//! from the same random stream, which the tests check.

pub use crate::draws::mrle_weights;
use crate::draws::{exchange_choice, happens, RrleStep, Trace};
use crate::params::{Preset, Regions};
use crate::region::{attempt, Region};
use rand::Rng;
use rand_distr::{Beta, Distribution};

/// A uint8 image, height x width x 3, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct HwcImage {
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
}

/// A float image, 3 x height x width.
#[derive(Debug, Clone, PartialEq)]
pub struct ChwTensor {
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl ChwTensor {
    fn at(&mut self, c: usize, y: usize, x: usize) -> &mut f32 {
        &mut self.data[(c * self.height + y) * self.width + x]
    }
}

/// Zero padding on every side.
pub fn pad(img: &HwcImage, pad: usize) -> HwcImage {
    let (h, w) = (img.height + 2 * pad, img.width + 2 * pad);
    let mut pixels = vec![0u8; h * w * 3];
    for y in 0..img.height {
        let from = &img.pixels[y * img.width * 3..(y + 1) * img.width * 3];
        let start = ((y + pad) * w + pad) * 3;
        pixels[start..start + from.len()].copy_from_slice(from);
    }
    HwcImage {
        height: h,
        width: w,
        pixels,
    }
}

/// PIL's `convert("L")` luma (ITU-R 601-2, fixed point) copied to the three channels.
pub fn grayscale(img: &mut HwcImage) {
    for px in img.pixels.chunks_exact_mut(3) {
        let l = ((px[0] as u32 * 19595 + px[1] as u32 * 38470 + px[2] as u32 * 7471 + 0x8000) >> 16)
            as u8;
        px.fill(l);
    }
}

/// The h x w window at (top, left).
pub fn crop(img: &HwcImage, top: usize, left: usize, h: usize, w: usize) -> HwcImage {
    let mut pixels = Vec::with_capacity(h * w * 3);
    for y in top..top + h {
        let start = (y * img.width + left) * 3;
        pixels.extend_from_slice(&img.pixels[start..start + w * 3]);
    }
    HwcImage {
        height: h,
        width: w,
        pixels,
    }
}

/// Mirror left to right.
pub fn hflip(img: &mut HwcImage) {
    for row in img.pixels.chunks_exact_mut(img.width * 3) {
        let n = row.len() / 3;
        for x in 0..n / 2 {
            for c in 0..3 {
                row.swap(x * 3 + c, (n - 1 - x) * 3 + c);
            }
        }
    }
}

/// Bytes to floats in [0, 1], HWC to CHW (torchvision's ToTensor).
pub fn to_tensor(img: &HwcImage) -> ChwTensor {
    let mut t = ChwTensor {
        height: img.height,
        width: img.width,
        data: vec![0.0; 3 * img.height * img.width],
    };
    for y in 0..img.height {
        for x in 0..img.width {
            for c in 0..3 {
                *t.at(c, y, x) = img.pixels[(y * img.width + x) * 3 + c] as f32 / 255.0;
            }
        }
    }
    t
}

/// Moderate RLE with given weights: every channel becomes w . (R, G, B).
pub fn mrle(t: &mut ChwTensor, weights: [f32; 3]) {
    let plane = t.height * t.width;
    for i in 0..plane {
        let g = weights[0] * t.data[i]
            + weights[1] * t.data[plane + i]
            + weights[2] * t.data[2 * plane + i];
        for c in 0..3 {
            t.data[c * plane + i] = g;
        }
    }
}

/// Radical RLE as the reference writes it, on a [0, 1] tensor, with its attempt and stopping
/// rule; a channel region whose maximum is 0 is left unchanged instead of becoming NaN.
pub fn rrle(
    t: &mut ChwTensor,
    beta: f64,
    min_out: f32,
    regions: &Regions,
    rng: &mut impl Rng,
) -> (Vec<RrleStep>, Option<f32>, usize) {
    let d = Beta::new(beta, beta).expect("positive beta");
    let mut mask = vec![1f32; t.data.len()];
    let (h, w) = (t.height, t.width);
    let mut steps = Vec::new();
    let mut attempts = 0;
    for _ in 0..regions.attempts {
        attempts += 1;
        let Some(r) = attempt(rng, regions, h, w) else {
            continue;
        };
        let alpha: [f32; 3] = std::array::from_fn(|_| d.sample(rng) as f32);
        let mut factor = [1f32; 3];
        for c in 0..3 {
            let mut max = f32::NEG_INFINITY;
            for y in r.top..r.top + r.h {
                for x in r.left..r.left + r.w {
                    max = max.max(*t.at(c, y, x));
                }
            }
            if max <= 1e-6 {
                continue;
            }
            factor[c] = alpha[c] / max;
            for y in r.top..r.top + r.h {
                for x in r.left..r.left + r.w {
                    *t.at(c, y, x) *= factor[c];
                    mask[(c * h + y) * w + x] *= factor[c];
                }
            }
        }
        steps.push(RrleStep {
            region: r,
            alpha,
            factor,
        });
        let min = mask.iter().copied().fold(f32::INFINITY, f32::min);
        if min < min_out {
            return (steps, Some(min), attempts);
        }
    }
    (steps, None, attempts)
}

/// Fills a rectangle with a value per channel.
pub fn erase(t: &mut ChwTensor, r: Region, fill: [f32; 3]) {
    for (c, &v) in fill.iter().enumerate() {
        for y in r.top..r.top + r.h {
            for x in r.left..r.left + r.w {
                *t.at(c, y, x) = v;
            }
        }
    }
}

/// (x - mean) / std per channel (torchvision's Normalize).
pub fn normalize(t: &mut ChwTensor, mean: [f32; 3], std: [f32; 3]) {
    let plane = t.height * t.width;
    for (i, v) in t.data.iter_mut().enumerate() {
        let c = i / plane;
        *v = (*v - mean[c]) / std[c];
    }
}

/// The preset's transforms one after the other, drawing from `rng` in the pipeline's order.
pub fn compose(preset: &Preset, src: &HwcImage, rng: &mut impl Rng) -> (ChwTensor, Trace) {
    let mut t = Trace::default();
    let mut img = pad(src, preset.pad);
    t.grayscale = happens(rng, preset.grayscale_p);
    if t.grayscale {
        grayscale(&mut img);
    }
    t.top = rng.random_range(0..=img.height - preset.height);
    t.left = rng.random_range(0..=img.width - preset.width);
    let mut img = crop(&img, t.top, t.left, preset.height, preset.width);
    t.flip = happens(rng, preset.flip_p);
    if t.flip {
        hflip(&mut img);
    }
    let mut x = to_tensor(&img);
    if let Some(m) = preset.mrle {
        if happens(rng, m.p) {
            let w = mrle_weights(rng, m.beta);
            mrle(&mut x, w);
            t.mrle = Some(w);
        }
    }
    if let Some(r) = preset.rrle {
        if happens(rng, r.p) {
            let (steps, min, attempts) = rrle(&mut x, r.beta, r.min_out, &r.regions, rng);
            t.rrle = Some(steps);
            t.rrle_min_scale = min;
            t.rrle_attempts = attempts;
        }
    }
    if let Some(e) = preset.erasing {
        if happens(rng, e.p) {
            for _ in 0..e.regions.attempts {
                if let Some(r) = attempt(rng, &e.regions, preset.height, preset.width) {
                    erase(&mut x, r, e.fill);
                    t.erased = Some(r);
                    break;
                }
            }
        }
    }
    normalize(&mut x, preset.mean, preset.std);
    if let Some(ce) = preset.channel_exchange {
        let choice = exchange_choice(rng, &ce);
        exchange(&mut x.data, preset.height * preset.width, choice);
        t.exchange = Some(choice);
    }
    (x, t)
}

/// The CAJ channel augmentation on normalised planes.
pub(crate) fn exchange(out: &mut [f32], plane: usize, choice: u8) {
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
