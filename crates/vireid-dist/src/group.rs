//! A process group: the TCPStore rendezvous (rank 0 serves it at MASTER_ADDR:MASTER_PORT)
//! and one c10d backend, Gloo for CPU tensors or NCCL for CUDA tensors. Collectives block
//! until done and fail, rather than hang, when a peer dies or the timeout passes.

use crate::error::{DistError, Result};
use crate::ffi;
use crate::launch::Launch;
use std::ffi::CString;
use std::os::raw::c_int;
use std::time::Duration;
use tch::Tensor;

/// Which c10d backend carries the collectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors (ProcessGroupGloo).
    Gloo,
    /// CUDA tensors (ProcessGroupNCCL).
    Nccl,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "gloo",
            Backend::Nccl => "nccl",
        }
    }

    /// The backend for tensors on `device`.
    pub fn for_device(device: tch::Device) -> Backend {
        if device.is_cuda() {
            Backend::Nccl
        } else {
            Backend::Gloo
        }
    }

    /// Whether this build has the NCCL backend (libtorch with CUDA and nccl.h at build time).
    pub fn nccl_built() -> bool {
        // SAFETY: a plain query of the shim.
        unsafe { ffi::vd_has_nccl() }
    }
}

/// How collectives combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

pub struct ProcessGroup {
    store: *mut ffi::VdStore,
    group: *mut ffi::VdGroup,
    rank: usize,
    world_size: usize,
    backend: Backend,
}

// SAFETY: the c10d objects are used from one thread at a time (&mut self would be needed to
// run two collectives at once from two threads, and every method takes &self but blocks).
unsafe impl Send for ProcessGroup {}

impl ProcessGroup {
    /// Joins the job `launch` describes: rank 0 serves the store, all meet there, and the
    /// backend connects every pair. `timeout` bounds the rendezvous and every collective.
    pub fn join(launch: &Launch, backend: Backend, timeout: Duration) -> Result<ProcessGroup> {
        let rendezvous = |message: String| DistError::Rendezvous {
            addr: launch.master_addr.clone(),
            port: launch.master_port,
            rank: launch.rank,
            world: launch.world_size,
            message,
        };
        let host = CString::new(launch.master_addr.as_str())
            .map_err(|_| rendezvous("MASTER_ADDR holds a NUL byte".into()))?;
        let timeout_ms = timeout.as_millis().min(i64::MAX as u128) as i64;
        let mut store = std::ptr::null_mut();
        // SAFETY: `host` outlives the call; `store` is written on success only.
        let message = unsafe {
            ffi::vd_store_new(
                host.as_ptr(),
                launch.master_port,
                launch.world_size as c_int,
                launch.rank == 0,
                timeout_ms,
                &mut store,
            )
        };
        if let Some(message) = ffi::take_message(message) {
            return Err(rendezvous(message));
        }
        let mut group = std::ptr::null_mut();
        let code = match backend {
            Backend::Gloo => 0,
            Backend::Nccl => 1,
        };
        // SAFETY: `store` is live; `group` is written on success only.
        let message = unsafe {
            ffi::vd_group_new(
                store,
                code,
                launch.rank as c_int,
                launch.world_size as c_int,
                timeout_ms,
                &mut group,
            )
        };
        if let Some(message) = ffi::take_message(message) {
            // SAFETY: made above, not shared.
            unsafe { ffi::vd_store_free(store) };
            return Err(DistError::Group {
                backend: backend.name(),
                rank: launch.rank,
                world: launch.world_size,
                message,
            });
        }
        Ok(ProcessGroup {
            store,
            group,
            rank: launch.rank,
            world_size: launch.world_size,
            backend,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn check(&self, op: &'static str, message: *mut std::os::raw::c_char) -> Result<()> {
        match ffi::take_message(message) {
            None => Ok(()),
            Some(message) => Err(DistError::Collective {
                op,
                rank: self.rank,
                world: self.world_size,
                message,
            }),
        }
    }

    /// Combines `tensor` across all ranks, in place (contiguous tensors only).
    pub fn all_reduce(&self, tensor: &Tensor, op: ReduceOp) -> Result<()> {
        let code = match op {
            ReduceOp::Sum => 0,
            ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        };
        // SAFETY: the group and tensor are live for the (blocking) call.
        let message = unsafe { ffi::vd_all_reduce(self.group, tensor.as_ptr(), code) };
        self.check("all-reduce", message)
    }

    /// Gives every rank `root`'s `tensor`, in place.
    pub fn broadcast(&self, tensor: &Tensor, root: usize) -> Result<()> {
        // SAFETY: as above.
        let message = unsafe { ffi::vd_broadcast(self.group, tensor.as_ptr(), root as c_int) };
        self.check("broadcast", message)
    }

    /// Every rank's `tensor`, in rank order (all of one shape).
    pub fn all_gather(&self, tensor: &Tensor) -> Result<Vec<Tensor>> {
        let outputs: Vec<Tensor> = (0..self.world_size).map(|_| tensor.empty_like()).collect();
        let pointers: Vec<_> = outputs.iter().map(|t| t.as_ptr()).collect();
        // SAFETY: `outputs` and `tensor` outlive the blocking call.
        let message = unsafe {
            ffi::vd_all_gather(
                self.group,
                pointers.as_ptr(),
                pointers.len() as c_int,
                tensor.as_ptr(),
            )
        };
        self.check("all-gather", message)?;
        Ok(outputs)
    }

    /// Waits for every rank.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: the group is live.
        let message = unsafe { ffi::vd_barrier(self.group) };
        self.check("barrier", message)
    }
}

/// Whether a process with this group (none: a process alone) is the one that writes and
/// talks: rank 0.
pub fn leads(group: Option<&ProcessGroup>) -> bool {
    group.is_none_or(|g| g.rank == 0)
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("backend", &self.backend)
            .finish()
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: both were made by `join` and are dropped once; the group goes first.
        unsafe {
            ffi::vd_group_free(self.group);
            ffi::vd_store_free(self.store);
        }
    }
}
