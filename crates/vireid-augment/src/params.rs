//! The transforms' parameters and the presets that equal the reference's pipelines.

use serde::Serialize;

/// Moderate RLE: with probability `p`, all channels become one random convex combination of
/// them, with weights drawn from Beta(beta, beta) and divided by their sum.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mrle {
    pub p: f64,
    pub beta: f64,
}

/// Rectangles drawn the way random erasing draws them: area fraction U(sl, sh), aspect ratio
/// U(r1, 1/r1), up to `attempts` tries, a try used only if it fits inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Regions {
    pub sl: f64,
    pub sh: f64,
    pub r1: f64,
    pub attempts: usize,
}

impl Default for Regions {
    fn default() -> Self {
        Self {
            sl: 0.02,
            sh: 0.4,
            r1: 0.3,
            attempts: 100,
        }
    }
}

/// Radical RLE: with probability `p`, rescale random regions of each channel by
/// Beta(beta, beta) / max(region), until the accumulated scale of some pixel falls under
/// `min_out` (or the attempts run out).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rrle {
    pub p: f64,
    pub beta: f64,
    pub min_out: f32,
    pub regions: Regions,
}

/// Random erasing (Zhong et al.): with probability `p`, fill the first fitting rectangle with
/// `fill` per channel (values in [0, 1], before normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Erasing {
    pub p: f64,
    pub fill: [f32; 3],
    pub regions: Regions,
}

/// The channel augmentation of the CAJ baseline (Ye et al., ICCV 2021): one of R, G, B copied
/// to all channels (each with probability 1/4), or, in the remaining quarter, grey
/// (0.2989 R + 0.587 G + 0.114 B) with probability `grey_p`. Applied last, on normalised
/// values, as the baseline does.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChannelExchange {
    pub grey_p: f64,
}

/// A whole training pipeline, in the reference's order: zero padding, random grayscale,
/// random crop, horizontal flip, to-tensor, MRLE, RRLE, random erasing, normalize (and the
/// optional channel exchange).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preset {
    pub name: &'static str,
    /// Output height and width.
    pub height: usize,
    pub width: usize,
    pub pad: usize,
    /// Probability of PIL-style grayscale (luma copied to the three channels); 0 disables.
    pub grayscale_p: f64,
    pub flip_p: f64,
    pub mrle: Option<Mrle>,
    pub rrle: Option<Rrle>,
    pub erasing: Option<Erasing>,
    pub channel_exchange: Option<ChannelExchange>,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Preset {
    /// The reference's SYSU-MM01 training transform.
    pub fn sysu() -> Self {
        Self {
            name: "sysu",
            height: 384,
            width: 192,
            pad: 10,
            grayscale_p: 0.0,
            flip_p: 0.5,
            mrle: Some(Mrle { p: 0.5, beta: 0.3 }),
            rrle: Some(Rrle {
                p: 0.5,
                beta: 0.4,
                min_out: 0.1,
                regions: Regions::default(),
            }),
            erasing: Some(Erasing {
                p: 0.5,
                fill: [0.4914, 0.4822, 0.4465],
                regions: Regions::default(),
            }),
            channel_exchange: None,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// The reference's RegDB training transform: SYSU-MM01's plus random grayscale after the
    /// padding.
    pub fn regdb() -> Self {
        Self {
            name: "regdb",
            grayscale_p: 0.5,
            ..Self::sysu()
        }
    }

    /// The reference's LLCM training transform (the same as RegDB's).
    pub fn llcm() -> Self {
        Self {
            name: "llcm",
            ..Self::regdb()
        }
    }

    /// Geometry, flip and normalisation only: no random grayscale, RLE or erasing.
    pub fn plain(self) -> Self {
        Self {
            grayscale_p: 0.0,
            mrle: None,
            rrle: None,
            erasing: None,
            channel_exchange: None,
            ..self
        }
    }

    /// The reference's training transform of a dataset.
    pub fn of(dataset: vireid_data::Dataset) -> Self {
        match dataset {
            vireid_data::Dataset::Sysu => Self::sysu(),
            vireid_data::Dataset::Regdb => Self::regdb(),
            vireid_data::Dataset::Llcm => Self::llcm(),
        }
    }

    pub fn with_size(self, height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            ..self
        }
    }

    /// Floats of one output image (3 x height x width).
    pub fn output_len(&self) -> usize {
        3 * self.height * self.width
    }
}
