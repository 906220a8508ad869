//! Segments: 4 MiB chunks aligned to 4 MiB, so `free(p)` finds the header of
//! the chunk holding `p` by masking the address, and the page descriptor by
//! one shift. No global table, no lock.
//!
//! * small segments: 64 pages of 64 KiB (blocks up to 8 KiB);
//! * medium segments: 8 pages of 512 KiB (blocks up to 64 KiB);
//! * large segments: one object (see `large`), any length.
//!
//! Page 0 of a small or medium segment holds the header and the page
//! descriptors and is never handed out, so every page starts on a multiple
//! of its own size and power-of-two blocks are naturally aligned.

use crate::heap::Heap;
use crate::page::Page;
use crate::remote::Linked;
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};
use core::mem::size_of;
use core::ptr;

pub(crate) const SEGMENT_SHIFT: usize = 22;
pub(crate) const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
const SEGMENT_MASK: usize = SEGMENT_SIZE - 1;
pub(crate) const SMALL_PAGE_SHIFT: u32 = 16;
pub(crate) const MEDIUM_PAGE_SHIFT: u32 = 19;
/// The most pages a segment has (small segments), page 0 included.
pub(crate) const MAX_PAGES: usize = SEGMENT_SIZE >> SMALL_PAGE_SHIFT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SegmentKind {
    Small = 0,
    Medium = 1,
    Large = 2,
}

impl SegmentKind {
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
    /// Pages in use.
    pub(crate) used_pages: u32,
    /// Links in the owning heap's segment list (or its cache of empty ones).
    pub(crate) prev: *mut Segment,
    pub(crate) next: *mut Segment,
    /// When the segment became empty (for the cache of empty segments).
    pub(crate) emptied_at: u64,
    /// Bytes of its pages given back to the OS and not used since.
    pub(crate) decommitted: usize,
}

#[repr(C)]
pub(crate) struct Segment {
    /// The heap that owns the pages; null while abandoned, and for large
    /// objects. Compared (never dereferenced) by freeing threads.
    pub(crate) owner: AtomicPtr<Heap>,
    pub(crate) kind: SegmentKind,
    pub(crate) page_shift: u32,
    pub(crate) page_count: u32,
    /// Bytes mapped for this segment (large objects can exceed 4 MiB).
    pub(crate) map_size: usize,
    /// Large objects: usable bytes from the object start.
    pub(crate) large_usable: usize,
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

/// Offset of the page descriptor array from the segment start.
const PAGES_OFFSET: usize = size_of::<Segment>().next_multiple_of(core::mem::align_of::<Page>());
/// Bytes of header a small/medium segment needs.
const HEADER_SIZE: usize = PAGES_OFFSET + MAX_PAGES * size_of::<Page>();

#[cfg(not(loom))]
const _: () = {
    assert!(HEADER_SIZE <= 1 << SMALL_PAGE_SHIFT);
    assert!(size_of::<Page>() == 128, "pages index by shift");
};

/// The segment containing `p`.
#[inline(always)]
pub(crate) fn segment_of(p: *const u8) -> *mut Segment {
    ((p as usize) & !SEGMENT_MASK) as *mut Segment
}

impl Segment {
    /// The descriptor of page `i`.
    ///
    /// # Safety
    /// `this` is a live small or medium segment and `i < page_count`.
    #[inline(always)]
    pub(crate) unsafe fn page(this: *mut Segment, i: usize) -> *mut Page {
        // SAFETY: the descriptor array lies inside page 0 (HEADER_SIZE).
        unsafe { this.cast::<u8>().add(PAGES_OFFSET).cast::<Page>().add(i) }
    }

    /// The descriptor of the page holding `p`.
    ///
    /// # Safety
    /// `this` is a live small or medium segment and `p` points into it.
    #[inline(always)]
    pub(crate) unsafe fn page_of(this: *mut Segment, p: *const u8) -> *mut Page {
        // SAFETY: page_shift is immutable while the segment lives and the
        // index is below page_count because p lies in the segment.
        unsafe {
            let i = (p as usize - this as usize) >> (*this).page_shift;
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
    pub(crate) unsafe fn init(base: *mut u8, kind: SegmentKind, owner: *mut Heap, dirty: bool) -> *mut Segment {
        debug_assert!(kind != SegmentKind::Large);
        const {
            assert!(
                HEADER_SIZE <= 1 << SMALL_PAGE_SHIFT,
                "segment header must fit in page 0"
            )
        };
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
                owner: AtomicPtr::new(owner),
                kind,
                page_shift: shift,
                page_count: count,
                map_size: SEGMENT_SIZE,
                large_usable: 0,
                local: UnsafeCell::new(SegmentLocal {
                    // pages 1..count
                    free_mask: (u64::MAX >> (64 - count)) & !1,
                    used_pages: 0,
                    prev: ptr::null_mut(),
                    next: ptr::null_mut(),
                    emptied_at: 0,
                    decommitted: 0,
                }),
                abandoned_next: UnsafeCell::new(ptr::null_mut()),
                check_map: AtomicPtr::new(check_map),
            });
            for i in 0..count as usize {
                let page = Segment::page(seg, i);
                page.write(Page::new(base.add(i << shift)));
                if dirty {
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
                owner: AtomicPtr::new(ptr::null_mut()),
                kind: SegmentKind::Large,
                page_shift: SEGMENT_SHIFT as u32,
                page_count: 0,
                map_size,
                large_usable: usable,
                local: UnsafeCell::new(SegmentLocal {
                    free_mask: 0,
                    used_pages: 0,
                    prev: ptr::null_mut(),
                    next: ptr::null_mut(),
                    emptied_at: 0,
                    decommitted: 0,
                }),
                abandoned_next: UnsafeCell::new(ptr::null_mut()),
                check_map: AtomicPtr::new(ptr::null_mut()),
            });
        }
        seg
    }

    /// Large objects: the first byte of the object (checked mode).
    ///
    /// # Safety
    /// `this` is a live large segment.
    #[cfg_attr(not(feature = "checked"), allow(dead_code))]
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
    pub(crate) fn owner(&self) -> *mut Heap {
        self.owner.load(Ordering::Relaxed)
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
