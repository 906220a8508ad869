//! Decay: the periodic maintenance of the slow path, and giving memory
//! back to the OS (retired pages after the purge delay, big free blocks,
//! the free OS pages of sparse pages).

use super::*;
use crate::base::sync::MODEL_CHECKING;
use crate::mem::retain;

/// The cap grows with the heap's pages in use, to this share of them
/// (`retain_cap`).
const RETAIN_SHARE: usize = 2;

/// The highest the floor of the cap rises (`State::retain_floor`) in a
/// heap that keeps faulting in again the pages it gave back; its delay
/// ([`decay_delay`]) rises with it, to eight times the setting.
const RETAIN_CEILING: usize = 64 << 20;
/// Given-back pages set up again within this many purge delays of the heap
/// giving pages back count towards raising its floor (`Heap::note_refault`):
/// the longest delay the heap can learn, so a refill that much later would
/// have found its pages kept at the ceiling.
const REFAULT_WINDOW_DELAYS: u64 = (RETAIN_CEILING / RETAIN_MAX) as u64;

/// The retired bytes a heap keeps backed: its floor (`State::retain_floor`,
/// [`RETAIN_MAX`] until the heap is seen faulting in again what the cap
/// gave back), while the heap is younger than the purge delay the floor
/// the process has learned (`shared`, from `mem::retain`: the same, for
/// the pages any heap's cap gave back and another set up again, as under
/// thread churn, where no heap lives long enough to learn; a heap that
/// has lived longer goes by what it learned itself, so that long-lived
/// threads do not each keep what churning ones need), or a share of its
/// pages in use, whichever is more. A fixed
/// cap was purge churn in a steady workload with more pages in flux than
/// the cap: pages given back each time it was passed and faulted in again
/// a moment later (see docs/MEMORY.md and `tests/memory/purge_churn.rs`,
/// mixed sizes). A burst freed leaves little in use, so the cap falls back
/// to the floor.
#[inline]
pub(super) fn retain_cap(state: &State, shared: usize, now: u64) -> usize {
    let floor = if now.saturating_sub(state.created_ms) < state.purge_delay_ms {
        state.retain_floor.max(shared)
    } else {
        state.retain_floor
    };
    floor.max(state.in_use / RETAIN_SHARE)
}

/// The purge delay the heap's own memory waits out at maintenance (its
/// retired pages, cached segments, big free blocks and sparse pages, and
/// the arena pool's segments when it is the one maintaining): the setting
/// (`delay`; 0 gives everything back at once) times the floor's multiple
/// of [`RETAIN_MAX`], so 1x until the heap is seen faulting in again what
/// it gave back, up to 8x. A worker that serves a burst, frees everything
/// and waits longer than the delay for the next gave all of it back as it
/// waited and faulted it in again at the next burst
/// (`tests/memory/purge_churn.rs`, the paused rounds; the benchmark's
/// interleaved rounds, which leave each allocator idle while the others
/// run: the `mixed_sizes` row ran at 0.54 of tcmalloc's speed for it).
fn decay_delay(state: &State, delay: u64) -> u64 {
    delay * (state.retain_floor / RETAIN_MAX) as u64
}

impl Heap {
    /// Periodic work from the slow path: adopt abandoned segments, collect
    /// full pages, return retired pages and cached segments that waited long
    /// enough to the OS.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn maintain(heap: *mut Heap, now: u64) {
        // SAFETY: forwarded.
        unsafe { Heap::maintain_after(heap, now, (*heap).state.purge_delay_ms) }
    }

    /// Takes a changed purge delay setting (`api::options`) from the slow
    /// path, with the next maintenance pass moved to the new interval: a
    /// relaxed load and a compare.
    ///
    /// # Safety
    /// As for [`Heap::maintain`].
    #[inline]
    pub(super) unsafe fn follow_purge_delay(heap: *mut Heap, now: u64) {
        if MODEL_CHECKING {
            return;
        }
        let delay = config::purge_delay_ms().max(1);
        // SAFETY: the heap's state is the calling thread's.
        unsafe {
            if delay != (*heap).state.purge_delay_ms {
                (*heap).state.purge_delay_ms = delay;
                if (*heap).state.next_maintenance_ms != 0 {
                    (*heap).state.next_maintenance_ms = now + maintenance_interval(delay);
                }
            }
        }
    }

    /// Gives back now everything the heap can reach: maintenance with no
    /// delay (every abandoned segment adopted and its blocks freed since
    /// collected, every retired page, cached segment, big free block and
    /// sparse page purged or released), then the heap's counts moved to the
    /// statistics.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(crate) unsafe fn collect(heap: *mut Heap, now: u64) {
        // SAFETY: forwarded.
        unsafe {
            Heap::maintain_after(heap, now, 0);
            Heap::flush_counts(heap);
        }
    }

    /// [`Heap::maintain`] with purge delay `delay`.
    ///
    /// # Safety
    /// As for [`Heap::maintain`].
    unsafe fn maintain_after(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: everything reached belongs to `heap`.
        unsafe {
            (*heap).state.next_maintenance_ms = now + maintenance_interval(delay);
            // Blocks of other heaps held for a batch go to their pages.
            Heap::flush_remote(heap);
            // The heap's own memory (and the pool's, as it maintains it)
            // waits out the delay the heap learned; its large-object cache
            // and the span cache go by the setting.
            let kept = decay_delay(&(*heap).state, delay);
            // Segments left by exited threads: their blocks freed since can
            // only go back to the OS once some heap owns them again.
            Heap::adopt(heap, now);
            Heap::scan_full(heap, usize::MAX, now);
            Heap::retire_unused_current(heap, now);
            Heap::retire_unused_queued(heap, now);
            Heap::relax_retain_floor(heap, now, delay);
            (*(*heap).state.arena).retain.relax(now, delay);
            Heap::trim_large_cache(heap, now, delay);
            (*(*heap).state.arena).spans.trim(now, delay);
            Heap::purge_free_blocks(heap, now, kept);
            Heap::purge_sparse(heap, None, now, kept);
            Heap::flush_large_counts(heap);
            let mut seg = (*heap).state.segments;
            while !seg.is_null() {
                let next = Segment::local(seg, |l| l.next);
                let released = Segment::purge_free_pages(seg, now, kept);
                (*heap).state.retained = (*heap).state.retained.saturating_sub(released);
                if released != 0 {
                    (*heap).state.gave_back_ms = now.max(1);
                }
                seg = next;
            }
            let mut prev: *mut Segment = ptr::null_mut();
            let mut c = (*heap).state.cache;
            while !c.is_null() {
                let (next, at) = Segment::local(c, |l| (l.next, l.emptied_at));
                if now.saturating_sub(at) >= kept {
                    if prev.is_null() {
                        (*heap).state.cache = next;
                    } else {
                        Segment::local(prev, |l| l.next = next);
                    }
                    (*heap).state.cache_len -= 1;
                    (*heap).state.retained = (*heap).state.retained.saturating_sub(Segment::retained(c));
                    (*(*heap).state.arena).give_empty(c);
                } else {
                    prev = c;
                }
                c = next;
            }
            (*(*heap).state.arena).purge_pool(now, kept);
        }
    }

    /// Retires the current pages that have no block in use and were not
    /// allocated from since the last maintenance. A current page is kept
    /// while unused so an alloc/free loop does not retire and set up a page
    /// on every pair; a class the program stopped using gives its page
    /// (and the dirty free blocks in it) back one interval later. Measured
    /// on the benchmark's mixed-size churn, whose program frees everything
    /// at the end: 448 classes' current pages (the count then) kept 34 MiB after 300 ms of
    /// light allocation.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn retire_unused_current(heap: *mut Heap, now: u64) {
        // SAFETY: current pages belong to `heap`; a page is retired only
        // when `used() == 0` after collecting it, and is taken off its
        // queue and out of both tables first.
        unsafe {
            let sentinel = addr_of_mut!((*heap).empty);
            for class in classes_in((*heap).state.classes_used) {
                let page = (*heap).pages[class];
                if page == sentinel {
                    continue;
                }
                (*page).collect();
                let (used, allocs) = (*page).local(|l| (l.used(), l.allocs()));
                if used != 0 || allocs != 0 {
                    // (Its counts go to the statistics, so `allocs` tells
                    // at the next maintenance whether it was used since.)
                    count(heap, page);
                    continue;
                }
                Heap::set_current(heap, class, sentinel);
                (*page).set_role(Role::Queued);
                Heap::retire_unused(heap, addr_of_mut!((*heap).queues[class]), page, now);
            }
        }
    }

    /// Collects every queued page that is not current and retires those
    /// whose blocks have all come back. Without it, a page on the queue of
    /// a class its heap no longer allocates kept its blocks' remote frees
    /// on its list and its segment forever: a long-lived thread that
    /// allocates little (one that only starts worker threads) adopts the
    /// segments exiting threads abandon, whose blocks the workers then
    /// free, and the address space grew with the number of threads that
    /// had lived (caught by the soak's mapped bound, `examples/soak.rs`;
    /// `tests/memory/thread_churn.rs` has the pattern alone).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn retire_unused_queued(heap: *mut Heap, now: u64) {
        // SAFETY: queued pages belong to `heap`; a page is retired only when
        // `used() == 0` after collecting it, taken off its queue first, and
        // the walk has read its successor before.
        unsafe {
            for class in classes_in((*heap).state.classes_used) {
                let q = addr_of_mut!((*heap).queues[class]);
                let current = (*heap).pages[class];
                let mut page = (*q).first;
                while !page.is_null() {
                    let next = (*page).local(|l| l.next);
                    if page != current {
                        (*page).collect();
                        if (*page).local(|l| l.used()) == 0 {
                            Heap::retire_unused(heap, q, page, now);
                        }
                    }
                    page = next;
                }
            }
        }
    }

    /// Gives back the memory of big free blocks (classes of at least
    /// `PURGE_BLOCK_MIN` bytes) in the pages the heap allocates from that
    /// have stayed free for `delay` ms at `now` (with `delay` 0, all of
    /// them; see `Page::purge_free_blocks`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn purge_free_blocks(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            for class in classes_in((*heap).state.classes_used).filter(|&c| c >= class_of(PURGE_BLOCK_MIN)) {
                let mut page = (*heap).queues[class].first;
                while !page.is_null() {
                    (*page).purge_free_blocks(now, delay);
                    page = (*page).local(|l| l.next);
                }
            }
        }
    }

    /// Lists `page` for `purge_sparse` if it is a queued page whose use
    /// fell below half since it was last allocated from (see
    /// `Page::take_sparse_watch`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages, in use.
    pub(super) unsafe fn note_sparse(heap: *mut Heap, page: *mut Page) {
        // SAFETY: forwarded; the page's segment is owned by `heap`.
        unsafe {
            if (*page).take_sparse_watch() {
                let seg = segment_of(page.cast());
                let bit = 1u64 << Segment::page_index(seg, page);
                Segment::local(seg, |l| l.sparse_mask |= bit);
                (*page).local(|l| l.since = 0);
                (*heap).state.sparse_pages += 1;
            }
        }
    }

    /// Gives back the free OS pages of the pages listed as sparse (see
    /// `Page::purge_sparse`), except those of class `keep` (the class about
    /// to be carved), which stay listed: that class is allocating, so its
    /// free blocks are about to be reused, and giving their memory back
    /// would only fault it in again. (Measured on a producer/consumer of
    /// 64-byte blocks freed by another thread, where the heap carves the
    /// class's holes again all the time: a 64 KiB `madvise` per 4,000
    /// blocks or so when the pages of the class being carved were purged
    /// too.) Walks the segment list only while pages are listed.
    ///
    /// With a `delay` (maintenance, at time `now`), only pages that have
    /// been sparse that long are given back (the age counts from the first
    /// call that sees a page listed: listing reads no clock), so a page that
    /// empties and refills at a steady pace is not given back and faulted in
    /// again; carving passes no delay (fresh memory is being faulted in, so
    /// free memory goes back at once).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    pub(super) unsafe fn purge_sparse(heap: *mut Heap, keep: Option<usize>, now: u64, delay: u64) {
        // SAFETY: the listed pages are pages of the heap's segments (a page
        // is unlisted when retired, and abandoning a heap clears the lists).
        unsafe {
            let mut seg = (*heap).state.segments;
            while !seg.is_null() && (*heap).state.sparse_pages != 0 {
                let (next, mask) = Segment::local(seg, |l| (l.next, core::mem::take(&mut l.sparse_mask)));
                for i in ones(mask) {
                    let page = Segment::page(seg, i);
                    let (class, waited) = (*page).local(|l| {
                        if delay > 0 && l.since == 0 {
                            l.since = now.max(1);
                        }
                        (l.class as usize, now.saturating_sub(l.since) >= delay)
                    });
                    // The class being carved keeps its pages; otherwise a
                    // page waits until it has been sparse for `delay`.
                    if Some(class) == keep || !waited {
                        Segment::local(seg, |l| l.sparse_mask |= 1u64 << i);
                        continue;
                    }
                    (*heap).state.sparse_pages -= 1;
                    if (*heap).pages[class] != page {
                        (*page).collect();
                        (*page).purge_sparse();
                    }
                }
                seg = next;
            }
        }
    }

    /// Gives every retired page of the heap's owned and cached segments back
    /// to the OS now, whatever the delay (the retained cap was passed), and
    /// starts watching for those pages being set up again, by this heap
    /// ([`Heap::note_refault`]) and by any (`mem::retain`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    #[cold]
    pub(super) unsafe fn purge_retained(heap: *mut Heap, now: u64) {
        // SAFETY: the segments reached belong to `heap`.
        unsafe {
            for list in [(*heap).state.segments, (*heap).state.cache] {
                let mut seg = list;
                while !seg.is_null() {
                    Segment::purge_free_pages(seg, now, 0);
                    seg = Segment::local(seg, |l| l.next);
                }
            }
            (*heap).state.retained = 0;
            (*heap).state.gave_back_ms = now.max(1);
            (*heap).state.refaulted = 0;
            (*(*heap).state.arena).retain.note_cap_purge(now);
        }
    }

    /// A given-back page of `size` bytes set up again after the heap gave
    /// retired pages back (the cap, or maintenance after the delay): once
    /// half the floor has come back within [`REFAULT_WINDOW_DELAYS`] purge
    /// delays, the heap is refilling what it just emptied (a workload that
    /// frees everything and starts again, at once or after a pause), and
    /// the floor doubles, and with it the delay its memory waits out
    /// ([`decay_delay`]), so that the next round keeps it.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    #[cold]
    pub(super) unsafe fn note_refault(heap: *mut Heap, size: usize) {
        // SAFETY: the state is the calling thread's.
        let s = unsafe { &mut (*heap).state };
        s.refaulted += size;
        if s.refaulted < s.retain_floor / 2 {
            return;
        }
        let now = os::now_ms();
        if now.saturating_sub(s.gave_back_ms) <= s.purge_delay_ms * REFAULT_WINDOW_DELAYS {
            s.retain_floor = (s.retain_floor * 2).min(RETAIN_CEILING);
            s.floor_ms = now;
        }
        s.gave_back_ms = 0;
        s.refaulted = 0;
    }

    /// Halves a raised floor of the retained cap once ten of the heap's
    /// delays ([`decay_delay`] of `delay`) have passed since it last
    /// changed (maintenance, at `now`).
    ///
    /// # Safety
    /// As for [`Heap::note_refault`].
    unsafe fn relax_retain_floor(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: the state is the calling thread's.
        let s = unsafe { &mut (*heap).state };
        if let Some(lowered) = retain::relaxed(s.retain_floor, s.floor_ms, now, decay_delay(s, delay)) {
            s.retain_floor = lowered;
            s.floor_ms = now;
        }
    }
}
