//! Training across processes on libtorch's own distributed engine (c10d). A small C++ shim
//! (shim/c10d.cpp, compiled by build.rs against the same libtorch as tch) creates the
//! TCPStore rendezvous and a Gloo or NCCL process group; [`ProcessGroup`] wraps its
//! collectives, [`Launch`] reads the torchrun environment, and [`grads`] averages gradients
//! and shares parameters as data-parallel training needs.

pub mod error;
mod ffi;
pub mod grads;
pub mod group;
pub mod launch;

pub use error::{DistError, Result};
pub use group::{leads, Backend, ProcessGroup, ReduceOp};
pub use launch::{free_port, spawn_local, Launch};
