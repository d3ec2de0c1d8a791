//! What the engine's tests share: the Python that runs the oracles (vireid-nn's helper) and
//! small synthetic training caches.
#![allow(dead_code)]

#[path = "../../../vireid-nn/tests/common/mod.rs"]
mod oracle;
#[allow(unused_imports)]
pub use oracle::python;

use std::path::Path;
use vireid_data::cache::{prepare, CachePaths, ImageCache};
use vireid_data::synth::{generate, SynthConfig};
use vireid_data::{train_set, Dataset, Size};
use vireid_engine::trainer::TrainData;

/// A synthetic SYSU-MM01 tree of 9 people (6 to train) under `root`, generated with `seed`
/// (`images` per person and camera: the generator's default when None), and its training
/// cache at 96 x 48.
pub fn train_data(root: &Path, seed: u64, images: Option<(usize, usize)>) -> TrainData {
    let mut cfg = SynthConfig::new(Dataset::Sysu);
    cfg.ids = 9;
    cfg.seed = seed;
    if let Some(range) = images {
        cfg.images_per_camera = range;
    }
    generate(root, &cfg, &|_, _| {}).unwrap();
    let set = train_set(Dataset::Sysu, root, 0).unwrap();
    let size = Size::new(96, 48);
    let paths = CachePaths::new(root, Dataset::Sysu, 0, size);
    prepare(root, &set, Dataset::Sysu, &paths, size, &|_| {}).unwrap();
    TrainData {
        visible: ImageCache::open(&paths.visible_images, &paths.visible_labels).unwrap(),
        thermal: ImageCache::open(&paths.thermal_images, &paths.thermal_labels).unwrap(),
    }
}
