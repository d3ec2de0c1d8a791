//! Datasets, protocols and image input for visible-infrared person re-identification.
//!
//! - [`dataset`]: the three benchmarks, each described once ([`DatasetSpec`]);
//! - [`sysu`], [`regdb`], [`llcm`]: the three benchmarks in their native layouts;
//! - [`protocol`]: query/gallery splits per trial, identical to the reference's lists;
//! - [`pyrandom`]: CPython's `random` for the gallery draws;
//! - [`image_io`]: decoding and Pillow-compatible Lanczos resizing;
//! - [`atomic`]: the one way files are written (temporary name, flush, rename);
//! - [`cache`]: the `.npy` training cache the reference's loader reads;
//! - [`npy`]: `.npy` reading that checks a header against its file before allocating;
//! - [`synth`]: a synthetic cross-spectral dataset in any of the three layouts;
//! - [`sampler`]: the identity sampler that builds training batches.

pub mod atomic;
pub mod cache;
pub mod dataset;
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

pub use dataset::{CameraRule, Dataset, DatasetSpec, Direction, FusedAlpha, Mode, Shot};
pub use error::{DataError, Result};
pub use image_io::Size;
pub use protocol::{Entry, Protocol, Split, TrialSplit};
pub use trainset::{TrainItem, TrainSet};

/// The training set of a dataset (RegDB needs its trial).
pub fn train_set(dataset: Dataset, root: &std::path::Path, trial: u32) -> Result<TrainSet> {
    match dataset {
        Dataset::Sysu => sysu::train_set(root),
        Dataset::Regdb => regdb::train_set(root, trial),
        Dataset::Llcm => llcm::train_set(root),
    }
}

/// Builds the query/gallery split of `protocol` for the given trials, from the layout module
/// of its dataset.
pub fn splits(root: &std::path::Path, protocol: &Protocol, trials: &[u32]) -> Result<Split> {
    match protocol.dataset {
        Dataset::Sysu => sysu::splits(root, protocol, trials),
        Dataset::Regdb => regdb::splits(root, protocol, trials),
        Dataset::Llcm => llcm::splits(root, protocol, trials),
    }
}
