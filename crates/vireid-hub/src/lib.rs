//! ImageNet backbone weights, the way the paper starts training: torchvision's files, looked
//! up where PyTorch users already keep them, else downloaded from torchvision's address and
//! checked against the sha256 prefix that torchvision writes into each file's name, then
//! written atomically into vireid's own cache. Only a verified file ever lands in a cache.
//!
//! This crate does not link libtorch: the `vireid weights` command and training share it.

mod catalog;
mod error;
mod fetch;
mod places;
mod pretrained;

pub use catalog::{hash_prefix, torchvision, KnownWeights};
pub use error::{HubError, Result};
pub use fetch::{sha256_file, verify_name, Verdict, BASE_URL_ENV, DEFAULT_BASE_URL};
pub use places::Places;
pub use pretrained::{Found, Hub, Pretrained};
