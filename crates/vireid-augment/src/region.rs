//! The rectangle draw shared by radical RLE and random erasing.

use crate::params::Regions;
use rand::Rng;
use serde::Serialize;

/// A rectangle of the image: rows top..top+h, columns left..left+w.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    pub top: usize,
    pub left: usize,
    pub h: usize,
    pub w: usize,
}

/// One attempt: area fraction U(sl, sh), aspect U(r1, 1/r1), sides rounded half to even as
/// Python's round does; `None` unless the rectangle is strictly smaller than the image
/// (the reference's `w < W and h < H`), else a position with inclusive bounds.
pub fn attempt(rng: &mut impl Rng, p: &Regions, height: usize, width: usize) -> Option<Region> {
    let area = (height * width) as f64;
    let target = rng.random_range(p.sl..=p.sh) * area;
    let aspect = rng.random_range(p.r1..=1.0 / p.r1);
    let h = (target * aspect).sqrt().round_ties_even() as usize;
    let w = (target / aspect).sqrt().round_ties_even() as usize;
    if w < width && h < height {
        let top = rng.random_range(0..=height - h);
        let left = rng.random_range(0..=width - w);
        Some(Region { top, left, h, w })
    } else {
        None
    }
}
