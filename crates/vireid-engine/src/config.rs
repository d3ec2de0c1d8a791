//! Training configuration: presets that reproduce the reference's defaults per dataset, a
//! TOML file that overrides any key (unknown keys are errors), saved resolved with each run.

use crate::error::{EngineError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use vireid_augment::Preset;
use vireid_data::{Dataset, Direction};
use vireid_hub::Pretrained;
use vireid_nn::{Depth, NetConfig};

/// Largest image side a config may ask for: far above any re-ID size, far below what would
/// exhaust memory in one batch.
const MAX_SIDE: usize = 4096;
/// Batches prepared ahead at most (each is a whole batch of images in memory).
const MAX_PREFETCH: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// sysu, regdb or llcm.
    pub dataset: Dataset,
    /// RegDB's trial (1..10): which training lists; 0 elsewhere.
    pub trial: u32,
    /// resnet50 (the paper), resnet34 or resnet18.
    pub backbone: Depth,
    pub height: usize,
    pub width: usize,
    /// B: identities per batch.
    pub ids_per_batch: usize,
    /// K: images per identity and modality.
    pub images_per_id: usize,
    /// The heads' base learning rate.
    pub lr: f64,
    /// The backbone's learning rate as a fraction of `lr` (the reference: 0.1, for an
    /// ImageNet-initialised backbone; 1.0 suits a backbone trained from scratch).
    #[serde(default = "reference_backbone_lr_ratio")]
    pub backbone_lr_ratio: f64,
    /// Epochs of linear warm-up (the reference: 10).
    #[serde(default = "reference_warmup")]
    pub warmup_epochs: usize,
    /// Epochs at which the lr drops to a tenth (the reference: 20, 80, 120).
    #[serde(default = "reference_lr_steps")]
    pub lr_steps: Vec<usize>,
    pub momentum: f64,
    pub weight_decay: f64,
    pub epochs: usize,
    /// Evaluate every this many epochs from `eval_from` (0: never).
    pub eval_every: usize,
    pub eval_from: usize,
    /// Gallery trials of the periodic evaluation (the reference's train.py uses trial 0 only).
    pub eval_trials: u32,
    /// Search direction of the periodic evaluation (v2t, t2v, v2i, i2v); default per dataset.
    /// Written as v2i or i2v; any of the four names reads.
    #[serde(default, with = "direction_name")]
    pub eval_direction: Option<Direction>,
    /// Flip test-time augmentation in the periodic evaluation (the reference's train.py
    /// leaves it out and its test.py puts it in; we use the same in both by default).
    pub eval_flip: bool,
    /// Moderate and radical RLE in the training augmentation (false: the baseline).
    pub rle: bool,
    /// Zero padding (pixels) before the random crop; default the dataset preset's 10, which
    /// the reference uses at every image size (scale it down with the size: 10 pixels of a
    /// 24-pixel-wide image shift the person by a third of the frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<usize>,
    /// What a fresh run's stems and shared layers start from: `"imagenet"` (torchvision's
    /// weights for the backbone, found or fetched: the paper's start), `"none"` (random), or
    /// the path of a torchvision-layout file. Only a fresh run reads it. Configs written
    /// before the key had a default leave it out, and meant random weights.
    #[serde(default = "random_start")]
    pub pretrained: Pretrained,
    /// One seed for sampling, augmentation and initialisation.
    pub seed: u64,
    /// Batches prepared ahead on background threads.
    pub prefetch: usize,
    /// Mixed precision (float16 autocast with a dynamic loss scale) when training on CUDA;
    /// the CPU always trains in float32.
    #[serde(default = "yes")]
    pub amp: bool,
    /// Under mixed precision, stop the run (saved) after this many overflowing steps in a row
    /// at the smallest loss scale: it no longer learns there. 0: never stop.
    #[serde(default = "floor_overflow_limit")]
    pub amp_max_floor_overflows: usize,
    /// The same bytes on any x86-64 machine with AVX2 for the same seed (see
    /// `vireid_nn::pin_deterministic`): kernels pinned to AVX2, a fixed thread count.
    #[serde(default)]
    pub deterministic: bool,
    /// The learning rate across W processes (whose step is W times the batch): `none` keeps
    /// `lr` (the reference's one-GPU value), `linear` multiplies it by W (Goyal et al.'s
    /// linear scaling rule). One process trains alike with either.
    #[serde(default, skip_serializing_if = "LrScaling::is_none")]
    pub lr_scaling: LrScaling,
}

/// How the learning rate follows the number of processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrScaling {
    #[default]
    None,
    Linear,
}

impl LrScaling {
    fn is_none(&self) -> bool {
        *self == LrScaling::None
    }

    /// The factor on the lr for `world_size` processes.
    pub fn factor(self, world_size: usize) -> f64 {
        match self {
            LrScaling::None => 1.0,
            LrScaling::Linear => world_size as f64,
        }
    }
}

fn random_start() -> Pretrained {
    Pretrained::None
}

fn floor_overflow_limit() -> usize {
    50
}

/// A direction as the short name configs have always held.
mod direction_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use vireid_data::Direction;

    pub fn serialize<S: Serializer>(d: &Option<Direction>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(d.short_name()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Direction>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| name.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn reference_backbone_lr_ratio() -> f64 {
    0.1
}

fn yes() -> bool {
    true
}

fn reference_warmup() -> usize {
    10
}

fn reference_lr_steps() -> Vec<usize> {
    vec![20, 80, 120]
}

impl TrainConfig {
    /// The heads' lr at `epoch`.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        crate::schedule::warmup_step(self.lr, epoch, self.warmup_epochs, &self.lr_steps)
    }

    /// The reference's defaults for a dataset: ResNet-50, 384 x 192, B = 6, K = 4, lr 0.1,
    /// 151 epochs, evaluation every 2 epochs from epoch 2.
    pub fn preset(dataset: Dataset) -> TrainConfig {
        let spec = dataset.spec();
        TrainConfig {
            dataset,
            trial: dataset.default_training_trial(),
            backbone: Depth::R50,
            height: 384,
            width: 192,
            ids_per_batch: 6,
            images_per_id: 4,
            lr: 0.1,
            backbone_lr_ratio: reference_backbone_lr_ratio(),
            warmup_epochs: reference_warmup(),
            lr_steps: reference_lr_steps(),
            momentum: 0.9,
            weight_decay: 5e-4,
            epochs: 151,
            eval_every: 2,
            eval_from: 2,
            eval_trials: 1,
            // Written only where the training script differs from the test script (LLCM).
            eval_direction: (spec.training_direction != spec.test_direction)
                .then_some(spec.training_direction),
            eval_flip: true,
            rle: true,
            pad: None,
            pretrained: Pretrained::ImageNet,
            seed: 0,
            prefetch: 2,
            amp: true,
            amp_max_floor_overflows: floor_overflow_limit(),
            deterministic: false,
            lr_scaling: LrScaling::None,
        }
    }

    /// The evaluation schedule: whether the periodic evaluation runs after `epoch`: every
    /// `eval_every` epochs from `eval_from` and after the last epoch; never when `eval_every`
    /// is 0.
    pub fn evaluates_after(&self, epoch: usize) -> bool {
        if self.eval_every == 0 {
            return false;
        }
        let due = epoch >= self.eval_from && (epoch - self.eval_from) % self.eval_every == 0;
        due || epoch + 1 == self.epochs
    }

    /// The search direction of the periodic evaluation.
    pub fn eval_direction(&self) -> Direction {
        self.eval_direction
            .unwrap_or(self.dataset.spec().test_direction)
    }

    /// The network this config trains, for `classes` training identities.
    pub fn net_config(&self, classes: i64) -> NetConfig {
        NetConfig {
            depth: self.backbone,
            layer4: self.dataset.spec().layer4,
            classes,
        }
    }

    /// The training augmentation: the dataset's reference transform at this config's size
    /// and padding, with or without RLE.
    pub fn augmentation(&self) -> Preset {
        let p = Preset::of(self.dataset).with_size(self.height, self.width);
        let p = Preset {
            pad: self.pad.unwrap_or(p.pad),
            ..p
        };
        if self.rle {
            p
        } else {
            Preset {
                mrle: None,
                rrle: None,
                ..p
            }
        }
    }

    /// The preset of `dataset` with the keys of a TOML file laid over it.
    pub fn from_toml(dataset: Dataset, path: &Path) -> Result<TrainConfig> {
        Self::read_overlay(path, |text| Self::overlay(dataset, text))
    }
    /// This config with the TOML file at `path` laid over it (errors name the file).
    pub fn with_toml_file(&self, path: &Path) -> Result<TrainConfig> {
        Self::read_overlay(path, |text| self.with_overlay(text))
    }
    fn read_overlay(
        path: &Path,
        apply: impl FnOnce(&str) -> std::result::Result<TrainConfig, String>,
    ) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| EngineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        apply(&text).map_err(|why| EngineError::ConfigFile {
            path: path.to_path_buf(),
            why,
        })
    }

    /// The preset with the keys of TOML `text` laid over it; unknown keys are refused.
    pub fn overlay(dataset: Dataset, text: &str) -> std::result::Result<TrainConfig, String> {
        let over: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let dataset = match over.get("dataset") {
            Some(v) => v
                .clone()
                .try_into::<Dataset>()
                .map_err(|e| format!("config key dataset: {}", e.message().trim()))?,
            None => dataset,
        };
        Self::preset(dataset).with_overlay(text)
    }

    /// This config with the keys of TOML `text` laid over it; unknown keys are refused.
    pub fn with_overlay(&self, text: &str) -> std::result::Result<TrainConfig, String> {
        let over: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let base: toml::Table = toml::Table::try_from(self).map_err(|e| e.to_string())?;
        let with = |keys: &mut dyn Iterator<Item = (&String, &toml::Value)>| {
            let mut table = base.clone();
            for (k, v) in keys {
                table.insert(k.clone(), v.clone());
            }
            toml::Value::Table(table).try_into::<TrainConfig>()
        };
        with(&mut over.iter()).map_err(|all| {
            // Name the key at fault: the first that fails when laid over the base alone.
            over.iter()
                .find_map(|(k, v)| {
                    let e = with(&mut std::iter::once((k, v))).err()?;
                    Some(format!("config key {k}: {}", e.message().trim()))
                })
                .unwrap_or_else(|| all.to_string())
        })
    }

    /// Every key checked against what training can use, before any file is read or written:
    /// the first problem found, naming the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &'static str, why: String| Err(EngineError::Config { key, why });
        if let Some(trials) = &self.dataset.spec().training_trials {
            if !trials.contains(&self.trial) {
                return bad(
                    "trial",
                    format!(
                        "{}'s trials are {} to {}, got {}",
                        self.dataset.spec().title,
                        trials.start(),
                        trials.end(),
                        self.trial
                    ),
                );
            }
        }
        for (key, v) in [("height", self.height), ("width", self.width)] {
            if !(1..=MAX_SIDE).contains(&v) {
                return bad(key, format!("expected 1 to {MAX_SIDE} pixels, got {v}"));
            }
        }
        NetConfig::check_height(self.height).or_else(|why| bad("height", why))?;
        if self.ids_per_batch < 2 {
            return bad(
                "ids_per_batch",
                format!(
                    "at least 2 (the triplet loss needs another identity), got {}",
                    self.ids_per_batch
                ),
            );
        }
        if self.images_per_id < 1 {
            return bad("images_per_id", "at least 1, got 0".into());
        }
        let positive = |key: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                bad(key, format!("expected a finite number above 0, got {v}"))
            }
        };
        positive("lr", self.lr)?;
        positive("backbone_lr_ratio", self.backbone_lr_ratio)?;
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return bad(
                "momentum",
                format!("expected a number in [0, 1), got {}", self.momentum),
            );
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!(
                    "expected a finite number of at least 0, got {}",
                    self.weight_decay
                ),
            );
        }
        if self.epochs < 1 {
            return bad("epochs", "at least 1, got 0".into());
        }
        if let Some(pad) = self.pad {
            if pad > self.height.min(self.width) {
                return bad(
                    "pad",
                    format!(
                        "at most the image's shorter side ({}), got {pad}",
                        self.height.min(self.width)
                    ),
                );
            }
        }
        if self.prefetch > MAX_PREFETCH {
            return bad(
                "prefetch",
                format!("at most {MAX_PREFETCH} batches, got {}", self.prefetch),
            );
        }
        Ok(())
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a config serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_overrides_and_refuses_unknown_keys() {
        let c = TrainConfig::overlay(Dataset::Sysu, "epochs = 3\nbackbone = \"resnet18\"").unwrap();
        assert_eq!(c.epochs, 3);
        assert_eq!(c.backbone, Depth::R18);
        assert_eq!(c.ids_per_batch, 6);
        let err = TrainConfig::overlay(Dataset::Sysu, "epoch = 3").unwrap_err();
        assert!(err.starts_with("config key epoch:"), "{err}");
        let round = TrainConfig::overlay(Dataset::Sysu, &c.to_toml()).unwrap();
        assert_eq!(round, c);
        assert_eq!(TrainConfig::preset(Dataset::Regdb).trial, 1);
        // The preset's schedule is the reference's.
        let p = TrainConfig::preset(Dataset::Sysu);
        for e in 0..151 {
            assert_eq!(p.lr_at(e), crate::schedule::learning_rate(0.1, e));
        }
    }

    #[test]
    fn every_bad_value_is_refused_naming_its_key() {
        let ok = TrainConfig::preset(Dataset::Sysu);
        ok.validate().unwrap();
        TrainConfig::preset(Dataset::Regdb).validate().unwrap();
        // Values that name nothing are refused when the file is read, naming the key.
        for (toml, key) in [
            ("backbone = \"resnet7\"", "backbone"),
            ("eval_direction = \"sideways\"", "eval_direction"),
            ("dataset = \"market\"", "dataset"),
        ] {
            let err = ok.with_overlay(toml).unwrap_err();
            assert!(
                err.starts_with(&format!("config key {key}:")),
                "{toml}: {err}"
            );
        }
        let cases: [(&str, &str); 15] = [
            ("height = 0", "height"),
            ("width = 0", "width"),
            ("height = 60", "height"),
            ("width = 100000", "width"),
            ("ids_per_batch = 1", "ids_per_batch"),
            ("images_per_id = 0", "images_per_id"),
            ("lr = nan", "lr"),
            ("lr = -0.1", "lr"),
            ("lr = inf", "lr"),
            ("weight_decay = nan", "weight_decay"),
            ("momentum = -0.5", "momentum"),
            ("momentum = 1.0", "momentum"),
            ("epochs = 0", "epochs"),
            ("pad = 1000", "pad"),
            ("backbone_lr_ratio = nan", "backbone_lr_ratio"),
        ];
        for (toml, key) in cases {
            let c = ok.with_overlay(toml).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("config key {key}:")), "{toml}: {err}");
        }
        let c = TrainConfig::preset(Dataset::Regdb)
            .with_overlay("trial = 11")
            .unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("trial"));
    }

    #[test]
    fn a_toml_file_lies_over_any_base_and_its_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = TrainConfig::overlay(Dataset::Sysu, "epochs = 7\nlr = 0.01").unwrap();
        let file = dir.path().join("over.toml");
        std::fs::write(&file, "epochs = 3").unwrap();
        let c = base.with_toml_file(&file).unwrap();
        assert_eq!((c.epochs, c.lr), (3, 0.01));
        std::fs::write(&file, "epoch = 3").unwrap();
        let err = base.with_toml_file(&file).unwrap_err().to_string();
        assert!(err.contains("over.toml") && err.contains("epoch"), "{err}");
        let missing = dir.path().join("missing.toml");
        let err = base.with_toml_file(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }

    #[test]
    fn typed_fields_are_written_as_the_strings_configs_have_always_held() {
        let text = TrainConfig::preset(Dataset::Llcm).to_toml();
        for line in [
            "dataset = \"llcm\"",
            "backbone = \"resnet50\"",
            "eval_direction = \"i2v\"",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // Every name a user may have written reads, and means the same search.
        for (name, d) in [
            ("t2v", Direction::InfraredToVisible),
            ("i2v", Direction::InfraredToVisible),
            ("v2t", Direction::VisibleToInfrared),
        ] {
            let c = TrainConfig::overlay(
                Dataset::Regdb,
                &format!("eval_direction = \"{name}\"\nbackbone = \"resnet18\""),
            )
            .unwrap();
            assert_eq!((c.eval_direction, c.backbone), (Some(d), Depth::R18));
        }
        assert_eq!(TrainConfig::preset(Dataset::Sysu).eval_direction, None);
        assert_eq!(
            TrainConfig::preset(Dataset::Sysu).eval_direction(),
            Direction::InfraredToVisible
        );
    }

    #[test]
    fn the_evaluation_schedule_is_the_reference_s_plus_the_last_epoch() {
        let c = TrainConfig::preset(Dataset::Sysu);
        let due: Vec<usize> = (0..c.epochs).filter(|&e| c.evaluates_after(e)).collect();
        // Every second epoch from epoch 2 up to the last (150 of 0..=150).
        assert_eq!(due[..3], [2, 4, 6]);
        assert_eq!(*due.last().unwrap(), 150);
        assert_eq!(due.len(), 75);
        let never = TrainConfig {
            eval_every: 0,
            ..c.clone()
        };
        assert!((0..c.epochs).all(|e| !never.evaluates_after(e)));
        let short = TrainConfig {
            epochs: 5,
            eval_every: 3,
            eval_from: 0,
            ..c
        };
        let due: Vec<usize> = (0..5).filter(|&e| short.evaluates_after(e)).collect();
        assert_eq!(due, [0, 3, 4]);
    }
}
