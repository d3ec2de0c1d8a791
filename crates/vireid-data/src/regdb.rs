//! RegDB: `Visible/`, `Thermal/` and `idx/{train,test}_{visible,thermal}_{1..10}.txt`.
//!
//! Its query changes with the trial (each trial is its own 206/206 split of the ids), so a
//! RegDB split carries a query per trial. Visible images are camera 1, thermal camera 2.

use crate::dataset::{Direction, Shot};
use crate::error::{DataError, Result};
use crate::listing::{read_index_list, require_dir, require_root};
use crate::protocol::{Entry, Protocol, Split, TrialSplit};
use crate::trainset::TrainSet;
use std::path::Path;

pub const VISIBLE_CAM: u32 = 1;
pub const THERMAL_CAM: u32 = 2;

fn test_list(root: &Path, modality: &str, trial: u32, cam: u32) -> Result<Vec<Entry>> {
    let list = root.join(format!("idx/test_{modality}_{trial}.txt"));
    read_index_list(root, &list)?
        .into_iter()
        .map(|l| {
            let id = u32::try_from(l.label).map_err(|_| {
                DataError::parse(
                    &list,
                    l.line,
                    format!("expected a non-negative person label, found {}", l.label),
                )
            })?;
            Ok(Entry {
                path: l.path.to_string_lossy().replace('\\', "/"),
                id,
                cam,
            })
        })
        .collect()
}

fn check_layout(root: &Path) -> Result<()> {
    require_root(root)?;
    require_dir(&root.join("idx"), "RegDB list folder")
}

pub(crate) fn splits(root: &Path, protocol: &Protocol, trials: &[u32]) -> Result<Split> {
    check_layout(root)?;
    if protocol.shot == Shot::Multi {
        return Err(DataError::Protocol(
            "RegDB has no multi-shot setting: every test image is in the gallery".into(),
        ));
    }
    let mut out = Vec::new();
    for &trial in trials {
        if !(1..=10).contains(&trial) {
            return Err(DataError::Protocol(format!(
                "RegDB trials are numbered 1..10, got {trial}"
            )));
        }
        let visible = test_list(root, "visible", trial, VISIBLE_CAM)?;
        let thermal = test_list(root, "thermal", trial, THERMAL_CAM)?;
        let (query, gallery) = match protocol.direction {
            Direction::VisibleToInfrared => (visible, thermal),
            Direction::InfraredToVisible => (thermal, visible),
        };
        out.push(TrialSplit {
            trial,
            query: Some(query),
            gallery,
        });
    }
    Ok(Split {
        query: None,
        trials: out,
        warnings: Vec::new(),
    })
}

/// The training images of one trial, labels as listed.
pub fn train_set(root: &Path, trial: u32) -> Result<TrainSet> {
    check_layout(root)?;
    let list = |modality: &str| root.join(format!("idx/train_{modality}_{trial}.txt"));
    TrainSet::from_lists(root, &list("visible"), &list("thermal"))
}
