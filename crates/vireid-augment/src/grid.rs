//! The augmentation grid: an image beside views of the whole training pipeline, then one row
//! per transform forced on, so that a person can see what each does. Raw RGB out; the caller
//! encodes it (the `augment` command and the demo's report).

use crate::draws::Trace;
use crate::error::AugmentError;
use crate::params::{ChannelExchange, Erasing, Mrle, Preset, Rrle};
use crate::pipeline::{augment_one, image_rng, Scratch, SourceImage};

/// White pixels between the cells.
const GAP: usize = 4;

/// The rows of the grid: a name and the preset that shows it.
pub fn rows(full: Preset) -> Vec<(&'static str, Preset)> {
    let plain = full.plain();
    let no_geometry = Preset {
        flip_p: 0.0,
        pad: 0,
        ..plain
    };
    let r = full
        .rrle
        .unwrap_or(Preset::sysu().rrle.expect("sysu has RRLE"));
    let e = full
        .erasing
        .unwrap_or(Preset::sysu().erasing.expect("sysu has erasing"));
    let m = full.mrle.unwrap_or(Mrle { p: 1.0, beta: 0.3 });
    vec![
        ("pipeline", full),
        ("pad + crop + flip", plain),
        (
            "grayscale (p=1)",
            Preset {
                grayscale_p: 1.0,
                ..no_geometry
            },
        ),
        (
            "moderate RLE (p=1)",
            Preset {
                mrle: Some(Mrle { p: 1.0, ..m }),
                ..no_geometry
            },
        ),
        (
            "radical RLE (p=1)",
            Preset {
                rrle: Some(Rrle { p: 1.0, ..r }),
                ..no_geometry
            },
        ),
        (
            "random erasing (p=1)",
            Preset {
                erasing: Some(Erasing { p: 1.0, ..e }),
                ..no_geometry
            },
        ),
        (
            "channel exchange (CAJ)",
            Preset {
                channel_exchange: Some(ChannelExchange { grey_p: 0.5 }),
                ..no_geometry
            },
        ),
    ]
}

/// Views a grid row shows at most: a grid of 7 rows x 17 cells at 384 x 192 is already a
/// 3,300 x 2,700 picture.
pub const MAX_GRID_VIEWS: usize = 16;

/// The random stream of view `view` of grid row `row`: the dump's views are the pipeline
/// row's, drawn the same way.
pub fn view_rng(seed: u64, row: usize, view: usize) -> rand_chacha::ChaCha8Rng {
    image_rng(seed ^ ((row as u64) << 32), view as u64)
}

/// One row of a grid: its name and what each view decided.
#[derive(Debug, serde::Serialize)]
pub struct GridRow {
    pub row: usize,
    pub name: &'static str,
    pub views: Vec<Trace>,
}

/// An augmentation grid: RGB pixels (`width` x `height`) and its rows.
pub struct Grid {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub rows: Vec<GridRow>,
}

/// The grid of `n` views a row of the image `pixels` (RGB, the preset's size): the whole
/// pipeline, then each transform forced on.
pub fn grid(full: Preset, pixels: &[u8], n: usize, seed: u64) -> Result<Grid, AugmentError> {
    if !(1..=MAX_GRID_VIEWS).contains(&n) {
        return Err(AugmentError::Invalid(format!(
            "a grid row shows 1 to {MAX_GRID_VIEWS} views, not {n}"
        )));
    }
    let (h, w) = (full.height, full.width);
    let src = SourceImage {
        pixels,
        height: h,
        width: w,
    };
    let rows = rows(full);
    let (cols, cell_w, cell_h) = (n + 1, w + GAP, h + GAP);
    let (width, height) = (cols * cell_w, rows.len() * cell_h);
    let mut rgb = vec![255u8; width * height * 3];
    let mut blit = |row: usize, col: usize, pixel: &dyn Fn(usize, usize) -> [u8; 3]| {
        for y in 0..h {
            for x in 0..w {
                let at = ((row * cell_h + y) * width + col * cell_w + x) * 3;
                rgb[at..at + 3].copy_from_slice(&pixel(y, x));
            }
        }
    };
    let mut described = Vec::new();
    let mut scratch = Scratch::default();
    let mut out = vec![0f32; full.output_len()];
    for (r, (name, preset)) in rows.iter().enumerate() {
        blit(r, 0, &|y, x| {
            let i = (y * w + x) * 3;
            [pixels[i], pixels[i + 1], pixels[i + 2]]
        });
        let mut views = Vec::new();
        for v in 0..n {
            let mut rng = view_rng(seed, r, v);
            let trace = augment_one(preset, &src, &mut rng, &mut out, &mut scratch)?;
            let plane = h * w;
            let shown = |y: usize, x: usize| -> [u8; 3] {
                std::array::from_fn(|c| {
                    let v = out[c * plane + y * w + x] * preset.std[c] + preset.mean[c];
                    (v.clamp(0.0, 1.0) * 255.0).round() as u8
                })
            };
            blit(r, v + 1, &shown);
            views.push(trace);
        }
        described.push(GridRow {
            row: r,
            name,
            views,
        });
    }
    Ok(Grid {
        width: width as u32,
        height: height as u32,
        rgb,
        rows: described,
    })
}
