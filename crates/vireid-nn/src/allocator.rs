//! The C allocator's settings for training and feature extraction.
//!
//! libtorch allocates every activation and gradient with `malloc` and frees it when the step
//! is over. glibc serves large blocks with fresh `mmap`s and unmaps them on free, so each
//! step page-faults and zero-fills its whole working set again: a ResNet-50 step at
//! 384 x 192 spent about a sixth of its time in the kernel doing that. Served from the heap
//! and kept there, the next step reuses the same pages.

/// Serve every allocation from the heap and keep freed memory for reuse instead of giving it
/// back to the system. Call once at start-up, before the first large allocation. Steps
/// reuse the memory of the previous ones, so the resident set stays that of one step (about
/// a tenth above glibc's default, measured by scripts/bench-train.sh); it only stops
/// shrinking between steps. Returns whether the allocator took the settings (never off
/// glibc, where the system allocator is left as it is).
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets the allocator's parameters and is thread-safe.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}
