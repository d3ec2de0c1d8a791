//! The two-stream part network of RLE on libtorch (tch), and nothing else: ResNet backbones,
//! the network with visible and thermal stems, weights in and out (torchvision ImageNet files,
//! the reference's `.t` checkpoints, our safetensors), feature extraction and the device. It
//! neither reads datasets nor schedules training: that is vireid-engine, one crate up.
//!
//! Variable paths are the reference's state-dict keys (`base_resnet.base.layer1.0.conv1`), so
//! loading a reference checkpoint is a matter of names.

pub mod device;
pub mod error;
pub mod features;
pub mod fused;
pub mod network;
pub mod resnet;
pub mod weights;

pub use device::{
    cuda_in_process, load_cuda, parse_device, pin_deterministic, set_threads, CudaLoad,
    DETERMINISTIC_THREADS,
};
pub use error::{NnError, Result};
pub use network::{Modality, NetConfig, PartNet};
pub use resnet::Depth;
