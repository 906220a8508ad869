//! Free dispatch: the owner's fast path, frees of another heap's blocks
//! (the remote list), of large objects, and the owner's slow path when a
//! page empties or leaves the full list.

use super::free_check::FREE_CHECKS;
use super::*;
use crate::base::sync::no_unwind_fn;
use crate::ds::report;
use crate::mem::large;

impl Heap {
    /// Frees `p` from the calling thread, whose heap is `heap` (which may
    /// be an empty heap).
    ///
    /// # Safety
    /// `p` was returned by this allocator and is live; `heap` is the calling
    /// thread's heap.
    #[inline(always)]
    pub(crate) unsafe fn free(heap: *mut Heap, p: *mut u8) {
        let seg = segment_of(p);
        // SAFETY: reading the heap's own field (the empty heap's too).
        if FREE_CHECKS && seg != unsafe { (*heap).checked } && !segment_map::contains(p) {
            // SAFETY: forwarded (`p` lies in no segment of ours).
            return unsafe { free_flagged(p, heap) };
        }
        let slot = slot_of(p);
        // SAFETY: `p` lies in a live segment (the heap's checked one, which
        // is mapped while on its list, or one the map holds), whose header
        // holds `slot`. A slot owned by our heap is the descriptor of `p`'s
        // page, and the page is ours (see `segment`); its block `p` is
        // readable once it is known to be one, and its segment is on our
        // list (it has a page in use).
        unsafe {
            if (*slot).is_owned_by(Heap::owner_id(heap)) {
                if FREE_CHECKS && (!(*slot).is_block_start(p) || (*slot).looks_free(p)) {
                    return free_flagged(p, heap);
                }
                let slow = (*slot).push_local(p);
                if FREE_CHECKS {
                    // (After the push: before it, the store would make the
                    // key be read again.)
                    (*heap).checked = seg;
                }
                if slow {
                    // (The slow path finds the page again from `p`, so the
                    // fast path keeps the page address in its addressing.)
                    free_slot_slow(p, heap);
                }
            } else {
                free_other(p, heap);
            }
        }
    }

    /// Frees a block the fast path cannot: one of another heap (or of
    /// none), a large object, or a block of our own beyond the first 64 KiB
    /// of a medium page. (`p` first: it stays in the register it came in.)
    ///
    /// # Safety
    /// As for [`Heap::free`], and `heap` does not own the slot of `p`.
    #[cold]
    pub(super) unsafe fn free_other(p: *mut u8, heap: *mut Heap) {
        let slot = slot_of(p);
        // SAFETY: `p` lies in a live segment (caller's contract). A slot
        // with an owner heads `p`'s page (see `segment`); the owner is not
        // us (the caller checked), so the block goes to the page's remote
        // list, held in our batch first (`remote_batch`), without reading
        // the segment header (whose line the owner writes when its pages
        // come and go).
        unsafe {
            if !(*slot).owner().is_null() {
                if FREE_CHECKS {
                    Heap::check_remote_free(slot, p);
                }
                Heap::free_remote_batched(heap, slot, p);
                return;
            }
        }
        let seg = segment_of(p);
        // SAFETY: `p` lies in a live segment (caller's contract). When the
        // segment's owner is our heap, so is every page of it.
        unsafe {
            if (*seg).owner() == Heap::owner_id(heap) {
                let page = Segment::page_of(seg, p);
                if FREE_CHECKS {
                    Heap::check_segment_free(seg, page, p, true);
                }
                if (*page).push_local(p) {
                    Heap::free_local_slow(heap, page);
                }
            } else if (*seg).kind == SegmentKind::Large {
                if FREE_CHECKS {
                    Heap::check_large_free(seg, p);
                }
                Heap::free_large(heap, seg);
            } else {
                if FREE_CHECKS {
                    Heap::check_segment_free(seg, Segment::page_of(seg, p), p, false);
                }
                Heap::free_remote(seg, p);
            }
        }
    }

    /// Frees a block of a segment another heap owns (or none does), or a
    /// large object.
    ///
    /// # Safety
    /// `p` is a live block in `seg`, not used afterwards.
    #[inline(never)]
    pub(crate) unsafe fn free_remote(seg: *mut Segment, p: *mut u8) {
        // SAFETY: a large object owns its mapping. Otherwise the block keeps
        // its page in use (`used` counts it) until the owner collects it, so
        // the descriptor is live; the push hands the block to the owner.
        unsafe {
            if (*seg).kind == SegmentKind::Large {
                stats::record_large(0, 1);
                large::free(seg);
                return;
            }
            let page = Segment::page_of(seg, p);
            (*page).push_remote(p);
        }
    }

    /// The owner freed a block and the page became unused, sits on the
    /// full list, or became sparse (fewer than half its blocks in use, see
    /// `Page::take_sparse_watch`: listed for `purge_sparse`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages.
    #[cold]
    pub(crate) unsafe fn free_local_slow(heap: *mut Heap, page: *mut Page) {
        // SAFETY: `page` belongs to `heap`, owned by the calling thread.
        unsafe {
            let (class, used, in_full) = (*page).local(|l| (l.class as usize, l.used(), l.in_full));
            let used = if fault::injected(Fault::RetireIgnoresRemote) {
                used.saturating_sub(1)
            } else {
                used
            };
            if in_full {
                queue_remove(addr_of_mut!((*heap).state.full), page);
                (*page).set_role(Role::Queued);
                queue_push_front(addr_of_mut!((*heap).queues[class]), page);
            }
            if used == 0 && (*heap).pages[class] != page {
                queue_remove(addr_of_mut!((*heap).queues[class]), page);
                Heap::retire_and_release(heap, page, os::now_ms(), SEGMENT_CACHE_MAX);
            } else {
                Heap::note_sparse(heap, page);
            }
        }
    }
}

no_unwind_fn! {
    /// [`Heap::free_local_slow`] for the page in whose descriptor slot `p`
    /// lies, behind the C ABI: it cannot unwind, so `MIDL_user_free` and the
    /// other exported functions reach it with a tail call and need no stack
    /// frame (a Rust function under loom, whose expected-failure models
    /// panic through it; see `base::sync`).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap and owns the page whose descriptor
    /// is `slot_of(p)`, which `p` (a block of it) was just pushed to.
    #[cold]
    #[inline(never)]
    unsafe fn free_slot_slow(p: *mut u8, heap: *mut Heap) {
        // SAFETY: forwarded.
        unsafe { Heap::free_local_slow(heap, slot_of(p)) }
    }
}

no_unwind_fn! {
    /// [`Heap::free_other`] behind the C ABI, for the same reason as
    /// [`free_slot_slow`].
    ///
    /// # Safety
    /// As for [`Heap::free`].
    #[cold]
    #[inline(never)]
    unsafe fn free_other(p: *mut u8, heap: *mut Heap) {
        // SAFETY: forwarded.
        unsafe { Heap::free_other(p, heap) }
    }
}

no_unwind_fn! {
    /// A free the fast path flagged: of an address in no segment of ours
    /// (reported), or of a block of a page `heap` owns, checked
    /// ([`Heap::check_owned_free`], which stops the process if it is not a
    /// block in use) and then freed as the fast path would have. A tail
    /// call from the fast path, like the two above (one function for both,
    /// which returns: a call to a function that does not would make the
    /// fast path set up a stack frame).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap and, if `p` lies in a segment of
    /// ours, owns the page whose descriptor is `slot_of(p)`.
    #[cold]
    #[inline(never)]
    unsafe fn free_flagged(p: *mut u8, heap: *mut Heap) {
        if !segment_map::contains(p) {
            report::foreign_free(p);
        }
        let page = slot_of(p);
        // SAFETY: forwarded; once checked, `p` is a block in use of `page`.
        unsafe {
            Heap::check_owned_free(page, p);
            if (*page).push_local(p) {
                Heap::free_local_slow(heap, page);
            }
        }
    }
}
