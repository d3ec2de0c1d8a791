//! SYSU-MM01: `cam1..cam6/NNNN/*.jpg` and `exp/{train,val,test}_id.txt`.

use crate::dataset::{Direction, Mode};
use crate::error::{DataError, Result};
use crate::listing::read_id_list;
use crate::listing::require_root;
use crate::protocol::{collect_groups, shared_query_split, Camera, Protocol, Split};
use crate::trainset::{TrainItem, TrainSet};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The visible cameras of a search mode, in the order the protocol visits them.
pub fn visible_cameras(mode: Mode) -> &'static [Camera] {
    const ALL: [Camera; 4] = [
        Camera {
            dir: "cam1",
            cam: 1,
        },
        Camera {
            dir: "cam2",
            cam: 2,
        },
        Camera {
            dir: "cam4",
            cam: 4,
        },
        Camera {
            dir: "cam5",
            cam: 5,
        },
    ];
    match mode {
        Mode::All => &ALL,
        Mode::Indoor => &ALL[..2],
    }
}

/// The infrared cameras, in order.
pub const INFRARED_CAMERAS: [Camera; 2] = [
    Camera {
        dir: "cam3",
        cam: 3,
    },
    Camera {
        dir: "cam6",
        cam: 6,
    },
];

pub(crate) fn splits(root: &Path, protocol: &Protocol, trials: &[u32]) -> Result<Split> {
    require_root(root)?;
    if protocol.direction != Direction::InfraredToVisible {
        return Err(DataError::Protocol(
            "SYSU-MM01's protocol searches infrared queries in a visible gallery only (direction i2v)"
                .into(),
        ));
    }
    let ids = read_id_list(&root.join("exp/test_id.txt"))?;
    let query = collect_groups(root, &ids, &INFRARED_CAMERAS)?;
    let gallery = collect_groups(root, &ids, visible_cameras(protocol.mode))?;
    Ok(shared_query_split(&query, &gallery, protocol.shot, trials))
}

/// The training set: every image of the train + val ids, visible cameras then infrared ones,
/// labelled by the rank of the person id among the ids that have infrared images (as the
/// reference's preparation script does).
pub fn train_set(root: &Path) -> Result<TrainSet> {
    require_root(root)?;
    let mut ids = read_id_list(&root.join("exp/train_id.txt"))?;
    ids.extend(read_id_list(&root.join("exp/val_id.txt"))?);
    let all_visible = visible_cameras(Mode::All);
    let visible = collect_groups(root, &ids, all_visible)?;
    let thermal = collect_groups(root, &ids, &INFRARED_CAMERAS)?;

    let mut labels = BTreeMap::new();
    for g in thermal.iter().filter(|g| !g.files.is_empty()) {
        labels.insert(g.id, 0i64);
    }
    for (rank, label) in labels.values_mut().enumerate() {
        *label = rank as i64;
    }
    let items = |groups: &[crate::protocol::Group]| -> Result<Vec<TrainItem>> {
        let mut out = Vec::new();
        for g in groups {
            let label = *labels.get(&g.id).ok_or_else(|| {
                DataError::Protocol(format!(
                    "{}: training person {:04} has visible images but no infrared images; \
                     every training identity needs both modalities",
                    root.display(),
                    g.id
                ))
            })?;
            out.extend(g.files.iter().map(|f| TrainItem {
                path: PathBuf::from(f),
                label,
            }));
        }
        Ok(out)
    };
    Ok(TrainSet {
        visible: items(&visible)?,
        thermal: items(&thermal)?,
    })
}
