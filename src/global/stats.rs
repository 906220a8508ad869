//! Process statistics: the calling thread's pending counts moved to the
//! process-wide counters before they are read.

use crate::ds::stats::{self, Stats, ThreadStats};
use crate::mem::heap::Heap;

/// Reads the allocator's statistics, after moving the pending counts of
/// `heap`, the calling thread's heap, to them.
pub(crate) fn read(heap: *mut Heap) -> Stats {
    let _quiet = crate::pal::Quiet::new();
    // SAFETY: the calling thread's own heap (caller's contract; the empty
    // heap has nothing to flush and zero counters).
    let (allocated_bytes, freed_bytes) = unsafe { Heap::thread_counters(heap) };
    Stats {
        thread: ThreadStats {
            allocated_bytes,
            freed_bytes,
        },
        ..stats::snapshot()
    }
}

/// Writes [`read`] as a table to file descriptor `fd`, without allocating.
pub(crate) fn print(heap: *mut Heap, fd: i32) {
    stats::print(&read(heap), fd);
}
