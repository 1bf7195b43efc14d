//! The shim's memory footprint: one small process per running container, so every page it
//! keeps counts once per container (issue 3's target: ≤ 1 MiB PSS each).
//!
//! glibc gives each thread that allocates its own malloc arena (≈ 132 KiB reserved, tens of
//! KiB touched), and keeps freed heap pages mapped. The shim allocates most of its memory
//! once, while creating the container (spec, seccomp program, runtime state), then runs a few
//! threads that move bytes. [`single_arena`] before the first thread and [`trim`] once the
//! container is created return that memory to the kernel.

/// One malloc arena for the whole process (`mallopt(M_ARENA_MAX, 1)`, as
/// `MALLOC_ARENA_MAX=1`). Call while single-threaded.
pub fn single_arena() {
    // SAFETY: mallopt only sets an allocator parameter; no pointers are involved.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns freed heap memory to the kernel (`malloc_trim(0)`).
pub fn trim() {
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}
