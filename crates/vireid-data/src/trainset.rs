//! The training images of a dataset: paths and class labels per modality.

use crate::error::Result;
use crate::listing::read_index_list;
use std::path::{Path, PathBuf};

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
}

impl TrainSet {
    /// A training set listed in two `path label` index files (RegDB, LLCM), labels as given.
    pub fn from_lists(root: &Path, visible: &Path, thermal: &Path) -> Result<TrainSet> {
        let read = |list: &Path| -> Result<Vec<TrainItem>> {
            Ok(read_index_list(root, list)?
                .into_iter()
                .map(|l| TrainItem {
                    path: l.path,
                    label: l.label,
                })
                .collect())
        };
        Ok(TrainSet {
            visible: read(visible)?,
            thermal: read(thermal)?,
        })
    }
}
