//! The segments a heap owns: finding one with a free page, linking them,
//! retiring pages, and releasing empty segments to the heap's cache or the
//! arena.

use super::purge::retain_cap;
use super::*;
use crate::ds::counted_stack::ADDRESS_LIMIT;

impl Heap {
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `kind` is small or medium.
    pub(super) unsafe fn segment_with_free_page(heap: *mut Heap, kind: SegmentKind) -> *mut Segment {
        // SAFETY: segments on the heap's lists belong to it.
        unsafe {
            let k = kind.slab_index();
            let hint = (*heap).state.seg_hint[k];
            if !hint.is_null() && Segment::local(hint, |l| l.free_mask != 0) {
                return hint;
            }
            let mut seg = (*heap).state.segments;
            while !seg.is_null() {
                let (free, next) = Segment::local(seg, |l| (l.free_mask, l.next));
                if (*seg).kind == kind && free != 0 {
                    (*heap).state.seg_hint[k] = seg;
                    return seg;
                }
                seg = next;
            }
            // Reuse a cached empty segment of this kind, else map one.
            let mut prev: *mut Segment = ptr::null_mut();
            let mut c = (*heap).state.cache;
            while !c.is_null() {
                let next = Segment::local(c, |l| l.next);
                if (*c).kind == kind {
                    if prev.is_null() {
                        (*heap).state.cache = next;
                    } else {
                        Segment::local(prev, |l| l.next = next);
                    }
                    (*heap).state.cache_len -= 1;
                    Heap::link_segment(heap, c);
                    (*heap).state.seg_hint[k] = c;
                    return c;
                }
                prev = c;
                c = next;
            }
            let pooled = (*(*heap).state.arena).take_empty(kind, Heap::owner_id(heap));
            if !pooled.is_null() {
                (*heap).state.retained += Segment::retained(pooled);
                Heap::link_segment(heap, pooled);
                (*heap).state.seg_hint[k] = pooled;
                return pooled;
            }
            let base = os::map_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
            if base.is_null() {
                return ptr::null_mut();
            }
            if base as usize + SEGMENT_SIZE > ADDRESS_LIMIT {
                // Pages count their remote frees in the top bits of the
                // list head (see `remote::CountedStack`): a segment the
                // kernel placed above 2^48 (only when asked to) is refused
                // like memory the OS does not have.
                // SAFETY: the mapping made just above; nothing refers to it.
                os::unmap(base, SEGMENT_SIZE);
                return ptr::null_mut();
            }
            if config::huge_pages() == config::HugePages::All {
                // SAFETY: the segment's mapping, made just above.
                os::advise_huge_pages(base, SEGMENT_SIZE);
            }
            let seg = Segment::init(base, kind, Heap::owner_id(heap), false);
            check::segment_mapped(seg);
            Heap::link_segment(heap, seg);
            (*heap).state.seg_hint[k] = seg;
            seg
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is owned by it and on none of its lists.
    pub(super) unsafe fn link_segment(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: `seg` is owned by `heap` and on none of its lists.
        unsafe {
            let head = (*heap).state.segments;
            Segment::local(seg, |l| {
                l.prev = ptr::null_mut();
                l.next = head;
            });
            if !head.is_null() {
                Segment::local(head, |l| l.prev = seg);
            }
            (*heap).state.segments = seg;
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is on its segment list.
    pub(super) unsafe fn unlink_segment(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: `seg` is on `heap`'s segment list.
        unsafe {
            let (prev, next) = Segment::local(seg, |l| (l.prev, l.next));
            if prev.is_null() {
                (*heap).state.segments = next;
            } else {
                Segment::local(prev, |l| l.next = next);
            }
            if !next.is_null() {
                Segment::local(next, |l| l.prev = prev);
            }
            for h in &mut (*heap).state.seg_hint {
                if *h == seg {
                    *h = ptr::null_mut();
                }
            }
            if (*heap).checked == seg {
                (*heap).checked = ptr::null_mut();
            }
        }
    }

    /// Returns an unused page (on no queue) to its segment. Returns true when
    /// the segment has no page in use left.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `page`
    /// is one of its pages, on no queue, with `used() == 0` after `collect`.
    pub(super) unsafe fn retire_page(heap: *mut Heap, page: *mut Page, now: u64) -> bool {
        // SAFETY: the page and its segment belong to `heap`; `used == 0`
        // (checked by the callers) proves no block of it is out.
        unsafe {
            let seg = segment_of(page.cast());
            let i = Segment::page_index(seg, page);
            count(heap, page);
            (*page).reset(now);
            let listed = Segment::local(seg, |l| {
                let listed = l.sparse_mask >> i & 1 != 0;
                l.sparse_mask &= !(1u64 << i);
                listed
            });
            if listed {
                (*heap).state.sparse_pages -= 1;
            }
            if (*heap).state.next_maintenance_ms == 0 {
                (*heap).state.next_maintenance_ms = now + maintenance_interval((*heap).state.purge_delay_ms);
            }
            (*heap).state.retained += (*page).local(|l| l.retained());
            (*heap).state.in_use = (*heap).state.in_use.saturating_sub(1 << (*seg).page_shift);
            if (*heap).state.retained > retain_cap(&(*heap).state, (*(*heap).state.arena).retain.get(), now) {
                Heap::purge_retained(heap, now);
            }
            (*heap).state.seg_hint[(*seg).kind.slab_index()] = seg;
            Segment::local(seg, |l| {
                l.free_mask |= 1u64 << i;
                l.used_pages -= 1;
                l.used_pages == 0
            })
        }
    }

    /// Takes an unused page off its class queue `q` and retires it (and its
    /// segment, if that has no page in use left).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `page` is on `q`, collected, with `used() == 0`, and is not current.
    pub(super) unsafe fn retire_unused(heap: *mut Heap, q: *mut PageQueue, page: *mut Page, now: u64) {
        // SAFETY: forwarded; a segment released here holds no page the
        // caller still walks (each of those is in use or on a queue).
        unsafe {
            queue_remove(q, page);
            Heap::retire_and_release(heap, page, now, SEGMENT_CACHE_MAX);
        }
    }

    /// Retires `page` and, if its segment then has no page in use, releases
    /// the segment (see [`Heap::release_segment`] for `cache_max`).
    ///
    /// # Safety
    /// As for [`Heap::retire_page`]; no page of the segment that the caller
    /// still walks is unused (each is in use or on a queue).
    pub(super) unsafe fn retire_and_release(heap: *mut Heap, page: *mut Page, now: u64, cache_max: usize) {
        // SAFETY: forwarded.
        unsafe {
            if Heap::retire_page(heap, page, now) {
                Heap::release_segment(heap, segment_of(page.cast()), now, cache_max);
            }
        }
    }

    /// An owned segment has no page in use: keep it in the heap's cache
    /// (up to `cache_max` segments), or pool it, as it is within the
    /// arena's budget for resident pooled memory, else given back to the
    /// OS first.
    /// A heap that is exiting passes no bound: `abandon` pools its whole
    /// cache without purging it, as the pooled segments' retired pages are
    /// purged by the next maintenance after the delay. (Given back at once,
    /// each segment a thread left empty at exit cost the next thread to
    /// carve there a page fault per 4 KiB: in the Larson benchmark, most
    /// of midl-alloc's page faults and a tenth of its time.)
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is on its segment list with no page in use.
    pub(super) unsafe fn release_segment(heap: *mut Heap, seg: *mut Segment, now: u64, cache_max: usize) {
        // SAFETY: `seg` is owned by `heap`, on its segment list, with no page
        // in use, so no other thread can reach it.
        unsafe {
            Heap::unlink_segment(heap, seg);
            if (*heap).state.cache_len < cache_max {
                let head = (*heap).state.cache;
                Segment::local(seg, |l| {
                    l.next = head;
                    l.emptied_at = now.max(1);
                });
                (*heap).state.cache = seg;
                (*heap).state.cache_len += 1;
            } else {
                // Past its cache: to the shared pool as it is while the
                // arena's budget for resident pooled memory has room (see
                // `Arena::pool_resident`), else back to the OS first, so a
                // shrinking heap does not leave it resident in the pool.
                let resident = Segment::retained(seg);
                (*heap).state.retained = (*heap).state.retained.saturating_sub(resident);
                let arena = (*heap).state.arena;
                if !(*arena).pool_resident(seg, resident) {
                    Segment::purge_free_pages(seg, now, 0);
                    (*arena).give_empty(seg);
                }
            }
        }
    }
}
