//! The process's memory allocator for training and feature extraction.
//!
//! libtorch allocates every activation and gradient with `malloc` and frees it when the step
//! is over. glibc serves such large blocks with fresh `mmap`s and unmaps them on free, so each
//! step page-faults and zero-fills its whole working set again (about a sixth of a ResNet-50
//! step at 384 x 192 went to the kernel). Turning glibc's mmap off instead made steps faster
//! but fragmented its heap: a SYSU-MM01-sized run grew by 3 GB within ten steps.
//! jemalloc, taking over `malloc` for the whole process (libtorch included) and told never to
//! hand freed pages back, reuses the same pages step after step at the footprint of one step.

#[cfg(target_os = "linux")]
#[doc(hidden)]
pub use tikv_jemalloc_sys;

/// jemalloc's options: freed pages stay with the process (no decay to the system), since the
/// next step needs them again.
pub const JEMALLOC_OPTIONS: &std::ffi::CStr = c"dirty_decay_ms:-1,muzzy_decay_ms:-1";

/// Makes jemalloc, with [`JEMALLOC_OPTIONS`], the `malloc` of the program that invokes it
/// (once, at the crate root of a binary: the vireid command and the benchmarks that stand for
/// it). Off Linux it does nothing and the system allocator stays.
#[macro_export]
macro_rules! use_jemalloc {
    () => {
        #[cfg(target_os = "linux")]
        #[allow(unused_imports)]
        use $crate::allocator::tikv_jemalloc_sys as _;

        /// Read by jemalloc at its first allocation, before `main`.
        #[cfg(target_os = "linux")]
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        static malloc_conf: Option<&'static std::ffi::c_char> =
            // SAFETY: a pointer to the first byte of a 'static NUL-terminated string.
            Some(unsafe { &*$crate::allocator::JEMALLOC_OPTIONS.as_ptr() });
    };
}
