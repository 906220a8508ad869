//! The large-object tier's shared cache: the address ranges of freed large
//! objects, kept mapped (and resident) for any thread's next large object
//! of any size up to theirs, merged with their free neighbours, and given
//! back to the OS once they stayed unused for the purge delay, or when the
//! cache would hold more than [`CACHE_BYTES`].
//!
//! Large objects come and go far less often than small blocks, and each
//! one costs at least its page faults, so one lock (a futex, taken for a
//! scan of at most `spans::MAX_SPANS` entries; never across a system call)
//! is cheaper than what it saves, as jemalloc's extents and tcmalloc's page
//! heap take theirs. A heap's own few cached objects (`Heap::alloc_large`)
//! serve the common case of one size coming back without it.
//!
//! A range waits ten purge delays (1 s by default) rather than one: each is
//! worth thousands of page faults, and a program that frees large buffers
//! at a steady pace returns to them less often than to its small blocks.
//! Both that factor and the bound [`CACHE_BYTES`] were chosen on the
//! large-buffer shape (the benchmark's `large_buffers` row; the runs are
//! in docs/MEMORY.md): with one delay, or a bound of 64 or 128 MiB, too
//! few freed ranges are left when a buffer of their size is asked for
//! again, and each miss is a fresh mapping faulted in page by page.
//!
//! Objects whose mapping is larger than [`HUGE_MIN`] bypass the cache:
//! holding one back would push the others out, and their page faults are
//! a small part of what a program does with that much memory.

use super::layout::SEGMENT_SIZE;
use super::os;
use crate::base::sync::{lock, model_const_fn, Mutex};
use crate::ds::spans::{Span, SpanSet, Spill};
use crate::ds::stats;

/// Most bytes the cache keeps mapped.
pub(crate) const CACHE_BYTES: usize = 256 << 20;
/// A cached range waits this many purge delays before it goes back to the
/// OS (see the module docs).
const DECAY_FACTOR: u64 = 10;
/// Mappings above this size bypass the cache (see the module docs).
pub(crate) const HUGE_MIN: usize = CACHE_BYTES / 4;

/// The cache (see the module docs). One per arena.
pub(crate) struct SpanCache {
    set: Mutex<SpanSet>,
}

/// Unmaps the ranges a set gave up.
fn release(spill: &Spill) {
    for &(base, len) in spill.ranges() {
        // SAFETY: a range of the cache's, which no one refers to any more.
        unsafe { os::unmap(base as *mut u8, len) };
    }
}

impl SpanCache {
    /// Runs `f` on the locked set, then accounts its change in size in the
    /// statistics' gauge of cached bytes.
    fn with<R>(&self, f: impl FnOnce(&mut SpanSet) -> R) -> R {
        let mut set = lock(&self.set);
        let before = set.bytes();
        let r = f(&mut set);
        stats::LARGE_CACHED.add(set.bytes() as i64 - before as i64);
        r
    }

    model_const_fn! {
        pub(crate) fn new() -> Self {
            SpanCache {
                set: Mutex::new(SpanSet::new()),
            }
        }
    }

    /// A range of `len` bytes aligned to the segment size, from the cache:
    /// mapped, not zeroed, the caller's. None when nothing cached can serve.
    ///
    /// When no cached range holds `len` bytes at the alignment, the longest
    /// one of at least a quarter of `len` is grown into a fresh aligned
    /// range by moving its pages there (`os::remap_to`: page tables move,
    /// nothing is copied or faulted in again), so memory already resident
    /// serves most of the object instead of waiting in the cache while a
    /// fresh mapping is faulted in beside it.
    pub(crate) fn take(&self, len: usize) -> Option<*mut u8> {
        let mut spill = Spill::new();
        let (got, grow) = self.with(|set| match set.take(len, SEGMENT_SIZE, &mut spill) {
            Some(base) => (Some(base as *mut u8), None),
            None => (None, set.take_longest(len / 4, len)),
        });
        release(&spill);
        let got = got.or_else(|| grow.and_then(|span| self.grow_span(span, len)));
        if got.is_some() {
            stats::LARGE_REUSED.add(1);
        }
        got
    }

    /// Moves `span`'s pages to the start of a fresh aligned range of `len`
    /// bytes; the range, or None (the span cached again) when the kernel
    /// refuses (a span merged from mappings it cannot join).
    fn grow_span(&self, span: Span, len: usize) -> Option<*mut u8> {
        let target = os::map_aligned(len, SEGMENT_SIZE);
        // SAFETY: the span is ours (taken from the set) and holds nothing
        // live; the target is the fresh mapping just made, which the moved
        // pages replace.
        unsafe {
            if !target.is_null() && os::remap_to(span.base as *mut u8, span.len, len, target) {
                return Some(target);
            }
            if !target.is_null() {
                os::unmap(target, len);
            }
            let mut spill = Spill::new();
            self.with(|set| set.give(span.base, span.len, span.freed_at, &mut spill));
            release(&spill);
        }
        None
    }

    /// Takes the `len` bytes that start at `at` if they are cached: how a
    /// large object ending at `at` grows in place.
    pub(crate) fn take_at(&self, at: *mut u8, len: usize) -> bool {
        self.with(|set| set.take_at(at as usize, len))
    }

    /// Caches `[base, base+len)`, free since `freed_at`, then gives back
    /// what waited `delay` ms by `now` or overflows the cache. A range
    /// larger than [`HUGE_MIN`] is unmapped at once.
    ///
    /// # Safety
    /// The range was mapped by `os`, holds nothing live, and the caller
    /// gives it up.
    pub(crate) unsafe fn give(&self, base: *mut u8, len: usize, freed_at: u64, now: u64, delay: u64) {
        if len > HUGE_MIN {
            // SAFETY: the caller gives the range up.
            unsafe { os::unmap(base, len) };
            return;
        }
        let mut spill = Spill::new();
        self.with(|set| {
            set.give(base as usize, len, freed_at, &mut spill);
            set.trim(now, delay.saturating_mul(DECAY_FACTOR), CACHE_BYTES, &mut spill);
        });
        release(&spill);
    }

    /// Gives back what waited `delay` ms by `now` (everything with delay 0).
    pub(crate) fn trim(&self, now: u64, delay: u64) {
        let mut spill = Spill::new();
        self.with(|set| set.trim(now, delay.saturating_mul(DECAY_FACTOR), CACHE_BYTES, &mut spill));
        release(&spill);
    }
}
