//! Large objects through a heap: a small cache of freed objects reused for
//! the next large allocation of about their size (no lock), in front of
//! the arena's shared span cache (any size up to theirs, any thread; see
//! `span_cache`), which a miss empties this cache into and then asks.

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
        let need = match large::map_size_for(size, align) {
            Some(need) => need,
            None => return (ptr::null_mut(), false),
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
                        (*heap).state.thread_allocated += (*seg).map_size as u64;
                        stats::LARGE_BYTES.add((*seg).map_size as i64);
                        return (large::reuse(seg, size, align), false);
                    }
                }
            }
        }
        // SAFETY: forwarded.
        unsafe { Heap::alloc_large_shared(heap, size, align, need) }
    }

    /// [`Heap::alloc_large`] when the heap's own cache has no fit: from the
    /// arena's span cache (after this cache is emptied into it, so its
    /// objects merge there), else a fresh mapping. Its own function so the
    /// hit path above saves no registers for it.
    ///
    /// # Safety
    /// As for [`Heap::alloc_large`]; `need` is `map_size_for(size, align)`.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_large_shared(heap: *mut Heap, size: usize, align: usize, need: usize) -> (*mut u8, bool) {
        // SAFETY: the heap is the caller's; a range the span cache hands
        // out is ours.
        unsafe {
            if (*heap).state.live && (*heap).state.large_cached_bytes > 0 {
                Heap::spill_large_cache(heap, os::now_ms());
            }
            let spans = &(*(*heap).state.arena).spans;
            let (p, zeroed) = match spans.take(need) {
                Some(base) => (large::place(base, need, align), false),
                None => (large::alloc(size, align), true),
            };
            if !p.is_null() {
                let size = (*segment_of(p)).map_size;
                stats::LARGE_BYTES.add(size as i64);
                if (*heap).state.live {
                    (*heap).state.large_allocs += 1;
                    (*heap).state.thread_allocated += size as u64;
                } else {
                    stats::record_large(1, 0);
                }
            }
            (p, zeroed)
        }
    }

    /// Frees a large object: kept in the heap's cache for reuse (until the
    /// purge delay passes) when there is room, else handed to the shared
    /// span cache; a huge one is unmapped.
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
            stats::LARGE_BYTES.add(-(size as i64));
            if (*heap).state.live {
                (*heap).state.thread_freed += size as u64;
            }
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
            Heap::free_large_shared(heap, seg);
        }
    }

    /// [`Heap::free_large`] when the heap's cache has no room: to the
    /// arena's span cache (which unmaps a huge one).
    ///
    /// # Safety
    /// As for [`Heap::free_large`].
    #[cold]
    #[inline(never)]
    unsafe fn free_large_shared(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: the object is dead and its range ours.
        unsafe {
            let now = os::now_ms();
            let spans = &(*(*heap).state.arena).spans;
            large::cache(seg, spans, now, now, (*heap).state.purge_delay_ms);
        }
    }

    /// Moves every object of the heap's cache to the shared span cache
    /// (an unstamped one as free since `now`): on a miss, so they merge
    /// with their neighbours there, and at thread exit.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn spill_large_cache(heap: *mut Heap, now: u64) {
        // SAFETY: cached objects are dead and the heap's.
        unsafe {
            let spans = &(*(*heap).state.arena).spans;
            let delay = (*heap).state.purge_delay_ms;
            for i in 0..LARGE_CACHE_SLOTS {
                let seg = core::mem::replace(&mut (*heap).state.large_cache[i], ptr::null_mut());
                if seg.is_null() {
                    continue;
                }
                (*heap).state.large_cached_bytes -= (*seg).map_size;
                let at = Segment::local(seg, |l| l.emptied_at);
                large::cache(seg, spans, if at == 0 { now } else { at }, now, delay);
            }
        }
    }

    /// Resizes the large object `seg` (of the caller's) to `new_size` bytes
    /// without copying: where it is (see `large::resize_in_place`), else
    /// by moving its pages (`large::move_pages`). Returns the object's
    /// address, or null when it must be copied.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap); `seg`
    /// is the header of a live large object of the caller's.
    pub(crate) unsafe fn realloc_large(heap: *mut Heap, seg: *mut Segment, new_size: usize) -> *mut u8 {
        // SAFETY: the object is the caller's; the arena outlives every heap.
        unsafe {
            let offset = (*seg).map_size - (*seg).large_usable;
            let spans = &(*(*heap).state.arena).spans;
            let delay = (*heap).state.purge_delay_ms;
            if large::resize_in_place(seg, new_size, spans, os::now_ms(), delay) {
                return seg.cast::<u8>().add(offset);
            }
            large::move_pages(seg, new_size)
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
