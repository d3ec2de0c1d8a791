//! LLCM: `idx/train_vis.txt`, `idx/train_nir.txt`, `idx/test_id.txt`, and the test folders
//! `test_vis/cam1..cam9/NNNN/` and `test_nir/cam{1,2,4..9}/NNNN/`.

use crate::dataset::Direction;
use crate::error::Result;
use crate::listing::{read_id_list, require_root};
use crate::protocol::{collect_groups, shared_query_split, Camera, Protocol, Split};
use crate::trainset::TrainSet;
use std::path::Path;

/// The visible test cameras, in order.
pub const VISIBLE_CAMERAS: [Camera; 9] = [
    Camera {
        dir: "test_vis/cam1",
        cam: 1,
    },
    Camera {
        dir: "test_vis/cam2",
        cam: 2,
    },
    Camera {
        dir: "test_vis/cam3",
        cam: 3,
    },
    Camera {
        dir: "test_vis/cam4",
        cam: 4,
    },
    Camera {
        dir: "test_vis/cam5",
        cam: 5,
    },
    Camera {
        dir: "test_vis/cam6",
        cam: 6,
    },
    Camera {
        dir: "test_vis/cam7",
        cam: 7,
    },
    Camera {
        dir: "test_vis/cam8",
        cam: 8,
    },
    Camera {
        dir: "test_vis/cam9",
        cam: 9,
    },
];

/// The near-infrared test cameras, in order (there is no nir cam3).
pub const INFRARED_CAMERAS: [Camera; 8] = [
    Camera {
        dir: "test_nir/cam1",
        cam: 1,
    },
    Camera {
        dir: "test_nir/cam2",
        cam: 2,
    },
    Camera {
        dir: "test_nir/cam4",
        cam: 4,
    },
    Camera {
        dir: "test_nir/cam5",
        cam: 5,
    },
    Camera {
        dir: "test_nir/cam6",
        cam: 6,
    },
    Camera {
        dir: "test_nir/cam7",
        cam: 7,
    },
    Camera {
        dir: "test_nir/cam8",
        cam: 8,
    },
    Camera {
        dir: "test_nir/cam9",
        cam: 9,
    },
];

/// Camera and person come from the folder names relative to the root; the reference splits
/// the whole path on "cam", which breaks on roots such as `/data/camera/LLCM`.
pub(crate) fn splits(root: &Path, protocol: &Protocol, trials: &[u32]) -> Result<Split> {
    require_root(root)?;
    let ids = read_id_list(&root.join("idx/test_id.txt"))?;
    let (query_cams, gallery_cams): (&[Camera], &[Camera]) = match protocol.direction {
        Direction::VisibleToInfrared => (&VISIBLE_CAMERAS, &INFRARED_CAMERAS),
        Direction::InfraredToVisible => (&INFRARED_CAMERAS, &VISIBLE_CAMERAS),
    };
    let query = collect_groups(root, &ids, query_cams)?;
    let gallery = collect_groups(root, &ids, gallery_cams)?;
    Ok(shared_query_split(&query, &gallery, protocol.shot, trials))
}

/// The training set as listed in `idx/train_vis.txt` and `idx/train_nir.txt`, labels as given.
pub fn train_set(root: &Path) -> Result<TrainSet> {
    require_root(root)?;
    let idx = root.join("idx");
    TrainSet::from_lists(root, &idx.join("train_vis.txt"), &idx.join("train_nir.txt"))
}
