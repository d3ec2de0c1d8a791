//! The random decisions an augmented view makes, and their record ([`Trace`]): shared by the
//! fused pipeline and the step-by-step transforms, which must decide the same way from the
//! same stream.

use crate::params::ChannelExchange;
use crate::region::Region;
use rand::Rng;
use rand_distr::{Beta, Distribution};
use serde::Serialize;

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

/// Python's `random.uniform(0, 1) > p` test, inverted: applied with probability p.
pub(crate) fn happens(rng: &mut impl Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() <= p
}

/// Draws MRLE's weights: three Beta(beta, beta) draws divided by their sum.
pub fn mrle_weights(rng: &mut impl Rng, beta: f64) -> [f32; 3] {
    let d = Beta::new(beta, beta).expect("positive beta");
    let draws: [f32; 3] = std::array::from_fn(|_| d.sample(rng) as f32);
    let sum: f32 = draws.iter().sum();
    if sum > 0.0 {
        draws.map(|v| v / sum)
    } else {
        [1.0 / 3.0; 3]
    }
}

/// The CAJ draw: `randint(0, 3)`; 0..=2 copy that channel, 3 is grey with probability
/// `grey_p` (returned as 3) or nothing (returned as 4).
pub(crate) fn exchange_choice(rng: &mut impl Rng, ce: &ChannelExchange) -> u8 {
    let idx = rng.random_range(0..=3u8);
    if idx < 3 {
        idx
    } else if happens(rng, ce.grey_p) {
        3
    } else {
        4
    }
}
