//! Segments: 4 MiB chunks aligned to 4 MiB, so `free(p)` finds the header of
//! the chunk holding `p` by masking the address. No global table, no lock.
//!
//! * small segments: 64 pages of 64 KiB (blocks up to 8 KiB);
//! * medium segments: 8 pages of 512 KiB (blocks up to 64 KiB);
//! * large segments: one object (see `large`), any length.
//!
//! Page 0 of a small or medium segment holds the header and the page
//! descriptors and is never handed out, so every page starts on a multiple
//! of its own size and power-of-two blocks are naturally aligned.
//!
//! The header has one 128-byte descriptor slot per 64 KiB slice in every
//! segment kind, slot `i` at byte `128 i` of the segment, so the slot of the
//! slice holding `p` is a mask, a shift and a mask of `p` ([`slot_of`]),
//! which is all the free fast path computes. A page's descriptor is the
//! slot of its first slice. Slot 0 is the segment header itself, whose
//! first word (`Segment::no_owner`) stands where a descriptor's `owner`
//! is and is always null; the other slots of a medium page, and the slot
//! an over-aligned large object's address falls in, have a null `owner`
//! too. A null owner sends a free to the slow path, which finds the page
//! with the segment's own page size ([`Segment::page_of`]).

use super::layout::{Owner, MEDIUM_PAGE_SHIFT, SEGMENT_SHIFT, SEGMENT_SIZE, SMALL_PAGE_SHIFT};
use super::os;
use super::page::Page;
use crate::base::bits::ones;
use crate::base::sync::{plain, AtomicPtr, Ordering, UnsafeCell, MODEL_CHECKING};
use crate::ds::report;
use crate::ds::stack::Linked;
use crate::ds::stats;
use core::mem::size_of;
use core::ptr;

const SEGMENT_MASK: usize = SEGMENT_SIZE - 1;
/// The most pages a segment has (small segments), page 0 included.
#[cfg_attr(not(feature = "checked"), allow(dead_code))]
pub(crate) const MAX_PAGES: usize = SEGMENT_SIZE >> SMALL_PAGE_SHIFT;
/// log2 of the bytes each descriptor slot covers.
const SLICE_SHIFT: u32 = SMALL_PAGE_SHIFT;
/// Descriptor slots in a segment header (slot 0 is the header itself).
const SLOTS: usize = SEGMENT_SIZE >> SLICE_SHIFT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SegmentKind {
    Small = 0,
    Medium = 1,
    Large = 2,
}

impl SegmentKind {
    /// The kinds whose segments hold slab pages (small and medium).
    pub(crate) const SLAB_KINDS: usize = 2;

    /// The index of a slab kind, below [`SegmentKind::SLAB_KINDS`].
    #[inline]
    pub(crate) fn slab_index(self) -> usize {
        debug_assert!(self != SegmentKind::Large, "large segments hold no pages");
        self as usize
    }

    pub(crate) fn page_shift(self) -> u32 {
        match self {
            SegmentKind::Small => SMALL_PAGE_SHIFT,
            SegmentKind::Medium => MEDIUM_PAGE_SHIFT,
            SegmentKind::Large => SEGMENT_SHIFT as u32,
        }
    }
}

/// The part of a segment only its owning heap touches.
pub(crate) struct SegmentLocal {
    /// Bit `i` set: page `i` is free (page 0 is never free).
    pub(crate) free_mask: u64,
    /// Pages in use (at most 63).
    pub(crate) used_pages: u16,
    /// While pooled: the OS pages of its retired pages charged to the
    /// arena's budget of resident pooled memory (see
    /// `Arena::pool_resident`; at most a segment's 1,024). Beside
    /// `used_pages`, so the header keeps its size.
    pub(crate) pool_charge: u16,
    /// Bytes of its pages given back to the OS and not used since (at most
    /// a segment's 4 MiB).
    pub(crate) decommitted: u32,
    /// Links in the owning heap's segment list (or its cache of empty ones).
    pub(crate) prev: *mut Segment,
    pub(crate) next: *mut Segment,
    /// When the segment became empty (for the cache of empty segments).
    pub(crate) emptied_at: u64,
    /// Bit `i` set: page `i` became sparse and waits for the owning heap's
    /// `purge_sparse` pass (see `Page::take_sparse_watch`).
    pub(crate) sparse_mask: u64,
}

/// The mask of the pages of a segment of `count` pages that hold blocks:
/// pages 1..count (page 0 is the header).
const fn page_mask(count: u32) -> u64 {
    (u64::MAX >> (64 - count)) & !1
}

impl SegmentLocal {
    /// The state of a segment that is set up anew, with free pages `free_mask`.
    const fn new(free_mask: u64) -> SegmentLocal {
        SegmentLocal {
            free_mask,
            used_pages: 0,
            pool_charge: 0,
            decommitted: 0,
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            emptied_at: 0,
            sparse_mask: 0,
        }
    }
}

#[repr(C)]
pub(crate) struct Segment {
    /// Always null: read as the `owner` of descriptor slot 0 (see the
    /// module docs), which is no page's, so frees of addresses in the
    /// first 64 KiB of a segment (large objects; bad frees into the header)
    /// take the slow path. Same type and offset as `Page::owner`.
    no_owner: AtomicPtr<Owner>,
    /// The heap that owns the pages; null while abandoned, and for large
    /// objects. Compared (never dereferenced) by freeing threads.
    pub(crate) owner: AtomicPtr<Owner>,
    pub(crate) kind: SegmentKind,
    pub(crate) page_shift: u32,
    pub(crate) page_count: u32,
    /// Bytes mapped for this segment (large objects can exceed 4 MiB).
    pub(crate) map_size: usize,
    /// Large objects: usable bytes from the object start.
    pub(crate) large_usable: usize,
    /// Large objects: set when placed, cleared by the free that ends it
    /// (a swap, so a second free is caught whichever thread makes it).
    large_live: plain::AtomicBool,
    pub(crate) local: UnsafeCell<SegmentLocal>,
    /// Link in the arena's list of abandoned segments.
    abandoned_next: UnsafeCell<*mut Segment>,
    /// Checked mode: the segment's map of live blocks (see `check`); null
    /// otherwise. Kept when the segment is set up anew.
    pub(crate) check_map: AtomicPtr<u8>,
}

// SAFETY: the shared fields are atomic or immutable after set-up; `local`
// follows the ownership protocol (owner thread, or the adopter after the
// abandoned list's Acquire).
unsafe impl Sync for Segment {}
// SAFETY: as above.
unsafe impl Send for Segment {}

const _: () = assert!(
    size_of::<Segment>() <= size_of::<Page>(),
    "the segment header fits in descriptor slot 0"
);

// (Not under loom, whose types are larger.)
const _: () = {
    // The descriptors of a small/medium segment fit in its first page.
    assert!(MODEL_CHECKING || SLOTS * size_of::<Page>() <= 1 << SMALL_PAGE_SHIFT);
    assert!(MODEL_CHECKING || size_of::<Page>() == 128, "slots index by shift");
};

/// The segment containing `p`.
#[inline(always)]
pub(crate) fn segment_of(p: *const u8) -> *mut Segment {
    ((p as usize) & !SEGMENT_MASK) as *mut Segment
}

/// The descriptor slot of the 64 KiB slice holding `p`: the descriptor of
/// `p`'s page when `p` lies in a small page or the first slice of a medium
/// page; otherwise a slot whose `owner` is null (see the module docs).
/// Only the slot's `owner` may be read before that is known.
///
/// # Safety
/// None to call; the slot is only readable when `p` lies in a live segment.
#[inline(always)]
pub(crate) fn slot_of(p: *const u8) -> *mut Page {
    let slot = ((p as usize) & SEGMENT_MASK) >> SLICE_SHIFT;
    ((p as usize & !SEGMENT_MASK) | (slot * size_of::<Page>())) as *mut Page
}

impl Segment {
    /// The descriptor slot `i`.
    ///
    /// # Safety
    /// `this` is a live segment header and `0 < i < SLOTS`.
    #[inline(always)]
    unsafe fn slot(this: *mut Segment, i: usize) -> *mut Page {
        debug_assert!(i > 0 && i < SLOTS);
        // SAFETY: the descriptor slots lie inside page 0 (see the assertion on `SLOTS` above).
        unsafe { this.cast::<Page>().add(i) }
    }

    /// The descriptor of page `i` (the slot of its first slice).
    ///
    /// # Safety
    /// `this` is a live small or medium segment and `0 < i < page_count`
    /// (page 0 holds the header and has no descriptor).
    #[inline(always)]
    pub(crate) unsafe fn page(this: *mut Segment, i: usize) -> *mut Page {
        // SAFETY: page i's first slice is slot i << (page_shift - SLICE_SHIFT) < SLOTS.
        unsafe { Segment::slot(this, i << ((*this).page_shift - SLICE_SHIFT)) }
    }

    /// The index of the page `page` describes.
    ///
    /// # Safety
    /// `this` is a live small or medium segment and `page` one of its pages.
    #[inline]
    pub(crate) unsafe fn page_index(this: *mut Segment, page: *mut Page) -> usize {
        // SAFETY: page_shift is immutable while the segment lives.
        let per_page = unsafe { (*this).page_shift - SLICE_SHIFT };
        ((page as usize - this as usize) / size_of::<Page>()) >> per_page
    }

    /// Records `owner` (null: none) as the owner of the segment and of
    /// each of its pages.
    ///
    /// # Safety
    /// `this` is a live small or medium segment, and the caller may give it
    /// away: it owns it, or it is adopting it.
    pub(crate) unsafe fn set_owner(this: *mut Segment, owner: *mut Owner) {
        // SAFETY: live segment (caller's contract); page_count is immutable.
        unsafe {
            (*this).owner.store(owner, Ordering::Relaxed);
            for i in 1..(*this).page_count as usize {
                (*Segment::page(this, i)).owner.store(owner, Ordering::Relaxed);
            }
        }
    }

    /// The descriptor of the page holding `p`. Stops the process with a
    /// message if `p` lies in page 0, the header, which holds no blocks (a
    /// pointer this allocator never returned).
    ///
    /// # Safety
    /// `this` is a live small or medium segment and `p` points into it.
    #[inline(always)]
    pub(crate) unsafe fn page_of(this: *mut Segment, p: *const u8) -> *mut Page {
        // SAFETY: page_shift is immutable while the segment lives and the
        // index is below page_count because p lies in the segment.
        unsafe {
            let i = (p as usize - this as usize) >> (*this).page_shift;
            if i == 0 {
                report::fatal(format_args!(
                    "{p:p} is not a block: the address lies in the header of one of the allocator's segments"
                ));
            }
            Segment::page(this, i)
        }
    }

    /// Writes a fresh header for a small or medium segment into the mapping
    /// at `base` and returns it, owned by `owner`. With `dirty` false the
    /// page memory is fresh from the OS (zero); with `dirty` true nothing is
    /// assumed about it.
    ///
    /// # Safety
    /// `base` maps `SEGMENT_SIZE` bytes aligned to `SEGMENT_SIZE` that
    /// nothing else refers to.
    pub(crate) unsafe fn init(base: *mut u8, kind: SegmentKind, owner: *mut Owner, dirty: bool) -> *mut Segment {
        debug_assert!(kind != SegmentKind::Large);
        let shift = kind.page_shift();
        let count = (SEGMENT_SIZE >> shift) as u32;
        let seg = base.cast::<Segment>();
        // SAFETY: the caller hands over the whole mapping; the header and the
        // descriptors lie inside page 0. A segment set up anew (`dirty`) had
        // a header, whose live-block map (all clear: nothing is live) stays.
        unsafe {
            let check_map = if dirty {
                (*seg).check_map.load(Ordering::Relaxed)
            } else {
                ptr::null_mut()
            };
            seg.write(Segment {
                no_owner: AtomicPtr::new(ptr::null_mut()),
                owner: AtomicPtr::new(owner),
                kind,
                page_shift: shift,
                page_count: count,
                map_size: SEGMENT_SIZE,
                large_usable: 0,
                large_live: plain::AtomicBool::new(false),
                local: UnsafeCell::new(SegmentLocal::new(page_mask(count))),
                abandoned_next: UnsafeCell::new(ptr::null_mut()),
                check_map: AtomicPtr::new(check_map),
            });
            // Every slot past the header's gets a descriptor; those heading
            // no page keep a null owner for good.
            let per_page = shift - SLICE_SHIFT;
            for slot in 1..SLOTS {
                let heads = slot & ((1 << per_page) - 1) == 0;
                let page = Segment::slot(seg, slot);
                let page_owner = if heads { owner } else { ptr::null_mut() };
                page.write(Page::new(base.add(slot << SLICE_SHIFT), page_owner));
                if dirty && heads {
                    (*page).local(|l| l.dirty = 1 << shift);
                }
            }
        }
        seg
    }

    /// Writes the header of a large-object segment.
    ///
    /// # Safety
    /// `base` maps `map_size` bytes aligned to `SEGMENT_SIZE` that nothing
    /// else refers to.
    pub(crate) unsafe fn init_large(base: *mut u8, map_size: usize, usable: usize) -> *mut Segment {
        let seg = base.cast::<Segment>();
        // SAFETY: the caller hands over the mapping, which is larger than
        // the header.
        unsafe {
            seg.write(Segment {
                no_owner: AtomicPtr::new(ptr::null_mut()),
                owner: AtomicPtr::new(ptr::null_mut()),
                kind: SegmentKind::Large,
                page_shift: SEGMENT_SHIFT as u32,
                page_count: 0,
                map_size,
                large_usable: usable,
                large_live: plain::AtomicBool::new(true),
                local: UnsafeCell::new(SegmentLocal::new(0)),
                abandoned_next: UnsafeCell::new(ptr::null_mut()),
                check_map: AtomicPtr::new(ptr::null_mut()),
            });
        }
        seg
    }

    /// Clears the `owner` word of the descriptor slot that the object of
    /// the large segment `this`, `offset` bytes into its mapping, maps to,
    /// so a free of it takes the slow path. Only objects aligned to 64 KiB
    /// or more map past slot 0 (the header's `no_owner`); the word there
    /// may hold anything from an earlier object in the mapping.
    ///
    /// # Safety
    /// `this` is a large segment header (`init_large`) whose mapping holds
    /// the object at `offset`, and `offset >= size_of::<Segment>()`.
    pub(crate) unsafe fn clear_large_slot(this: *mut Segment, offset: usize) {
        let slot = offset >> SLICE_SHIFT;
        if slot == 0 {
            return;
        }
        // SAFETY: slot `i` lies at byte 128 i < 64 KiB i <= offset: in the
        // mapping, before the object; nothing else refers to it.
        unsafe {
            let word = ptr::addr_of_mut!((*Segment::slot(this, slot)).owner);
            debug_assert!((word as usize) + size_of::<AtomicPtr<Owner>>() <= this as usize + offset);
            word.write(AtomicPtr::new(ptr::null_mut()))
        }
    }

    /// Large objects: ends the object's life; false if it had ended
    /// already (a double free).
    pub(crate) fn end_large(&self) -> bool {
        self.large_live.swap(false, Ordering::AcqRel)
    }

    /// Large objects: whether the object is live.
    pub(crate) fn large_is_live(&self) -> bool {
        self.large_live.load(Ordering::Acquire)
    }

    /// Large objects: the first byte of the object.
    ///
    /// # Safety
    /// `this` is a live large segment.
    pub(crate) unsafe fn large_start(this: *mut Segment) -> *mut u8 {
        // SAFETY: the object ends at the mapping's end (see `large`).
        unsafe { this.cast::<u8>().add((*this).map_size - (*this).large_usable) }
    }

    /// Runs `f` on the owner-only state.
    ///
    /// # Safety
    /// The caller's thread owns the segment, and `f` does not re-enter it.
    #[inline]
    pub(crate) unsafe fn local<R>(this: *mut Segment, f: impl FnOnce(&mut SegmentLocal) -> R) -> R {
        // SAFETY: `this` is live; exclusive access by the owner.
        unsafe { (*this).local.with_mut(|l| f(&mut *l)) }
    }

    /// The current owner (Relaxed: only compared against the caller's own
    /// heap, which no other thread ever stores).
    #[inline(always)]
    pub(crate) fn owner(&self) -> *mut Owner {
        self.owner.load(Ordering::Relaxed)
    }
}

/// The memory of a segment's free pages: what is still backed, given back
/// after the purge delay, and the statistics of what was given back.
impl Segment {
    /// Drops a segment's given-back bytes from the statistics before it is
    /// unmapped or set up anew.
    ///
    /// # Safety
    /// The calling thread owns `seg`, a small or medium segment.
    pub(crate) unsafe fn forget_decommitted(seg: *mut Segment) {
        // SAFETY: owner-only access (caller's contract).
        let bytes = unsafe { Segment::local(seg, |l| core::mem::take(&mut l.decommitted)) };
        stats::OS_DECOMMITTED.add(-(bytes as i64));
    }

    /// Purges the free pages of `seg` retired at least `delay` ms ago;
    /// returns the retained bytes that went back.
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    pub(crate) unsafe fn purge_free_pages(seg: *mut Segment, now: u64, delay: u64) -> usize {
        let mut released = 0;
        // Adjacent due pages go back in one call: (start, bytes) of the run.
        let mut run: (*mut u8, usize) = (ptr::null_mut(), 0);
        // SAFETY: `seg` is owned by the caller; free pages hold no live data.
        unsafe {
            let size = 1usize << (*seg).page_shift;
            for i in ones(Segment::local(seg, |l| l.free_mask)) {
                let page = Segment::page(seg, i);
                let due = (*page).local(|l| l.since != 0 && l.dirty != 0 && now.saturating_sub(l.since) >= delay);
                if !due {
                    continue;
                }
                released += (*page).local(|l| l.retained());
                let newly = (*page).local(|l| {
                    l.dirty = 0;
                    l.since = 0;
                    !core::mem::replace(&mut l.decommitted, true)
                });
                if newly {
                    stats::OS_DECOMMITTED.add(size as i64);
                    Segment::local(seg, |l| l.decommitted += size as u32);
                }
                if run.1 != 0 && run.0.add(run.1) == (*page).start {
                    run.1 += size;
                } else {
                    if run.1 != 0 {
                        os::purge(run.0, run.1);
                    }
                    run = ((*page).start, size);
                }
            }
            if run.1 != 0 {
                os::purge(run.0, run.1);
            }
        }
        released
    }

    /// The descriptors of the pages of `seg` that are not free (set up for
    /// a class), read off the free mask, so a walk touches only their
    /// descriptors' lines.
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    unsafe fn pages_in_use(seg: *mut Segment) -> impl Iterator<Item = *mut Page> {
        // SAFETY: owner-only access; page_count is immutable.
        let (count, free) = unsafe { ((*seg).page_count, Segment::local(seg, |l| l.free_mask)) };
        // SAFETY: every index is of a page of the segment (1..count).
        ones(page_mask(count) & !free).map(move |i| unsafe { Segment::page(seg, i) })
    }

    /// For adopting `seg`, abandoned, for a block of `class` (served by
    /// segments of `kind`): how many blocks its pages have out (0: every
    /// block came back, so adopting it releases it; a lower bound while
    /// other threads push remote frees), and whether it can serve the
    /// block without a fresh segment (a free page, if it is of `kind`, or
    /// a page of `class` with room or with blocks on its remote list).
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    pub(crate) unsafe fn survey(seg: *mut Segment, kind: SegmentKind, class: usize) -> (u32, bool) {
        // SAFETY: owner-only access to the pages' tallies; the remote
        // counts are atomics.
        unsafe {
            let mut room = (*seg).kind == kind && Segment::local(seg, |l| l.free_mask != 0);
            let mut live = 0;
            for page in Segment::pages_in_use(seg) {
                let remote = (*page).thread_free.count_hint();
                let (used, mine, has_room) =
                    (*page).local(|l| (l.used(), l.in_use && l.class as usize == class, l.has_room()));
                live += used.saturating_sub(remote);
                room |= mine && (has_room || remote != 0);
            }
            (live, room)
        }
    }

    /// Retained bytes of the free pages of `seg` (see `PageLocal::retained`).
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    pub(crate) unsafe fn retained(seg: *mut Segment) -> usize {
        // SAFETY: `seg` is owned by the caller.
        unsafe {
            ones(Segment::local(seg, |l| l.free_mask))
                .map(|i| (*Segment::page(seg, i)).local(|l| l.retained()))
                .sum()
        }
    }
}

impl Linked for Segment {
    unsafe fn next(this: *mut Self) -> *mut Self {
        // SAFETY: `this` is live and acquired by the caller.
        unsafe { (*this).abandoned_next.with(|p| *p) }
    }

    unsafe fn set_next(this: *mut Self, next: *mut Self) {
        // SAFETY: `this` is live and exclusively the caller's.
        unsafe { (*this).abandoned_next.with_mut(|p| *p = next) }
    }
}
