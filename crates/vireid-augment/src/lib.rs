//! Training augmentation for cross-spectral re-identification: Random Linear Enhancement
//! (moderate and radical, NeurIPS 2024), random erasing, the geometric transforms and the
//! CAJ channel exchange, as presets equal to the reference's pipelines, turning uint8 images
//! into the network's normalised float32 NCHW batch.

pub mod draws;
pub mod error;
pub mod grid;
pub mod params;
pub mod pipeline;
pub mod region;
pub mod test_time;
pub mod transforms;

pub use draws::{RrleStep, Trace};
pub use error::AugmentError;
pub use grid::{grid, Grid, GridRow, MAX_GRID_VIEWS};
pub use params::{ChannelExchange, Erasing, Mrle, Preset, Regions, Rrle};
pub use pipeline::{augment_batch, augment_one, image_rng, Scratch, SourceImage};
pub use region::Region;
