//! Process-wide statistics of OS memory (slow paths only: the fast paths
//! count nothing).

use crate::sync::RelaxedCounter;

/// Bytes currently mapped from the OS (segments, large objects, heaps).
pub(crate) static OS_MAPPED: RelaxedCounter = RelaxedCounter::new();
/// Bytes handed back with `MADV_DONTNEED` since start (cumulative).
pub(crate) static OS_PURGED: RelaxedCounter = RelaxedCounter::new();
/// Segments abandoned by exiting threads since start.
pub(crate) static SEGMENTS_ABANDONED: RelaxedCounter = RelaxedCounter::new();
/// Segments adopted by a live thread since start.
pub(crate) static SEGMENTS_ADOPTED: RelaxedCounter = RelaxedCounter::new();

/// A snapshot of the allocator's OS-level statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsStats {
    /// Bytes of address space currently mapped from the OS.
    pub mapped: usize,
    /// Bytes given back to the OS with `MADV_DONTNEED` since start.
    pub purged: usize,
    /// Segments left behind by exiting threads with live blocks, since start.
    pub segments_abandoned: usize,
    /// Abandoned segments taken over by a live thread, since start.
    pub segments_adopted: usize,
}

/// Reads the current statistics.
pub fn os_stats() -> OsStats {
    OsStats {
        mapped: OS_MAPPED.get(),
        purged: OS_PURGED.get(),
        segments_abandoned: SEGMENTS_ABANDONED.get(),
        segments_adopted: SEGMENTS_ADOPTED.get(),
    }
}
