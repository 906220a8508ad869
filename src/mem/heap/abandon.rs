//! Thread exit and adoption: an exiting thread's heap gives its empty
//! pages back and abandons the segments still in use to the arena; a heap
//! that needs a page adopts those it can use and those left empty, and
//! maintenance adopts them all. Also the statistics flush over a heap's
//! pages.

use super::find;
use super::*;
use crate::base::sync::{spin_wait, Ordering, MODEL_CHECKING};
use crate::pal;

/// How long [`Heap::wait_for_abandoned`] waits for a thread sorting the
/// abandoned list: this many spins (far longer than a sort of a few dozen
/// segments takes), then as many yields of the time slice as
/// `SORT_WAIT_YIELDS` (the sorting thread may have been preempted).
const SORT_WAIT_SPINS: u32 = 1 << 14;
const SORT_WAIT_YIELDS: u32 = 64;

impl Heap {
    /// Adopts every abandoned segment. Returns whether there were any.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn adopt(heap: *mut Heap, now: u64) -> bool {
        // SAFETY: the Acquire swap in take_all makes the abandoning thread's
        // writes to the segments visible; from then on they are ours.
        unsafe {
            if (*(*heap).state.arena).abandoned.is_empty_hint() {
                return false;
            }
            Heap::adopt_chain(heap, (*(*heap).state.arena).abandoned.take_all(), now)
        }
    }

    /// Adopts the chain of segments from `first` (null: none), linked
    /// through their abandoned-list links. Returns whether there were any.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// the chain was taken from the arena's abandoned list and is on no list.
    unsafe fn adopt_chain(heap: *mut Heap, first: *mut Segment, now: u64) -> bool {
        let mut seg = first;
        // SAFETY: the segments are the caller's (taken from the list).
        unsafe {
            while !seg.is_null() {
                let next = Segment::next(seg);
                Heap::adopt_segment(heap, seg, now);
                stats::SEGMENTS_ADOPTED.add(1);
                seg = next;
            }
        }
        !first.is_null()
    }

    /// Adopts abandoned segments for an allocation of `class` that found
    /// no room in the heap: every segment whose blocks have all come back
    /// (so adopting it releases it), and of those that can serve `class`
    /// (see `Segment::survey`) the one with the most blocks out. The
    /// others go back on the list at once, for the threads starting
    /// alongside this one: a thread that adopted the whole list left the
    /// others none, so each mapped a fresh segment, left its block there at
    /// exit, and under thread churn the abandoned segments (and the address
    /// space) grew with the number of threads that had lived, not with the
    /// blocks still live. Returns whether it adopted any.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES`.
    pub(super) unsafe fn adopt_for(heap: *mut Heap, class: usize, now: u64) -> bool {
        // SAFETY: as in `adopt`: the taken segments are ours until pushed
        // back (Release) or adopted.
        unsafe {
            let arena = (*heap).state.arena;
            if !Heap::wait_for_abandoned(arena) {
                return false;
            }
            // Sort the list first and put back what stays at once: while
            // this thread holds the list, others starting find it empty.
            (*arena).sorting.fetch_add(1, Ordering::Relaxed);
            let kind = find::kind_of(class);
            let mut take = Chain::EMPTY;
            let mut keep = Chain::EMPTY;
            // Of the segments with room, the one with the most blocks out,
            // so blocks gather in few segments and the others drain and are
            // released (taking the first, the last abandoned, spread the
            // live blocks of a churn over every segment it ever made).
            let (mut best, mut best_live) = (ptr::null_mut::<Segment>(), 0);
            let mut seg = (*arena).abandoned.take_all();
            while !seg.is_null() {
                let next = Segment::next(seg);
                let (live, room) = Segment::survey(seg, kind, class);
                if live == 0 {
                    take.push(seg);
                } else if room && (best.is_null() || live > best_live) {
                    if !best.is_null() {
                        keep.push(best);
                    }
                    (best, best_live) = (seg, live);
                } else {
                    keep.push(seg);
                }
                seg = next;
            }
            if !best.is_null() {
                take.push(best);
            }
            if let Some((first, last)) = keep.ends() {
                (*arena).abandoned.push_chain(first, last);
            }
            (*arena).sorting.fetch_sub(1, Ordering::Relaxed);
            Heap::adopt_chain(heap, take.first, now)
        }
    }

    /// Whether the abandoned list holds segments, waiting (a bounded spin,
    /// then yields) while another thread holds the list to sort it: a
    /// thread that found it empty then would map a fresh segment while
    /// segments with room are about to come back. Measured on the thread-churn test
    /// (`tests/memory/thread_churn.rs`): without the wait, a debug build
    /// passed the test's 128 MiB within 5,000 thread lifetimes.
    ///
    /// # Safety
    /// `arena` is live.
    unsafe fn wait_for_abandoned(arena: *const Arena) -> bool {
        // SAFETY: the arena is live (caller's contract).
        unsafe {
            for i in 0..SORT_WAIT_SPINS + SORT_WAIT_YIELDS {
                if !(*arena).abandoned.is_empty_hint() {
                    return true;
                }
                if (*arena).sorting.load(Ordering::Relaxed) == 0 {
                    return false;
                }
                if i < SORT_WAIT_SPINS || MODEL_CHECKING {
                    spin_wait();
                } else {
                    pal::yield_now();
                }
            }
            !(*arena).abandoned.is_empty_hint()
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// was just taken from the arena's abandoned list.
    pub(super) unsafe fn adopt_segment(heap: *mut Heap, seg: *mut Segment, now: u64) {
        // SAFETY: the segment was acquired from the abandoned list.
        unsafe {
            Segment::set_owner(seg, Heap::owner_id(heap));
            Heap::link_segment(heap, seg);
            (*heap).state.retained += Segment::retained(seg);
            (*heap).state.in_use += Segment::local(seg, |l| usize::from(l.used_pages)) << (*seg).page_shift;
            for i in 1..(*seg).page_count as usize {
                let page = Segment::page(seg, i);
                if !(*page).local(|l| l.in_use) {
                    continue;
                }
                (*page).collect();
                count(heap, page);
                let (class, used, room) = (*page).local(|l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                    (l.class as usize, l.used(), l.has_room())
                });
                mark_class(&mut (*heap).state.classes_used, class);
                if used == 0 {
                    Heap::retire_page(heap, page, now);
                } else if room {
                    (*page).set_role(Role::Queued);
                    queue_push_back(addr_of_mut!((*heap).queues[class]), page);
                } else {
                    (*page).set_role(Role::Full);
                    queue_push_back(addr_of_mut!((*heap).state.full), page);
                }
            }
            if Segment::local(seg, |l| l.used_pages == 0) {
                Heap::release_segment(heap, seg, now, SEGMENT_CACHE_MAX);
            } else if Segment::local(seg, |l| l.free_mask != 0) {
                (*heap).state.seg_hint[(*seg).kind.slab_index()] = seg;
            }
        }
    }

    /// Releases a heap whose thread is exiting: empty pages are retired,
    /// cached large objects unmapped, every segment (empty ones for reuse,
    /// others with their live blocks) abandoned to the arena, and the heap's
    /// memory put in the arena's pool.
    ///
    /// # Safety
    /// `heap` was made by `create`, is owned by the calling thread, and is
    /// never used again.
    pub(crate) unsafe fn abandon(heap: *mut Heap) {
        // SAFETY: the calling thread owns everything reached until it
        // publishes a segment to the arena (Release).
        unsafe {
            // Blocks of other heaps held for a batch go to their pages.
            Heap::flush_remote(heap);
            let now = os::now_ms();
            for class in classes_in((*heap).state.classes_used) {
                Heap::set_current(heap, class, addr_of_mut!((*heap).empty));
                Heap::drain_queue(heap, addr_of_mut!((*heap).queues[class]), now);
            }
            (*heap).state.classes_used = [0; CLASS_WORDS];
            Heap::drain_queue(heap, addr_of_mut!((*heap).state.full), now);
            Heap::spill_large_cache(heap, os::now_ms());
            Heap::flush_large_counts(heap);
            // Empty cached segments go to the arena's pool, for the next
            // heap to reuse instead of mapping fresh ones.
            let mut c = (*heap).state.cache;
            while !c.is_null() {
                let next = Segment::local(c, |l| l.next);
                (*(*heap).state.arena).give_empty(c);
                c = next;
            }
            (*heap).state.cache = ptr::null_mut();
            (*heap).state.cache_len = 0;
            let arena = (*heap).state.arena;
            let delay = (*heap).state.purge_delay_ms;
            let mut seg = (*heap).state.segments;
            while !seg.is_null() {
                let next = Segment::local(seg, |l| {
                    l.sparse_mask = 0;
                    l.next
                });
                let early = fault::injected(Fault::AbandonBeforeDone);
                if early {
                    (*arena).abandoned.push(seg);
                }
                Segment::purge_free_pages(seg, now, delay);
                Segment::local(seg, |l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                });
                Segment::set_owner(seg, ptr::null_mut());
                if !early {
                    (*arena).abandoned.push(seg);
                }
                stats::SEGMENTS_ABANDONED.add(1);
                seg = next;
            }
            (*heap).state.segments = ptr::null_mut();
            (*heap).checked = ptr::null_mut();
            (*heap).state.sparse_pages = 0;
            (*heap).state.live = false;
            // Nothing reads the heap any more: its thread's slot no longer
            // names it, and other threads only compare its address.
            (*arena).give_heap(heap.cast(), HEAP_MAP_SIZE);
        }
    }

    /// Moves the counts of every page of the heap to the process-wide
    /// statistics (for a reader on the heap's own thread).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap).
    pub(crate) unsafe fn flush_counts(heap: *mut Heap) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            if !(*heap).state.live {
                return;
            }
            Heap::flush_large_counts(heap);
            let full = addr_of_mut!((*heap).state.full);
            let queues = classes_in((*heap).state.classes_used).map(move |c| addr_of_mut!((*heap).queues[c]));
            for q in queues.chain(core::iter::once(full)) {
                let mut page = (*q).first;
                while !page.is_null() {
                    // Blocks other threads freed count once collected.
                    (*page).collect();
                    count(heap, page);
                    page = (*page).local(|l| l.next);
                }
            }
        }
    }

    /// The calling thread's byte counters (allocated, freed), after
    /// [`Heap::flush_counts`]; zeros for the empty heap.
    ///
    /// # Safety
    /// As for [`Heap::flush_counts`].
    pub(crate) unsafe fn thread_counters(heap: *mut Heap) -> (u64, u64) {
        // SAFETY: forwarded; the state is the calling thread's.
        unsafe {
            Heap::flush_counts(heap);
            ((*heap).state.thread_allocated, (*heap).state.thread_freed)
        }
    }

    /// Collects every page of queue `q`, retiring the unused ones (and
    /// releasing segments left empty); the rest stay in use, unlinked.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `q`
    /// is one of its queues.
    pub(super) unsafe fn drain_queue(heap: *mut Heap, q: *mut PageQueue, now: u64) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            let mut page = (*q).first;
            while !page.is_null() {
                let next = (*page).local(|l| l.next);
                (*page).collect();
                count(heap, page);
                (*page).set_role(Role::Queued);
                let used = (*page).local(|l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                    l.used()
                });
                if used == 0 {
                    Heap::retire_and_release(heap, page, now, usize::MAX);
                }
                page = next;
            }
            *q = EMPTY_QUEUE;
        }
    }
}

/// A chain of segments being sorted, linked through their abandoned-list
/// links in the order pushed.
struct Chain {
    first: *mut Segment,
    last: *mut Segment,
}

impl Chain {
    const EMPTY: Chain = Chain {
        first: ptr::null_mut(),
        last: ptr::null_mut(),
    };

    /// Appends `seg`, which the caller owns and which is on no list.
    ///
    /// # Safety
    /// As above.
    unsafe fn push(&mut self, seg: *mut Segment) {
        // SAFETY: the caller owns `seg` and the chain's segments.
        unsafe {
            Segment::set_next(seg, ptr::null_mut());
            if self.first.is_null() {
                self.first = seg;
            } else {
                Segment::set_next(self.last, seg);
            }
        }
        self.last = seg;
    }

    /// The first and last segment, if any.
    fn ends(&self) -> Option<(*mut Segment, *mut Segment)> {
        (!self.first.is_null()).then_some((self.first, self.last))
    }
}
