//! Finding a page with a free block for the allocation slow path: the
//! current page's own frees, the class queue, the full list, abandoned
//! segments, a fresh page.

use super::*;

impl Heap {
    /// The slow path of `alloc`: find or make a page with a free block.
    ///
    /// # Safety
    /// As for `alloc`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn alloc_slow(heap: *mut Heap, class: usize) -> *mut u8 {
        // SAFETY: forwarded; the page returned has a free block.
        unsafe {
            // The fast path also comes here when the current page's head
            // block fails its check: pop it again, reporting.
            let current = (*heap).pages[class];
            if (*current).has_free() {
                return (*current).pop_checked();
            }
            let page = Heap::find_page(heap, class);
            if page.is_null() {
                return ptr::null_mut();
            }
            (*page).pop_checked()
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES`.
    pub(super) unsafe fn find_page(heap: *mut Heap, class: usize) -> *mut Page {
        // SAFETY: all pages and segments reached here are owned by `heap`,
        // which the calling thread owns.
        unsafe {
            mark_class(&mut (*heap).state.classes_used, class);
            let now = os::now_ms();
            Heap::follow_purge_delay(heap, now);
            if now >= (*heap).state.next_maintenance_ms && (*heap).state.next_maintenance_ms != 0 {
                Heap::maintain(heap, now);
            }
            (*heap).state.quick_left = QUICK_REFILLS_MIN;
            (*heap).state.quick_grant = QUICK_REFILLS_MIN;
            let sentinel = addr_of_mut!((*heap).empty);
            let old = (*heap).pages[class];
            if old != sentinel {
                count(heap, old);
                (*old).set_role(Role::Queued);
            }
            Heap::set_current(heap, class, sentinel);
            let q = addr_of_mut!((*heap).queues[class]);
            // 1. The page just in use, if its own or other threads' frees gave
            // it blocks again.
            if old != sentinel {
                (*old).collect();
                if (*old).has_free() {
                    Heap::make_current(heap, class, old);
                    return old;
                }
            }
            loop {
                // 2. Pages of this class with room.
                let best = Heap::best_candidate(heap, class, now);
                if !best.is_null() {
                    if !(*best).has_free() {
                        Heap::carve(heap, best);
                    }
                    Heap::make_current(heap, class, best);
                    return best;
                }
                // 3. a few full pages may have been freed into by others.
                Heap::scan_full(heap, FULL_SCAN, now);
                if !(*q).first.is_null() {
                    continue;
                }
                // 4. segments abandoned by exited threads.
                if Heap::adopt_for(heap, class, now) {
                    continue;
                }
                // 5. a fresh page.
                let page = Heap::new_page(heap, class);
                if page.is_null() {
                    return page;
                }
                queue_push_front(q, page);
                Heap::carve(heap, page);
                (*page).set_role(Role::Current);
                Heap::set_current(heap, class, page);
                return page;
            }
        }
    }

    /// Of the first [`CANDIDATES`] pages of `class`'s queue with room, the
    /// one with the most blocks in use (null if none has room), so emptier
    /// pages drain and can be retired (and their memory serve any class)
    /// rather than each class keeping the pages of its own peak. Pages
    /// found full move to the full list; unused ones are retired. Measured
    /// on the benchmark's mixed-size churn: about 5 MiB lower peak than
    /// taking the first page with room.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES` and its current page is the sentinel.
    unsafe fn best_candidate(heap: *mut Heap, class: usize, now: u64) -> *mut Page {
        // SAFETY: the pages on the heap's queues belong to it.
        unsafe {
            let q = addr_of_mut!((*heap).queues[class]);
            let mut best: *mut Page = ptr::null_mut();
            let mut best_used = 0;
            let mut seen = 0;
            let mut page = (*q).first;
            while !page.is_null() && seen < CANDIDATES {
                let next = (*page).local(|l| l.next);
                (*page).collect();
                let (has_room, used) = (*page).local(|l| (l.has_room(), l.used()));
                if !has_room {
                    queue_remove(q, page);
                    (*page).set_role(Role::Full);
                    queue_push_back(addr_of_mut!((*heap).state.full), page);
                    page = next;
                    continue;
                }
                seen += 1;
                // (Remote frees reach a page here: a page only other
                // threads free into goes sparse here, not on a free.)
                Heap::note_sparse(heap, page);
                if best.is_null() || used > best_used {
                    if !best.is_null() && best_used == 0 {
                        Heap::retire_unused(heap, q, best, now);
                    }
                    (best, best_used) = (page, used);
                } else if used == 0 {
                    Heap::retire_unused(heap, q, page, now);
                }
                page = next;
            }
            best
        }
    }

    /// Carves the next run of `page` (see `Page::extend`), first giving
    /// back the free OS pages of the pages that became sparse, once
    /// [`PURGE_AFTER_CARVED`] fresh bytes were carved. Big free blocks go
    /// back only in maintenance, once they have stayed free for the purge
    /// delay (see `Page::purge_free_blocks`): given back here, as they were
    /// before, they were faulted in again at the rate a steady workload
    /// carves (on the benchmark's `mixed_sizes` row, a `madvise` for
    /// most frees).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages.
    pub(super) unsafe fn carve(heap: *mut Heap, page: *mut Page) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if (*heap).state.carved >= PURGE_AFTER_CARVED {
                (*heap).state.carved = 0;
                let class = (*page).local(|l| l.class as usize);
                Heap::purge_sparse(heap, Some(class), 0, 0);
            }
            (*heap).state.carved += (*page).extend();
        }
    }

    /// Examines up to `limit` pages of the full list (all when `limit` is
    /// `usize::MAX`): pages freed into go back to their class queue, unused
    /// ones are retired.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn scan_full(heap: *mut Heap, limit: usize, now: u64) {
        // SAFETY: pages on the full list belong to `heap`.
        unsafe {
            let full = addr_of_mut!((*heap).state.full);
            let mut page = (*full).first;
            let mut n = 0;
            while !page.is_null() && n < limit {
                n += 1;
                let next = (*page).local(|l| l.next);
                if (*page).collect() > 0 || (*page).local(|l| !l.free.is_null()) {
                    queue_remove(full, page);
                    (*page).set_role(Role::Queued);
                    let (class, used) = (*page).local(|l| (l.class as usize, l.used()));
                    if used == 0 {
                        Heap::retire_and_release(heap, page, now, SEGMENT_CACHE_MAX);
                    } else {
                        queue_push_back(addr_of_mut!((*heap).queues[class]), page);
                        Heap::note_sparse(heap, page);
                    }
                } else if limit != usize::MAX {
                    // Still full: look at others first next time.
                    queue_remove(full, page);
                    queue_push_back(full, page);
                }
                page = next;
            }
        }
    }

    /// Takes a free page from an owned segment (or a new one) and sets it up
    /// for `class`.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES`.
    pub(super) unsafe fn new_page(heap: *mut Heap, class: usize) -> *mut Page {
        let bs = block_size(class);
        let kind = kind_of(class);
        // SAFETY: segments reached belong to `heap`.
        unsafe {
            let seg = Heap::segment_with_free_page(heap, kind);
            if seg.is_null() {
                return ptr::null_mut();
            }
            let i = Segment::local(seg, |l| {
                let i = l.free_mask.trailing_zeros() as usize;
                l.free_mask &= !(1u64 << i);
                l.used_pages += 1;
                i
            });
            let page = Segment::page(seg, i);
            let size = 1usize << (*seg).page_shift;
            (*heap).state.in_use += size;
            let retained = (*page).local(|l| l.retained());
            (*heap).state.retained = (*heap).state.retained.saturating_sub(retained);
            check::page_set_up(seg, i, bs);
            if (*page).init(class, bs, size, (*heap).state.key) {
                stats::OS_DECOMMITTED.add(-(size as i64));
                Segment::local(seg, |l| l.decommitted -= size as u32);
                if (*heap).state.gave_back_ms != 0 {
                    Heap::note_refault(heap, size);
                }
                (*(*heap).state.arena)
                    .retain
                    .note_refault(size, (*heap).state.purge_delay_ms);
            }
            page
        }
    }
}

/// The kind of segment whose pages serve `class`.
pub(super) fn kind_of(class: usize) -> SegmentKind {
    if block_size(class) <= SMALL_PAGE_BLOCK_MAX {
        SegmentKind::Small
    } else {
        SegmentKind::Medium
    }
}
