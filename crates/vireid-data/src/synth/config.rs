//! What a synthetic dataset is asked to be, and the checks on it.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::image_io::Size;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub dataset: Dataset,
    /// Number of identities (RegDB: rounded up to an even number for its half/half trials).
    pub ids: usize,
    pub seed: u64,
    /// Size of the stored images (the real data's are of several sizes; cameras here vary
    /// around this one).
    pub size: Size,
    /// Images per person and camera, drawn uniformly from this inclusive range (RegDB always
    /// has 10 per modality).
    pub images_per_camera: (usize, usize),
    /// Standard deviation of the sensor noise, in [0, 1] intensity units.
    pub noise: f32,
    /// People held out for the test (SYSU-MM01 and LLCM); `None`: the benchmark's proportion
    /// (see [`SynthConfig::test_people`]). RegDB splits its people half and half in every
    /// trial and refuses it.
    pub test_ids: Option<usize>,
    /// Replace a dataset that `vireid synth` wrote in the output folder before (a folder
    /// holding anything else is never replaced).
    pub replace: bool,
}

/// The file in a generated dataset's root that says vireid wrote it (and may replace it).
pub const MARKER: &str = "vireid-synth.json";
/// Largest image side: far above any re-ID crop, far below a memory problem.
const MAX_SIDE: u32 = 4096;
/// Smallest image side a body can be drawn at.
const MIN_SIDE: u32 = 16;

impl SynthConfig {
    pub fn new(dataset: Dataset) -> Self {
        Self {
            dataset,
            ids: match dataset {
                Dataset::Regdb => 40,
                _ => 48,
            },
            seed: 0,
            size: Size::new(128, 64),
            images_per_camera: (2, 12),
            noise: 0.03,
            test_ids: None,
            replace: false,
        }
    }

    /// Every setting checked before anything is written; the first problem, named.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(DataError::Protocol(why));
        if self.ids < 3 {
            return bad(format!(
                "a synthetic dataset needs at least 3 identities (train and test), got {}",
                self.ids
            ));
        }
        if let Some(test) = self.test_ids {
            if self.dataset == Dataset::Regdb {
                return bad(format!(
                    "RegDB splits its people half and half in every trial; {test} test \
                     identities cannot be chosen"
                ));
            }
            if test == 0 || test + 2 > self.ids {
                return bad(format!(
                    "{test} test identities out of {} leave no test or fewer than 2 training people",
                    self.ids
                ));
            }
        }
        let (lo, hi) = self.images_per_camera;
        if lo == 0 || lo > hi || hi > 1000 {
            return bad(format!(
                "images per camera must be a range 1 <= min <= max <= 1000, got {lo}..{hi}"
            ));
        }
        if !(self.noise.is_finite() && (0.0..=1.0).contains(&self.noise)) {
            return bad(format!(
                "the noise is a standard deviation in [0, 1], got {}",
                self.noise
            ));
        }
        for (what, v) in [("height", self.size.height), ("width", self.size.width)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&v) {
                return bad(format!(
                    "the image {what} must be {MIN_SIDE} to {MAX_SIDE} pixels, got {v}"
                ));
            }
        }
        Ok(())
    }

    /// How many people the test holds: `test_ids` when chosen, else the benchmark's
    /// proportion (SYSU-MM01 a third, LLCM two fifths, RegDB half in every trial).
    pub fn test_people(&self) -> usize {
        self.test_ids.unwrap_or(match self.dataset {
            Dataset::Sysu => (self.ids / 3).max(1),
            Dataset::Llcm => (self.ids * 2 / 5).max(1),
            Dataset::Regdb => people_count(self) / 2,
        })
    }
}

/// People generated: RegDB's count is even (it splits them in half).
pub(super) fn people_count(cfg: &SynthConfig) -> usize {
    match cfg.dataset {
        Dataset::Regdb => cfg.ids.max(2).div_ceil(2) * 2,
        _ => cfg.ids,
    }
}
