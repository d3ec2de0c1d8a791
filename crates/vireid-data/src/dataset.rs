//! The three benchmarks, each described once: every fact about a dataset that some part of
//! vireid needs (its names, test trials, search directions, the evaluation's camera rule, the
//! fused score's weight, the network's depth) is a field of its [`DatasetSpec`], so that code
//! asks the description instead of comparing names. A new dataset is a new row here plus its
//! layout module. Where the values come from: docs/reference-behaviour.md.

use crate::error::{DataError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The three supported benchmarks. Serialised (TOML, JSON) as their short names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    Sysu,
    Regdb,
    Llcm,
}

/// Which modality queries and which is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Visible queries, infrared (thermal) gallery: RegDB `v2t`, LLCM `v2i`.
    VisibleToInfrared,
    /// Infrared (thermal) queries, visible gallery: RegDB `t2v`, LLCM `i2v`, SYSU-MM01.
    InfraredToVisible,
}

/// SYSU-MM01's search mode: which visible cameras make up the gallery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    All,
    Indoor,
}

/// One gallery image per person and camera, or ten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shot {
    #[default]
    Single,
    Multi,
}

/// Which gallery items the evaluation hides from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraRule {
    /// None: every gallery item counts (RegDB, whose pairs come from one camera each).
    Nothing,
    /// A query from camera 3 does not see gallery camera 2 (SYSU-MM01: the same indoor room).
    SameRoom,
    /// A query does not see gallery items of its own identity and camera (LLCM).
    OwnIdentityAndCamera,
}

/// Everything vireid knows about one benchmark.
#[derive(Debug, Clone)]
pub struct DatasetSpec {
    pub dataset: Dataset,
    /// As typed on the command line and written in configs.
    pub name: &'static str,
    /// As papers print it.
    pub title: &'static str,
    /// What its root folder holds, for `--help` and error messages.
    pub layout: &'static str,
    /// The test script's default search.
    pub test_direction: Direction,
    /// The search of the training script's periodic evaluation.
    pub training_direction: Direction,
    /// The gallery trials the field averages over.
    pub test_trials: RangeInclusive<u32>,
    /// Training lists that differ per trial (RegDB: one model per trial), or one training set.
    pub training_trials: Option<RangeInclusive<u32>>,
    /// Which gallery items a query may not be matched with.
    pub camera_rule: CameraRule,
    /// CMC over the ranked list with repeated gallery identities collapsed to their first
    /// occurrence (the SYSU-MM01 authors' code), rather than over the raw list.
    pub distinct_id_cmc: bool,
    /// Weight a of the fused score (1 - a) pool + a bn, visible-to-infrared and back.
    pub fused_alpha: FusedAlpha,
    /// Whether the reference's network keeps ResNet's layer4 (its RegDB network stops after
    /// layer3, giving features half as wide).
    pub layer4: bool,
}

/// The fused score's weight per search direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusedAlpha {
    pub visible_to_infrared: f32,
    pub infrared_to_visible: f32,
}

const SYSU: DatasetSpec = DatasetSpec {
    dataset: Dataset::Sysu,
    name: "sysu",
    title: "SYSU-MM01",
    layout: "cam1..cam6, exp/*_id.txt",
    test_direction: Direction::InfraredToVisible,
    training_direction: Direction::InfraredToVisible,
    test_trials: 0..=9,
    training_trials: None,
    camera_rule: CameraRule::SameRoom,
    distinct_id_cmc: true,
    fused_alpha: FusedAlpha {
        visible_to_infrared: 0.2,
        infrared_to_visible: 0.2,
    },
    layer4: true,
};

const REGDB: DatasetSpec = DatasetSpec {
    dataset: Dataset::Regdb,
    name: "regdb",
    title: "RegDB",
    layout: "Visible/, Thermal/, idx/",
    test_direction: Direction::VisibleToInfrared,
    training_direction: Direction::VisibleToInfrared,
    test_trials: 1..=10,
    training_trials: Some(1..=10),
    camera_rule: CameraRule::Nothing,
    distinct_id_cmc: false,
    fused_alpha: FusedAlpha {
        visible_to_infrared: 0.1,
        infrared_to_visible: 0.0,
    },
    layer4: false,
};

const LLCM: DatasetSpec = DatasetSpec {
    dataset: Dataset::Llcm,
    name: "llcm",
    title: "LLCM",
    layout: "idx/, test_vis/, test_nir/",
    test_direction: Direction::VisibleToInfrared,
    // LLCM's train.py evaluates infrared-to-visible during training.
    training_direction: Direction::InfraredToVisible,
    test_trials: 0..=9,
    training_trials: None,
    camera_rule: CameraRule::OwnIdentityAndCamera,
    distinct_id_cmc: true,
    fused_alpha: FusedAlpha {
        visible_to_infrared: 0.1,
        infrared_to_visible: 0.1,
    },
    layer4: true,
};

impl Dataset {
    pub const ALL: [Dataset; 3] = [Dataset::Sysu, Dataset::Regdb, Dataset::Llcm];

    /// This dataset's description.
    pub const fn spec(self) -> &'static DatasetSpec {
        match self {
            Dataset::Sysu => &SYSU,
            Dataset::Regdb => &REGDB,
            Dataset::Llcm => &LLCM,
        }
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether the evaluation needs the images' cameras.
    pub fn needs_cameras(self) -> bool {
        self.spec().camera_rule != CameraRule::Nothing
    }

    pub fn distinct_id_cmc(self) -> bool {
        self.spec().distinct_id_cmc
    }

    /// Whether gallery item (id, cam) is hidden from a query (id, cam).
    #[inline]
    pub fn ignores(self, q_id: i64, q_cam: i64, g_id: i64, g_cam: i64) -> bool {
        match self.spec().camera_rule {
            CameraRule::Nothing => false,
            CameraRule::SameRoom => q_cam == 3 && g_cam == 2,
            CameraRule::OwnIdentityAndCamera => q_id == g_id && q_cam == g_cam,
        }
    }

    /// The fused score's weight for a search direction.
    pub fn fused_alpha(self, direction: Direction) -> f32 {
        let a = self.spec().fused_alpha;
        match direction {
            Direction::VisibleToInfrared => a.visible_to_infrared,
            Direction::InfraredToVisible => a.infrared_to_visible,
        }
    }

    /// The test trials as a list.
    pub fn test_trials(self) -> Vec<u32> {
        self.spec().test_trials.clone().collect()
    }

    /// The training trial a run uses when none is named: the first, or 0 (no trials).
    pub fn default_training_trial(self) -> u32 {
        self.spec()
            .training_trials
            .as_ref()
            .map_or(0, |t| *t.start())
    }
}

impl FromStr for Dataset {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.to_ascii_lowercase();
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == s || d.spec().title.eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                DataError::Protocol(format!(
                    "unknown dataset {s:?}: expected sysu, regdb or llcm"
                ))
            })
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Direction {
    /// The short name that training configs store (`v2i`, `i2v`).
    pub fn short_name(self) -> &'static str {
        match self {
            Direction::VisibleToInfrared => "v2i",
            Direction::InfraredToVisible => "i2v",
        }
    }

    /// Query and gallery modality in words.
    pub fn words(self) -> &'static str {
        match self {
            Direction::VisibleToInfrared => "visible-to-infrared",
            Direction::InfraredToVisible => "infrared-to-visible",
        }
    }
}

impl FromStr for Direction {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "v2t" | "v2i" | "vis2ir" | "visible-to-infrared" => Ok(Direction::VisibleToInfrared),
            "t2v" | "i2v" | "ir2vis" | "infrared-to-visible" => Ok(Direction::InfraredToVisible),
            _ => Err(DataError::Protocol(format!(
                "unknown direction {s:?}: expected v2t, t2v, v2i or i2v"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_each_spec_is_its_own() {
        for d in Dataset::ALL {
            assert_eq!(d.spec().dataset, d);
            assert_eq!(d.name().parse::<Dataset>().unwrap(), d);
            assert_eq!(d.to_string(), d.name());
        }
        assert_eq!("SYSU-MM01".parse::<Dataset>().unwrap(), Dataset::Sysu);
        assert!("market".parse::<Dataset>().is_err());
        for dir in [Direction::VisibleToInfrared, Direction::InfraredToVisible] {
            assert_eq!(dir.short_name().parse::<Direction>().unwrap(), dir);
            assert_eq!(dir.words().parse::<Direction>().unwrap(), dir);
        }
    }

    #[test]
    fn the_reference_values() {
        // The fused weights of the reference's test scripts.
        assert_eq!(Dataset::Sysu.fused_alpha(Direction::InfraredToVisible), 0.2);
        assert_eq!(Dataset::Llcm.fused_alpha(Direction::VisibleToInfrared), 0.1);
        assert_eq!(
            Dataset::Regdb.fused_alpha(Direction::VisibleToInfrared),
            0.1
        );
        assert_eq!(
            Dataset::Regdb.fused_alpha(Direction::InfraredToVisible),
            0.0
        );
        assert_eq!(Dataset::Regdb.test_trials(), (1..=10).collect::<Vec<_>>());
        assert_eq!(Dataset::Sysu.test_trials(), (0..10).collect::<Vec<_>>());
        assert_eq!(Dataset::Regdb.default_training_trial(), 1);
        assert!(!Dataset::Regdb.spec().layer4 && Dataset::Llcm.spec().layer4);
        assert!(Dataset::Sysu.ignores(1, 3, 2, 2) && !Dataset::Sysu.ignores(1, 4, 2, 2));
        assert!(Dataset::Llcm.ignores(1, 4, 1, 4) && !Dataset::Llcm.ignores(1, 4, 2, 4));
        assert!(!Dataset::Regdb.needs_cameras() && Dataset::Sysu.needs_cameras());
    }
}
