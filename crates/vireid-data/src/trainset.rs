//! The training images of a dataset: paths and class labels per modality.

use std::path::PathBuf;

/// One training image: its path relative to the dataset root and its class label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainItem {
    pub path: PathBuf,
    pub label: i64,
}

/// The visible and thermal (infrared) training images of a dataset or RegDB trial.
#[derive(Debug, Clone, Default)]
pub struct TrainSet {
    pub visible: Vec<TrainItem>,
    pub thermal: Vec<TrainItem>,
}

impl TrainSet {
    /// The number of classes: one more than the largest label.
    pub fn num_classes(&self) -> usize {
        self.visible
            .iter()
            .chain(&self.thermal)
            .map(|i| i.label + 1)
            .max()
            .unwrap_or(0)
            .max(0) as usize
    }

    /// Distinct labels per modality, for the summary tables.
    pub fn distinct_labels(items: &[TrainItem]) -> usize {
        let mut labels: Vec<i64> = items.iter().map(|i| i.label).collect();
        labels.sort_unstable();
        labels.dedup();
        labels.len()
    }
}
