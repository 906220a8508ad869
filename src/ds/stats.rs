//! Statistics: per size class (blocks allocated, freed, live, peak live,
//! remote frees) and of OS memory (reserved, committed, returned).
//!
//! The fast paths count one thing: each page bumps a plain owner-only
//! counter when it hands out a block. A page's counts reach the
//! process-wide counters here (relaxed atomics) on its owner's slow path:
//! when the page runs dry, retires, is collected at thread exit or
//! adoption, and for the calling thread's pages whenever statistics are
//! read. So totals are exact for the reading thread and for exited threads;
//! another live thread's latest blocks (at most about one page run per size
//! class) show up at its next slow path. A block freed by another thread
//! counts as freed when its page's owner collects it.

use super::report::FdWriter;
use super::size_class::{block_size, NUM_CLASSES};
use crate::base::sync::{RelaxedCounter, RelaxedGauge};
use core::fmt::Write;

/// What a page did since its counts were last taken (see
/// `Page::take_counts`), handed to [`record`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) allocs: u32,
    pub(crate) frees: u32,
    pub(crate) remote: u32,
}

/// Bytes currently mapped from the OS (segments, large objects, heaps).
pub(crate) static OS_MAPPED: RelaxedCounter = RelaxedCounter::new();
/// Bytes handed back with `MADV_DONTNEED` since start (cumulative).
pub(crate) static OS_PURGED: RelaxedCounter = RelaxedCounter::new();
/// Bytes handed back and not used again since (still mapped).
pub(crate) static OS_DECOMMITTED: RelaxedGauge = RelaxedGauge::new();
/// Segments abandoned by exiting threads since start.
pub(crate) static SEGMENTS_ABANDONED: RelaxedCounter = RelaxedCounter::new();
/// Segments adopted by a live thread since start.
pub(crate) static SEGMENTS_ADOPTED: RelaxedCounter = RelaxedCounter::new();

/// Large objects served from the shared span cache (`mem::span_cache`)
/// instead of a fresh mapping, since start.
pub(crate) static LARGE_REUSED: RelaxedCounter = RelaxedCounter::new();
/// Bytes the shared span cache holds (freed large objects' memory, still
/// mapped).
pub(crate) static LARGE_CACHED: RelaxedGauge = RelaxedGauge::new();
/// Bytes of the ranges of live large objects (their mappings' sizes).
pub(crate) static LARGE_BYTES: RelaxedGauge = RelaxedGauge::new();
/// Large objects resized by `realloc` without copying (grown or shrunk
/// where they are, or their pages moved by the kernel), since start.
pub(crate) static LARGE_RESIZED: RelaxedCounter = RelaxedCounter::new();

/// The index of the large-object row in the per-class tables.
pub(crate) const LARGE: usize = NUM_CLASSES;
/// Rows of the per-class tables: every size class, then large objects.
pub const CLASS_ROWS: usize = NUM_CLASSES + 1;

/// One row's counters. Blocks live are `allocated - freed`, derived when
/// read, so an update is one read-modify-write per counter that changed
/// (two for a page's usual counts), plus one when the peak rises.
struct ClassCounters {
    allocated: RelaxedCounter,
    freed: RelaxedCounter,
    remote: RelaxedCounter,
    /// The highest `allocated - freed` seen by an update (each update's
    /// own view of the two counters).
    peak: RelaxedCounter,
}

impl ClassCounters {
    #[inline]
    fn record(&self, allocs: usize, frees: usize, remote: usize) {
        let allocated = if allocs > 0 {
            self.allocated.add_fetch(allocs)
        } else {
            self.allocated.get()
        };
        let freed = if frees > 0 {
            self.freed.add_fetch(frees)
        } else {
            self.freed.get()
        };
        if remote > 0 {
            self.remote.add(remote);
        }
        if allocs > frees {
            self.peak.raise_to(allocated.saturating_sub(freed));
        }
    }
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the array below
const ZERO: ClassCounters = ClassCounters {
    allocated: RelaxedCounter::new(),
    freed: RelaxedCounter::new(),
    remote: RelaxedCounter::new(),
    peak: RelaxedCounter::new(),
};

static CLASSES: [ClassCounters; CLASS_ROWS] = [ZERO; CLASS_ROWS];

/// Adds a page's counts to its class.
#[inline]
pub(crate) fn record(class: usize, c: Counts) {
    CLASSES[class].record(c.allocs as usize, c.frees as usize, c.remote as usize);
}

/// Large objects allocated and freed (heaps count them and hand the counts
/// over on their slow paths). Large objects have no owning thread, so none
/// of their frees counts as remote.
pub(crate) fn record_large(allocs: u64, frees: u64) {
    CLASSES[LARGE].record(allocs as usize, frees as usize, 0);
}

/// A snapshot of the allocator's OS-level statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsStats {
    /// Bytes of address space currently mapped from the OS ("reserved").
    pub mapped: usize,
    /// Bytes of that which may be backed by memory ("committed"): mapped
    /// minus what was given back and not touched since. An upper bound of
    /// the allocator's resident memory (pages never touched are counted).
    pub committed: usize,
    /// Bytes given back to the OS with `MADV_DONTNEED` since start
    /// ("returned", cumulative).
    pub purged: usize,
    /// Segments left behind by exiting threads with live blocks, since start.
    pub segments_abandoned: usize,
    /// Abandoned segments taken over by a live thread, since start.
    pub segments_adopted: usize,
    /// Large objects placed in the memory of earlier ones rather than a
    /// fresh mapping, since start.
    pub large_reused: usize,
    /// Large objects that `realloc` resized without copying, since start.
    pub large_resized: usize,
    /// Bytes of freed large objects kept mapped for reuse by any thread
    /// (part of `mapped`).
    pub large_cached: usize,
    /// Bytes of the ranges of live large objects (part of `mapped`).
    pub large_live: usize,
}

/// Reads the OS-level statistics.
///
/// ```
/// let os = midl_alloc::os_stats();
/// assert!(os.mapped >= os.committed);
/// ```
pub fn os_stats() -> OsStats {
    let mapped = OS_MAPPED.get();
    OsStats {
        mapped,
        committed: mapped.saturating_sub(OS_DECOMMITTED.get().max(0) as usize),
        purged: OS_PURGED.get(),
        segments_abandoned: SEGMENTS_ABANDONED.get(),
        segments_adopted: SEGMENTS_ADOPTED.get(),
        large_reused: LARGE_REUSED.get(),
        large_resized: LARGE_RESIZED.get(),
        large_cached: LARGE_CACHED.get().max(0) as usize,
        large_live: LARGE_BYTES.get().max(0) as usize,
    }
}

/// Counts of one size class (or of large objects, the last row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct ClassStats {
    /// Block size of the class in bytes; 0 for the large-object row.
    pub block_size: u64,
    /// Blocks handed out since start.
    pub allocated: u64,
    /// Blocks freed since start (those freed by another thread once their
    /// page's owner has collected them).
    pub freed: u64,
    /// Blocks live now: `allocated - freed`.
    pub live: u64,
    /// Highest `live` seen.
    pub peak: u64,
    /// Of `freed`, blocks freed by a thread other than the page's owner.
    pub remote_frees: u64,
}

/// The reading thread's own byte counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadStats {
    /// Bytes of blocks this thread allocated (slab blocks at their block
    /// size, large objects at their ranges'), since it started.
    pub allocated_bytes: u64,
    /// Bytes of this thread's slab blocks freed (by it or, once it has
    /// collected them, by other threads), and of large objects it freed.
    pub freed_bytes: u64,
}

/// Allocator statistics: one row per size class, then large objects, OS
/// memory, and the reading thread's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Rows in size-class order; the last row counts large objects.
    pub classes: [ClassStats; CLASS_ROWS],
    /// OS memory.
    pub os: OsStats,
    /// The calling thread's counters (zero from a thread that never
    /// allocated).
    pub thread: ThreadStats,
}

impl Stats {
    /// Totals over every row: (allocated, freed, live).
    ///
    /// ```
    /// let (allocated, freed, live) = midl_alloc::stats().totals();
    /// assert_eq!(allocated - freed, live);
    /// ```
    pub fn totals(&self) -> (u64, u64, u64) {
        self.classes
            .iter()
            .fold((0, 0, 0), |(a, f, l), c| (a + c.allocated, f + c.freed, l + c.live))
    }

    /// Bytes in live slab blocks (each counted at its class's block size).
    ///
    /// ```
    /// let s = midl_alloc::stats();
    /// assert!(s.small_bytes() <= s.allocated_bytes());
    /// ```
    pub fn small_bytes(&self) -> u64 {
        self.classes[..LARGE].iter().map(|c| c.live * c.block_size).sum()
    }

    /// Bytes allocated now: live slab blocks at their block size, plus live
    /// large objects' ranges (a gauge; see [`Stats`] for other threads'
    /// latest blocks).
    ///
    /// ```
    /// let block = midl_alloc::Allocation::new(1000)?;
    /// assert!(midl_alloc::stats().allocated_bytes() >= 1000);
    /// # drop(block); Ok::<(), midl_alloc::AllocError>(())
    /// ```
    pub fn allocated_bytes(&self) -> u64 {
        self.small_bytes() + self.os.large_live as u64
    }
}

/// Reads the process-wide counters (without flushing any thread's pages).
pub(crate) fn snapshot() -> Stats {
    let mut classes = [ClassStats::default(); CLASS_ROWS];
    for (i, (row, out)) in CLASSES.iter().zip(classes.iter_mut()).enumerate() {
        // Freed first: a block counts as allocated before it counts as
        // freed, so `allocated` read after it is at least `freed`.
        let freed = row.freed.get() as u64;
        let allocated = (row.allocated.get() as u64).max(freed);
        let live = allocated - freed;
        *out = ClassStats {
            block_size: if i == LARGE { 0 } else { block_size(i) as u64 },
            allocated,
            freed,
            live,
            peak: (row.peak.get() as u64).max(live),
            remote_frees: row.remote.get() as u64,
        };
    }
    Stats {
        classes,
        os: os_stats(),
        thread: ThreadStats::default(),
    }
}

/// Writes `s` as a table to file descriptor `fd` without allocating.
pub(crate) fn print(s: &Stats, fd: i32) {
    let mut w = FdWriter::new(fd);
    let _ = write_table(&mut w, s);
}

fn write_table(w: &mut FdWriter, s: &Stats) -> core::fmt::Result {
    writeln!(w, "midl-alloc statistics (blocks)")?;
    writeln!(
        w,
        "{:>10} {:>14} {:>14} {:>12} {:>12} {:>14}",
        "class", "allocated", "freed", "live", "peak", "remote frees"
    )?;
    for c in s.classes.iter().filter(|c| c.allocated > 0) {
        if c.block_size == 0 {
            write!(w, "{:>10}", "large")?;
        } else {
            write!(w, "{:>10}", c.block_size)?;
        }
        writeln!(
            w,
            " {:>14} {:>14} {:>12} {:>12} {:>14}",
            c.allocated, c.freed, c.live, c.peak, c.remote_frees
        )?;
    }
    let (a, f, l) = s.totals();
    writeln!(w, "{:>10} {:>14} {:>14} {:>12}", "total", a, f, l)?;
    let o = &s.os;
    writeln!(
        w,
        "OS memory: reserved {} KiB, committed {} KiB, returned {} KiB (cumulative); \
         segments abandoned {}, adopted {}; large objects reused {}, resized without copy {}, \
         cached {} KiB",
        o.mapped >> 10,
        o.committed >> 10,
        o.purged >> 10,
        o.segments_abandoned,
        o.segments_adopted,
        o.large_reused,
        o.large_resized,
        o.large_cached >> 10
    )
}
