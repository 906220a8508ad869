//! Large objects through a heap: a small cache of freed mappings reused
//! for the next large allocation until the purge delay passes.

use super::*;
use crate::mem::large;

impl Heap {
    /// Allocates a large object, reusing a mapping this heap cached when one
    /// fits. Returns the block (null on failure) and whether it is known to
    /// be zeroed (fresh from the OS).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap).
    pub(crate) unsafe fn alloc_large(heap: *mut Heap, size: usize, align: usize) -> (*mut u8, bool) {
        let Some(need) = large::map_size_for(size, align) else {
            return (ptr::null_mut(), false);
        };
        // SAFETY: the heap is the caller's; cached segments are unused
        // mappings owned by it.
        unsafe {
            if (*heap).state.live && (*heap).state.large_cached_bytes > 0 {
                for i in 0..LARGE_CACHE_SLOTS {
                    let seg = (*heap).state.large_cache[i];
                    if !seg.is_null() && (*seg).map_size >= need && (*seg).map_size - need <= need / 2 {
                        (*heap).state.large_cache[i] = ptr::null_mut();
                        (*heap).state.large_cached_bytes -= (*seg).map_size;
                        (*heap).state.large_allocs += 1;
                        return (large::reuse(seg, size, align), false);
                    }
                }
            }
        }
        let p = large::alloc(size, align);
        if !p.is_null() {
            // SAFETY: the heap is the caller's (possibly the never-written
            // empty heap, which is only read).
            if unsafe { (*heap).state.live } {
                // SAFETY: a live heap, owned by the calling thread.
                unsafe { (*heap).state.large_allocs += 1 };
            } else {
                stats::record_large(1, 0);
            }
        }
        (p, true)
    }

    /// Frees a large object: kept in the heap's cache for reuse (until the
    /// purge delay passes) when there is room, else unmapped.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap); `seg`
    /// is the header of a dead large object nobody uses again.
    #[cold]
    pub(super) unsafe fn free_large(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: the object is dead and its mapping ours; the heap is the
        // calling thread's.
        unsafe {
            if (*heap).state.live {
                (*heap).state.large_frees += 1;
            } else {
                stats::record_large(0, 1);
            }
            let size = (*seg).map_size;
            if (*heap).state.live && (*heap).state.large_cached_bytes + size <= LARGE_CACHE_BYTES {
                if let Some(slot) = (*heap).state.large_cache.iter().position(|s| s.is_null()) {
                    // Unstamped: the next maintenance stamps it (no clock
                    // read on the free path), so it waits out the delay
                    // plus at most one maintenance interval.
                    Segment::local(seg, |l| l.emptied_at = 0);
                    (*heap).state.large_cache[slot] = seg;
                    (*heap).state.large_cached_bytes += size;
                    return;
                }
            }
            large::free(seg);
        }
    }

    /// Moves the heap's large-object counts to the statistics.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn flush_large_counts(heap: *mut Heap) {
        // SAFETY: the heap is the caller's.
        unsafe {
            let (a, f) = (
                core::mem::take(&mut (*heap).state.large_allocs),
                core::mem::take(&mut (*heap).state.large_frees),
            );
            if a != 0 || f != 0 {
                stats::record_large(a, f);
            }
        }
    }

    /// Unmaps cached large objects older than `delay` (all with `delay` 0
    /// and `now` u64::MAX). A cached object's age counts from the first
    /// call that sees it (`free_large` does not read the clock).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn trim_large_cache(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: cached mappings are the heap's.
        unsafe {
            for i in 0..LARGE_CACHE_SLOTS {
                let seg = (*heap).state.large_cache[i];
                if seg.is_null() {
                    continue;
                }
                let at = Segment::local(seg, |l| {
                    if l.emptied_at == 0 {
                        l.emptied_at = now.max(1);
                    }
                    l.emptied_at
                });
                if now.saturating_sub(at) >= delay {
                    (*heap).state.large_cache[i] = ptr::null_mut();
                    (*heap).state.large_cached_bytes -= (*seg).map_size;
                    large::free(seg);
                }
            }
        }
    }
}
