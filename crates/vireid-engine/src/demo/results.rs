//! What the demo found: one trained variant's test results, and the fused headline of each.

use serde::Serialize;
use std::path::PathBuf;
use vireid_eval::{Metrics, Score, TrialReport};

/// One trained variant's test results.
#[derive(Serialize)]
pub struct RunResult {
    pub name: String,
    pub rle: bool,
    pub dir: PathBuf,
    pub epochs: usize,
    pub seconds_training: f64,
    pub report: TrialReport,
}

impl RunResult {
    /// The fused score's means, the number a paper reports.
    pub fn headline(&self) -> &Metrics {
        &self.report.score(Score::Fused).mean
    }
}
