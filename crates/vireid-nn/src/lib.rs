//! The two-stream part network of RLE on libtorch (tch): ResNet backbones, the network with
//! visible and thermal stems, weight import (torchvision ImageNet files, the reference's `.t`
//! checkpoints, our safetensors) and feature extraction.
//!
//! Variable paths are the reference's state-dict keys (`base_resnet.base.layer1.0.conv1`), so
//! loading a reference checkpoint is a matter of names.

pub mod allocator;
pub mod amp;
pub mod config;
pub mod curves;
pub mod device;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod loss;
pub mod network;
pub mod resnet;
pub mod schedule;
pub mod sgd;
pub mod step;
pub mod trainer;
pub mod weights;

pub use device::parse_device;
pub use error::{NnError, Result};
pub use network::{Modality, NetConfig, PartNet};
pub use resnet::Depth;
