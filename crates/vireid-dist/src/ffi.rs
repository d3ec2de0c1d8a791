//! The shim's C interface (shim/c10d.cpp). Messages returned are malloc'd and freed with
//! `vd_free_message`; tensors are the at::Tensor pointers that tch holds.

use std::os::raw::{c_char, c_int};
use torch_sys::C_tensor;

#[repr(C)]
pub struct VdStore {
    _private: [u8; 0],
}

#[repr(C)]
pub struct VdGroup {
    _private: [u8; 0],
}

extern "C" {
    pub fn vd_free_message(message: *mut c_char);
    pub fn vd_store_new(
        host: *const c_char,
        port: u16,
        world_size: c_int,
        is_server: bool,
        timeout_ms: i64,
        out: *mut *mut VdStore,
    ) -> *mut c_char;
    pub fn vd_store_free(store: *mut VdStore);
    pub fn vd_group_new(
        store: *mut VdStore,
        backend: c_int,
        rank: c_int,
        world_size: c_int,
        timeout_ms: i64,
        out: *mut *mut VdGroup,
    ) -> *mut c_char;
    pub fn vd_group_free(group: *mut VdGroup);
    pub fn vd_has_nccl() -> bool;
    pub fn vd_all_reduce(group: *mut VdGroup, tensor: *const C_tensor, op: c_int) -> *mut c_char;
    pub fn vd_broadcast(group: *mut VdGroup, tensor: *const C_tensor, root: c_int) -> *mut c_char;
    pub fn vd_all_gather(
        group: *mut VdGroup,
        outputs: *const *const C_tensor,
        n: c_int,
        input: *const C_tensor,
    ) -> *mut c_char;
    pub fn vd_barrier(group: *mut VdGroup) -> *mut c_char;
}

/// The message the shim returned, if any (freed here).
pub fn take_message(message: *mut c_char) -> Option<String> {
    if message.is_null() {
        return None;
    }
    // SAFETY: a non-null return of the shim is a NUL-terminated malloc'd string it gave up.
    let text = unsafe { std::ffi::CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    unsafe { vd_free_message(message) };
    Some(text)
}
