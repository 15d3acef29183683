//! A process-wide allocator setting for training and inference loops.
//!
//! Every step frees and takes again the same large buffers: layer outputs,
//! im2col matrices, gradients. glibc's malloc gives large freed blocks back
//! to the kernel (each in its own mapping, or by trimming the heap), so the
//! next step gets fresh pages that the kernel must map and zero one page
//! fault at a time. On our 2-core machines that was about a quarter of the
//! time of a training step of the MNIST config. [`keep_freed_memory`] makes
//! malloc keep freed memory for reuse instead.

/// Tells glibc's malloc to keep freed memory for reuse: blocks of up to
/// 32 MiB come from the heap instead of mappings of their own, and the heap
/// is not trimmed. The process's resident memory then stays near the
/// largest it has been rather than shrinking between steps.
///
/// Call it once at the start of a program (the `resnet` command does);
/// it changes nothing but speed. It does nothing on other C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets malloc's tuning parameters; it is safe to
    // call at any time, and these values are within its documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
