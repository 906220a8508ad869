//! The arena: the process-wide lists every heap shares, all lock-free
//! stacks taken whole (no single-node pop, so no ABA):
//!
//! * segments abandoned by exited threads with blocks still in use, for a
//!   live heap to adopt;
//! * a pool of empty segments (at most [`EMPTY_POOL_MAX`]), so threads
//!   reuse each other's memory instead of faulting in fresh pages;
//! * a pool of the memory of exited threads' heaps (at most
//!   [`HEAP_POOL_MAX`]), for the next thread to start with;
//!
//! and the large-object tier's cache of freed ranges ([`SpanCache`], the
//! one list under a lock).

use super::layout::Owner;
use super::os::{self, OS_PAGE};
use super::retain::RetainFloor;
use super::segment::{Segment, SegmentKind};
use super::span_cache::SpanCache;
use super::{check, page::Page};
use crate::base::bits::div_ceil;
use crate::base::sync::{model_const_fn, AtomicUsize, Ordering, UnsafeCell};
use crate::ds::stack::{AtomicStack, Linked};
use core::ptr;

/// Empty segments the arena's shared pool keeps (beyond them, unmapped):
/// 128 MiB of address space, whose pages go back to the OS after the purge
/// delay. At 8, four threads ending together overflowed it and the next
/// four mapped fresh segments (the benchmark's `thread_lifetimes` row:
/// 370 segment mappings over 800 thread lifetimes, 26 at 32).
const EMPTY_POOL_MAX: usize = 32;
/// Bytes of retired pages that live heaps may pool without purging them
/// first (see [`Arena::pool_resident`]).
const POOL_RESIDENT_MAX: usize = 8 << 20;
/// Heaps of exited threads the arena keeps for new threads (beyond them,
/// unmapped): a burst of threads does not leave its heaps resident for good.
const HEAP_POOL_MAX: usize = 64;

/// The memory of a heap no thread uses any more, as the heap pool links it:
/// its first word (the heap is written anew when taken).
pub(crate) struct PooledHeap {
    next: UnsafeCell<*mut PooledHeap>,
}

impl Linked for PooledHeap {
    unsafe fn next(this: *mut Self) -> *mut Self {
        // SAFETY: `this` is a pooled heap acquired by the caller.
        unsafe { (*this).next.with(|p| *p) }
    }

    unsafe fn set_next(this: *mut Self, next: *mut Self) {
        // SAFETY: `this` is a free heap's memory owned by the caller; the
        // whole node is written, so under loom the cell is made anew.
        unsafe {
            this.write(PooledHeap {
                next: UnsafeCell::new(next),
            })
        }
    }
}

/// Process-wide state shared by all heaps (see the module docs).
pub(crate) struct Arena {
    pub(crate) abandoned: AtomicStack<Segment>,
    /// Threads holding the abandoned list to sort it (see
    /// `Heap::adopt_for`): while one does, the list looks empty to the
    /// others, which wait for it rather than map a fresh segment. A hint,
    /// not a protocol: the list's own orderings carry the segments.
    pub(crate) sorting: AtomicUsize,
    heaps: AtomicStack<PooledHeap>,
    heaps_len: AtomicUsize,
    empty: AtomicStack<Segment>,
    empty_len: AtomicUsize,
    /// Bytes of retired pages in pooled segments that live heaps gave
    /// without purging (`pool_resident`); a budget, not a protocol.
    pooled_resident: AtomicUsize,
    /// Freed large objects' memory, for any thread's next large object.
    pub(crate) spans: SpanCache,
    /// The floor of every heap's retained cap (see `mem::retain`).
    pub(crate) retain: RetainFloor,
}

impl Arena {
    model_const_fn! {
        pub(crate) fn new() -> Self {
            Arena {
                abandoned: AtomicStack::new(),
                sorting: AtomicUsize::new(0),
                heaps: AtomicStack::new(),
                heaps_len: AtomicUsize::new(0),
                empty: AtomicStack::new(),
                empty_len: AtomicUsize::new(0),
                pooled_resident: AtomicUsize::new(0),
                spans: SpanCache::new(),
                retain: RetainFloor::new(),
            }
        }
    }

    /// Takes the memory of an exited thread's heap from the pool (null if
    /// it is empty): the whole pool at once (no single-node pop, so no
    /// ABA), the rest pushed back.
    pub(crate) fn take_heap(&self) -> *mut u8 {
        let first = self.heaps.take_all();
        if first.is_null() {
            return first.cast();
        }
        // SAFETY: nodes of the pool are free heaps, acquired by take_all.
        unsafe { self.heaps.push_list(PooledHeap::next(first)) };
        self.heaps_len.fetch_sub(1, Ordering::Relaxed);
        first.cast()
    }

    /// Pools the `bytes` mapped at `heap`, a heap no thread uses again, or
    /// unmaps them when the pool is full.
    ///
    /// # Safety
    /// `heap` was mapped by `os::map(bytes)`, is aligned for a pointer, and
    /// nothing reads or writes it any more.
    pub(crate) unsafe fn give_heap(&self, heap: *mut u8, bytes: usize) {
        if self.heaps_len.fetch_add(1, Ordering::Relaxed) < HEAP_POOL_MAX {
            // SAFETY: the memory is ours to hand over (caller's contract).
            unsafe { self.heaps.push(heap.cast()) };
        } else {
            self.heaps_len.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { os::unmap(heap, bytes) };
        }
    }

    /// Hands an empty segment (on no heap's lists) to the pool, or unmaps
    /// it when the pool is full.
    ///
    /// # Safety
    /// The caller owns `seg`, an empty small or medium segment on none of
    /// its lists, and gives it up.
    pub(crate) unsafe fn give_empty(&self, seg: *mut Segment) {
        // SAFETY: the segment is empty and ours; the Release push hands it
        // (and its state) to whichever heap takes it.
        unsafe {
            if self.empty_len.load(Ordering::Relaxed) >= EMPTY_POOL_MAX {
                // (Charged if `pool_resident` found room a moment ago.)
                self.discharge(seg, 0);
                unmap_segment(seg);
                return;
            }
            self.empty_len.fetch_add(1, Ordering::Relaxed);
            Segment::set_owner(seg, ptr::null_mut());
            self.empty.push(seg);
        }
    }

    /// Pools an empty segment as it is, its retired pages still resident
    /// (`resident` bytes), while the arena's budget for such memory
    /// ([`POOL_RESIDENT_MAX`], or the heaps' retained floor when the process
    /// has raised it past that: see `mem::retain`) has room; false, and
    /// nothing done, if not.
    /// The pages are purged after the delay by the pool's purge, or used by
    /// the heap that takes the segment. For a live heap whose own cache is
    /// full: under thread churn, the segments threads empty by freeing each
    /// other's blocks pass from heap to heap through the pool, and purged
    /// on the way each was faulted in again by the next thread (the
    /// benchmark's `thread_lifetimes` row: three times as many page faults).
    ///
    /// # Safety
    /// As for [`Arena::give_empty`].
    pub(crate) unsafe fn pool_resident(&self, seg: *mut Segment, resident: usize) -> bool {
        if self.empty_len.load(Ordering::Relaxed) >= EMPTY_POOL_MAX
            || self.pooled_resident.load(Ordering::Relaxed) + resident > POOL_RESIDENT_MAX.max(self.retain.get())
        {
            return false;
        }
        let pages = div_ceil(resident, OS_PAGE);
        self.pooled_resident.fetch_add(pages * OS_PAGE, Ordering::Relaxed);
        // SAFETY: the caller owns `seg` until it is pooled.
        unsafe {
            Segment::local(seg, |l| l.pool_charge = pages as u16);
            self.give_empty(seg);
        }
        true
    }

    /// Takes `seg`'s charge off the budget of [`Arena::pool_resident`],
    /// down to the `resident` bytes it still holds.
    ///
    /// # Safety
    /// The caller owns `seg`, a segment taken from the pool.
    unsafe fn discharge(&self, seg: *mut Segment, resident: usize) {
        let pages = div_ceil(resident, OS_PAGE);
        // SAFETY: the caller owns `seg`. (The charge only goes down: a
        // pooled segment's retired pages only go back to the OS.)
        let charged = unsafe {
            Segment::local(seg, |l| {
                let charged = l.pool_charge as usize;
                l.pool_charge = charged.min(pages) as u16;
                charged
            })
        };
        if charged > pages {
            self.pooled_resident
                .fetch_sub((charged - pages) * OS_PAGE, Ordering::Relaxed);
        }
    }

    /// Takes an empty segment from the pool for a page of `kind` (one of
    /// that kind if there is one, else another set up anew), owned by
    /// `owner`, or null. Takes the whole pool and pushes the rest back: no
    /// ABA.
    ///
    /// # Safety
    /// `kind` is small or medium; `owner` is the calling thread's heap.
    pub(crate) unsafe fn take_empty(&self, kind: SegmentKind, owner: *mut Owner) -> *mut Segment {
        if self.empty.is_empty_hint() {
            return ptr::null_mut();
        }
        let first = self.empty.take_all();
        if first.is_null() {
            return first;
        }
        // SAFETY: the Acquire take makes the giving heaps' writes visible;
        // the segments are then ours until pushed back (Release).
        unsafe {
            // Pick one of `kind`, else the first; unlink it from the chain.
            let (mut prev, mut cur) = (ptr::null_mut::<Segment>(), first);
            let (mut pick_prev, mut pick) = (ptr::null_mut::<Segment>(), first);
            while !cur.is_null() {
                if (*cur).kind == kind {
                    (pick_prev, pick) = (prev, cur);
                    break;
                }
                prev = cur;
                cur = Segment::next(cur);
            }
            let after = Segment::next(pick);
            let rest = if pick_prev.is_null() {
                after
            } else {
                Segment::set_next(pick_prev, after);
                first
            };
            self.empty.push_list(rest);
            self.empty_len.fetch_sub(1, Ordering::Relaxed);
            self.discharge(pick, 0);
            if (*pick).kind != kind {
                // Set up for the other kind; what its pages held is unknown,
                // so every page counts as dirty (and as committed).
                Segment::forget_decommitted(pick);
                return Segment::init(pick.cast(), kind, owner, true);
            }
            Segment::set_owner(pick, owner);
            pick
        }
    }

    /// Purges the free pages of pooled empty segments that waited `delay`.
    pub(crate) fn purge_pool(&self, now: u64, delay: u64) {
        if self.empty.is_empty_hint() {
            return;
        }
        let first = self.empty.take_all();
        if first.is_null() {
            return;
        }
        // SAFETY: as in take_empty: the taken segments are ours until
        // pushed back.
        unsafe {
            let mut last = first;
            loop {
                Segment::purge_free_pages(last, now, delay);
                if Segment::local(last, |l| l.pool_charge) != 0 {
                    self.discharge(last, Segment::retained(last));
                }
                let next = Segment::next(last);
                if next.is_null() {
                    break;
                }
                last = next;
            }
            self.empty.push_chain(first, last);
        }
    }

    /// Unmaps every abandoned segment and pooled heap (of `heap_bytes`
    /// each); returns how many segments still had blocks in use (leaked
    /// blocks). For the loom models (`api::loom`), which need each execution
    /// to end with nothing mapped.
    ///
    /// # Safety
    /// No heap of this arena is live and no block of it is used again.
    #[allow(dead_code)] // the loom models' only
    pub(crate) unsafe fn release_all(&self, heap_bytes: usize) -> usize {
        let mut leaked = 0;
        // SAFETY: everything on the lists is owned by the lists, acquired by
        // take_all; nothing else refers to it (caller's contract).
        unsafe {
            let mut seg = self.abandoned.take_all();
            while !seg.is_null() {
                let next = Segment::next(seg);
                let mut in_use = false;
                for i in 1..(*seg).page_count as usize {
                    let page: *mut Page = Segment::page(seg, i);
                    (*page).collect();
                    in_use |= (*page).local(|l| l.in_use && l.used() > 0);
                }
                leaked += in_use as usize;
                unmap_segment(seg);
                seg = next;
            }
            let mut seg = self.empty.take_all();
            while !seg.is_null() {
                let next = Segment::next(seg);
                unmap_segment(seg);
                seg = next;
            }
            self.spans.trim(u64::MAX, 0);
            let mut heap = self.heaps.take_all();
            while !heap.is_null() {
                let next = PooledHeap::next(heap);
                os::unmap(heap.cast(), heap_bytes);
                heap = next;
            }
        }
        leaked
    }
}

/// Unmaps a small or medium segment no heap owns any more, forgetting its
/// given-back bytes and (checked mode) its record first.
///
/// # Safety
/// The caller owns `seg`, and nothing refers to it again.
unsafe fn unmap_segment(seg: *mut Segment) {
    // SAFETY: the caller's contract.
    unsafe {
        Segment::forget_decommitted(seg);
        check::segment_unmapped(seg);
        os::unmap(seg.cast(), (*seg).map_size);
    }
}
