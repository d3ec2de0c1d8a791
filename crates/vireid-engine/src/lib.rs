//! What runs a vireid job on the network of vireid-nn:
//!
//! - training: [`config`] (typed, the reference's presets per dataset), [`loss`], [`sgd`],
//!   [`schedule`], [`step`] and [`amp`] (one optimisation step, in float32 or mixed
//!   precision), and [`trainer`] (the loop in parts: run folder, prefetcher, epoch,
//!   evaluation schedule, hooks);
//! - [`evaluate`]: a network under a test protocol (features of the query and galleries, the
//!   four scores over trials);
//! - [`data_parallel`]: training across processes (gradients averaged, rank 0 leads);
//! - [`job`]: a training job on a dataset root (cache, periodic evaluation, the loop);
//! - [`curves`]: training curves as PNG; [`demo`]: the end-to-end demo and its report;
//! - [`progress`]: how long phases report progress (the command line draws it);
//! - [`allocator`]: the process allocator of the commands that train.

pub mod allocator;
pub mod amp;
pub mod config;
pub mod curves;
pub mod data_parallel;
pub mod demo;
pub mod embed;
pub mod error;
pub mod evaluate;
pub mod job;
pub mod loss;
pub mod progress;
pub mod schedule;
pub mod sgd;
pub mod step;
pub mod trainer;

pub use error::{EngineError, Result};
