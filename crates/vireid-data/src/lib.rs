//! Datasets, protocols and image input for visible-infrared person re-identification.
//!
//! - [`sysu`], [`regdb`], [`llcm`]: the three benchmarks in their native layouts;
//! - [`protocol`]: query/gallery splits per trial, identical to the reference's lists;
//! - [`pyrandom`]: CPython's `random` for the gallery draws;
//! - [`image_io`]: decoding and Pillow-compatible Lanczos resizing;
//! - [`cache`]: the `.npy` training cache the reference's loader reads;
//! - [`npy`]: `.npy` reading that checks a header against its file before allocating;
//! - [`synth`]: a synthetic cross-spectral dataset in any of the three layouts;
//! - [`sampler`]: the identity sampler that builds training batches.

pub mod cache;
pub mod error;
pub mod image_io;
pub mod listing;
pub mod llcm;
pub mod npy;
pub mod protocol;
pub mod pyrandom;
pub mod regdb;
pub mod sampler;
pub mod synth;
pub mod sysu;
pub mod trainset;

pub use error::{DataError, Result};
pub use image_io::Size;
pub use protocol::{splits, Dataset, Direction, Entry, Mode, Protocol, Shot, Split, TrialSplit};
pub use trainset::{TrainItem, TrainSet};

/// The training set of a dataset (RegDB needs its trial).
pub fn train_set(dataset: Dataset, root: &std::path::Path, trial: u32) -> Result<TrainSet> {
    match dataset {
        Dataset::Sysu => sysu::train_set(root),
        Dataset::Regdb => regdb::train_set(root, trial),
        Dataset::Llcm => llcm::train_set(root),
    }
}
