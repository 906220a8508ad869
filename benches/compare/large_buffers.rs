//! Workload: large buffers that come and go, in the manner of the
//! large-block tests of the allocator benchmark suites: 20 slots, each op
//! frees the buffer in a random slot and allocates one of a random size
//! from 5 to 25 MiB in its place, written through (zero-filled, as a
//! `calloc` user or a buffer being filled would touch it). An allocator that
//! maps every buffer fresh pays a page fault per 4 KiB of it; one that
//! reuses freed buffers across sizes pays only the writes.
//!
//! The table's figures run each allocator in a child process of its own
//! ([`large_buffers_apart`]): in one process, each allocator's runs came
//! after the others had mapped and unmapped gigabytes beside it, and the
//! row contradicted the same work run in separate processes.

use super::*;

const SLOTS: usize = 20;
const MIN: usize = 5 << 20;
const MAX: usize = 25 << 20;

pub(crate) fn large_buffers<A: Allocator>(a: A, ops: u64) -> Duration {
    let mut rng = Rng(0x1a2b_3c4d_5e6f_7081);
    let start = Instant::now();
    let mut slots = [(std::ptr::null_mut::<u8>(), 0usize); SLOTS];
    for _ in 0..ops {
        let i = rng.range(0, SLOTS - 1);
        let (old, old_size) = slots[i];
        if !old.is_null() {
            // SAFETY: the buffer was written through with its slot's byte.
            unsafe {
                assert_eq!(*old.add(old_size - 1), i as u8, "{}: buffer corrupted", A::NAME);
                a.free(old);
            }
        }
        let size = rng.range(MIN, MAX);
        let p = alloc_checked(a, size);
        // SAFETY: `size` bytes.
        unsafe {
            std::ptr::write_bytes(p, 0, size);
            *p.add(size - 1) = i as u8;
        }
        slots[i] = (p, size);
    }
    for (p, _) in slots {
        if !p.is_null() {
            // SAFETY: live buffers of `a`.
            unsafe { a.free(p) };
        }
    }
    start.elapsed()
}

/// [`large_buffers`] of allocator `A` in a child process of this benchmark
/// (`MIDL_BENCH_RUN=large_buffers:NAME:OPS`), timed inside the child as in
/// process.
pub(crate) fn large_buffers_apart<A: Allocator>(_: A, ops: u64) -> Duration {
    let spec = format!("large_buffers:{}:{ops}", A::NAME);
    let out = std::process::Command::new(bench_exe())
        .env("MIDL_BENCH_RUN", &spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{spec} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ns: f64 = stdout
        .split_whitespace()
        .rev()
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{spec}: no time in {stdout:?}"));
    Duration::from_nanos((ns * ops as f64) as u64)
}
