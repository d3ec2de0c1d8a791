//! What a run records: the scores of an evaluation, one finished epoch, an epoch stopped
//! part-way, and how a run ended. Plain data, read by the run folder, the curves and callers.

use crate::step::StepLosses;
use serde::{Deserialize, Serialize};

/// What evaluation reports to the loop (fractions).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct EvalScores {
    pub rank1: f64,
    pub map: f64,
    pub minp: f64,
}

/// One finished epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    #[serde(default)]
    pub steps: usize,
    pub lr: f64,
    pub loss: f64,
    pub identity: f64,
    pub triplet: f64,
    pub images_per_second: f64,
    pub seconds: f64,
    /// Of `seconds`: time the steps waited for a prepared batch (0 when the input pipeline
    /// keeps ahead), and time in the steps themselves.
    #[serde(default)]
    pub seconds_waiting: f64,
    #[serde(default)]
    pub seconds_stepping: f64,
    pub eval: Option<EvalScores>,
    /// Mixed precision only: steps whose update was skipped (a gradient overflowed), and the
    /// loss scale at the end of the epoch.
    #[serde(default)]
    pub skipped_steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<f64>,
    /// Across processes only: of `seconds_stepping`, time in exchanges (gradients averaged,
    /// running statistics shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_exchanging: Option<f64>,
}

/// An epoch stopped part-way (Ctrl-C): the steps done and what they summed to, so that the
/// resumed epoch continues with the next batch and reports the same means.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Partial {
    pub steps: usize,
    pub sums: StepLosses,
    pub seconds: f64,
    #[serde(default)]
    pub waiting: f64,
    #[serde(default)]
    pub stepping: f64,
    /// Steps of this epoch whose update was skipped (mixed precision).
    #[serde(default)]
    pub skipped: usize,
    #[serde(default)]
    pub exchanging: f64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    /// Stopped on request (Ctrl-C) after saving: at the end of an epoch, or inside one
    /// (`RunState::partial`).
    Interrupted,
}
