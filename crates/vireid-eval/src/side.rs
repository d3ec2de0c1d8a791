//! One side of a trial (its query or its gallery) as evaluation takes it: the two feature
//! matrices and the labels. The one type for it, whether the features come from a network or
//! from a features folder.

use crate::metrics::Labels;
use crate::trials::{Features, Trial};
use ndarray::Array2;

/// Features and labels of one side (query or gallery) of a trial.
#[derive(Debug, Clone)]
pub struct Side {
    /// N x D pooled features, L2-normalised.
    pub pool: Array2<f32>,
    /// N x D BNNeck features, L2-normalised.
    pub bn: Array2<f32>,
    pub ids: Vec<i64>,
    /// Cameras, where known (the RegDB protocol needs none).
    pub cams: Option<Vec<i64>>,
}

impl Side {
    pub fn features(&self) -> Features<'_> {
        Features {
            pool: self.pool.view(),
            bn: self.bn.view(),
        }
    }

    pub fn labels(&self) -> Labels<'_> {
        Labels {
            ids: &self.ids,
            cams: self.cams.as_deref(),
        }
    }
}

/// One trial's sides: its number, its own query (RegDB) or none (it shares one), its gallery.
pub type TrialSides = (u32, Option<Side>, Side);

/// The trials as [`crate::evaluate_trials`] takes them.
pub fn trial_inputs(sides: &[TrialSides]) -> Vec<Trial<'_>> {
    sides
        .iter()
        .map(|(t, q, g)| Trial {
            trial: *t,
            query: q.as_ref().map(|q| (q.features(), q.labels())),
            gallery: g.features(),
            gallery_labels: g.labels(),
        })
        .collect()
}
