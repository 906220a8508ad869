//! Checked mode (cargo feature `checked`, on unless `MIDL_ALLOC_CHECKED=0`):
//! every free, realloc and usable-size query is validated before the
//! allocator touches anything, and a bad pointer stops the process with a
//! message naming the address and the kind of error:
//!
//! * **foreign pointer** — not inside a segment this allocator mapped (a
//!   process-wide bitmap with one bit per 4 MiB of address space);
//! * **interior pointer** — inside a segment but not at a block start (the
//!   page's block size, recorded when the page is set up);
//! * **double free** — a block start whose "live" bit is clear (each
//!   segment has a side map with one bit per 8 bytes, set on allocation and
//!   cleared on free with atomic read-modify-writes, so racing double frees
//!   from two threads are caught too); for a large object, its live flag.
//!
//! Without the feature every function here is an empty inline function.

use super::segment::Segment;
use super::segment_map;

/// Records a segment (or large object) mapping at `seg`: in the segment
/// map every free consults (see `segment_map`), and for checked mode.
#[inline(always)]
pub(crate) fn segment_mapped(seg: *mut Segment) {
    segment_map::insert(seg.cast());
    #[cfg(feature = "checked")]
    imp::segment_mapped(seg);
}

/// Forgets a mapping about to be unmapped, and releases its side map.
///
/// # Safety
/// `seg` is a live segment header about to be unmapped.
#[inline(always)]
pub(crate) unsafe fn segment_unmapped(seg: *mut Segment) {
    let was_mapped = segment_map::remove(seg.cast());
    #[cfg(feature = "checked")]
    // SAFETY: forwarded.
    unsafe {
        imp::segment_unmapped(seg, was_mapped)
    };
    let _ = was_mapped;
}

/// Records the block size of page `index` of `seg`, set up by its owner.
///
/// # Safety
/// `seg` is a live small or medium segment owned by the caller.
#[inline(always)]
pub(crate) unsafe fn page_set_up(seg: *mut Segment, index: usize, block_size: usize) {
    #[cfg(feature = "checked")]
    // SAFETY: forwarded.
    unsafe {
        imp::page_set_up(seg, index, block_size)
    };
    let _ = (seg, index, block_size);
}

#[cfg(feature = "checked")]
pub(crate) use imp::{allocated, freeing, in_use};

#[cfg(feature = "checked")]
mod imp {
    use crate::base::bits::round_up;
    use crate::base::sync::plain::{AtomicU32, AtomicU64};
    use crate::base::sync::Ordering;
    use crate::ds::config;
    use crate::ds::report::fatal;
    use crate::mem::layout::SEGMENT_SIZE;
    use crate::mem::os;
    use crate::mem::segment::{segment_of, Segment, SegmentKind};
    use crate::mem::segment_map::{self, unit, UNITS};

    /// An empty word of the maps below (a `const` item: Rust 1.63, the
    /// Windows build's compiler, has no inline `const` blocks).
    #[allow(clippy::declare_interior_mutable_const)] // only copied into statics
    const CLEAR: AtomicU64 = AtomicU64::new(0);
    /// One bit per 4 MiB unit holding a live large object (units as in
    /// `segment_map`, which covers every address a segment may have).
    static LARGE_LIVE: [AtomicU64; UNITS / 64] = [CLEAR; UNITS / 64];
    /// One bit per 4 MiB unit whose segment was unmapped (and not mapped
    /// again since): a free there is a use after free, not a stray pointer.
    static RELEASED: [AtomicU64; UNITS / 64] = [CLEAR; UNITS / 64];

    /// A segment's side map: a bit per 8-byte granule (set: a live block
    /// starts here), then the block size of each page.
    const GRANULE_SHIFT: usize = 3;
    const BITMAP_WORDS: usize = SEGMENT_SIZE >> GRANULE_SHIFT >> 6;
    const PAGES: usize = crate::mem::segment::MAX_PAGES;
    const MAP_BYTES: usize = round_up(BITMAP_WORDS * 8 + PAGES * 4, os::OS_PAGE);

    struct SideMap {
        live: [AtomicU64; BITMAP_WORDS],
        block_size: [AtomicU32; PAGES],
    }

    const _: () = assert!(core::mem::size_of::<SideMap>() <= MAP_BYTES);

    fn is_ours(seg: *mut Segment) -> bool {
        segment_map::contains(seg.cast())
    }

    pub(super) fn segment_mapped(seg: *mut Segment) {
        if config::checked() {
            if let Some((w, b)) = unit(seg as usize) {
                RELEASED[w].fetch_and(!b, Ordering::Relaxed);
            }
        }
    }

    pub(super) unsafe fn segment_unmapped(seg: *mut Segment, was_mapped: bool) {
        if let Some((w, b)) = unit(seg as usize) {
            if was_mapped {
                RELEASED[w].fetch_or(b, Ordering::Relaxed);
            }
            LARGE_LIVE[w].fetch_and(!b, Ordering::Release);
        }
        // SAFETY: the header is live (caller's contract); the side map is
        // unreachable once the segment is gone.
        unsafe {
            let map = (*seg).check_map.load(Ordering::Acquire);
            if !map.is_null() {
                os::unmap(map, MAP_BYTES);
            }
        }
    }

    /// The segment's side map, made on first use. Null if the OS has no
    /// memory (then the segment's blocks go unchecked).
    ///
    /// # Safety
    /// `seg` is a live small or medium segment.
    unsafe fn side_map(seg: *mut Segment) -> *const SideMap {
        // SAFETY: the header is live; the map is published with Release and
        // read with Acquire, and zeroed memory is a valid SideMap.
        unsafe {
            let map = (*seg).check_map.load(Ordering::Acquire);
            if !map.is_null() {
                return map.cast();
            }
            let fresh = os::map(MAP_BYTES);
            if fresh.is_null() {
                return fresh.cast();
            }
            match (*seg)
                .check_map
                .compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => fresh.cast(),
                Err(theirs) => {
                    os::unmap(fresh, MAP_BYTES);
                    theirs.cast()
                }
            }
        }
    }

    pub(super) unsafe fn page_set_up(seg: *mut Segment, index: usize, block_size: usize) {
        if !config::checked() {
            return;
        }
        // SAFETY: forwarded from the caller.
        let map = unsafe { side_map(seg) };
        if !map.is_null() {
            // SAFETY: a live side map.
            unsafe { (*map).block_size[index].store(block_size as u32, Ordering::Release) };
        }
    }

    fn granule(seg: *mut Segment, p: *const u8) -> (usize, u64) {
        let g = (p as usize - seg as usize) >> GRANULE_SHIFT;
        (g / 64, 1u64 << (g % 64))
    }

    /// Marks a block just handed out as live (`p` may be null).
    pub(crate) fn allocated(p: *mut u8) {
        if p.is_null() || !config::checked() {
            return;
        }
        let seg = segment_of(p);
        // SAFETY: `p` is a block this allocator just returned: its segment
        // header is live.
        unsafe {
            if (*seg).kind == SegmentKind::Large {
                if let Some((w, b)) = unit(seg as usize) {
                    LARGE_LIVE[w].fetch_or(b, Ordering::AcqRel);
                }
                return;
            }
            let map = side_map(seg);
            if map.is_null() {
                return;
            }
            let (w, b) = granule(seg, p);
            if (*map).live[w].fetch_or(b, Ordering::AcqRel) & b != 0 {
                fatal(format_args!(
                    "internal error: block {p:p} handed out while still live (allocator bug, please report)"
                ));
            }
        }
    }

    /// Validates a pointer about to be freed and marks it dead; stops the
    /// process if it is not a live block of this allocator.
    pub(crate) fn freeing(p: *mut u8) {
        validate(p, true, "free");
    }

    /// Validates a pointer about to be used (realloc, usable size).
    pub(crate) fn in_use(p: *const u8, what: &str) {
        validate(p, false, what);
    }

    fn validate(p: *const u8, clear: bool, what: &str) {
        let seg = segment_of(p);
        if !is_ours(seg) {
            if matches!(unit(seg as usize), Some((w, b)) if RELEASED[w].load(Ordering::Relaxed) & b != 0) {
                fatal(format_args!(
                    "{what}({p:p}): double free (use after free): the memory at {p:p} held blocks \
                     that were all freed and it was given back to the OS"
                ));
            }
            fatal(format_args!(
                "{what}({p:p}): foreign pointer: not in memory midl-alloc manages (never returned by it)"
            ));
        }
        // SAFETY: the segment is mapped (bit set while mapped), so its
        // header is readable.
        if unsafe { (*seg).kind } == SegmentKind::Large {
            // SAFETY: as above.
            unsafe { validate_large(seg, p, clear, what) }
        } else {
            // SAFETY: as above.
            unsafe { validate_block(seg, p, clear, what) }
        }
    }

    /// [`validate`] for a pointer into a large object's segment.
    ///
    /// # Safety
    /// `seg` is a mapped large segment of ours holding `p`.
    unsafe fn validate_large(seg: *mut Segment, p: *const u8, clear: bool, what: &str) {
        // SAFETY: the header is readable (caller's contract).
        let start = unsafe { Segment::large_start(seg) };
        if !core::ptr::eq(p, start) {
            fatal(format_args!(
                "{what}({p:p}): interior pointer: {} bytes into the large block at {start:p}",
                p as usize - start as usize
            ));
        }
        let (w, b) = unit(seg as usize).expect("checked above");
        let was = if clear {
            LARGE_LIVE[w].fetch_and(!b, Ordering::AcqRel)
        } else {
            LARGE_LIVE[w].load(Ordering::Acquire)
        };
        if was & b == 0 {
            fatal(format_args!(
                "{what}({p:p}): double free: the large block at {p:p} was already freed"
            ));
        }
    }

    /// [`validate`] for a pointer into a small or medium segment.
    ///
    /// # Safety
    /// `seg` is a mapped small or medium segment of ours holding `p`.
    unsafe fn validate_block(seg: *mut Segment, p: *const u8, clear: bool, what: &str) {
        // SAFETY: the header is readable (caller's contract); side-map
        // cells are atomics.
        unsafe {
            let map = (*seg).check_map.load(Ordering::Acquire).cast::<SideMap>();
            if map.is_null() {
                fatal(format_args!(
                    "{what}({p:p}): not a block: no block of this segment was ever handed out"
                ));
            }
            let (w, b) = granule(seg, p);
            let was = if clear {
                (*map).live[w].fetch_and(!b, Ordering::AcqRel)
            } else {
                (*map).live[w].load(Ordering::Acquire)
            };
            if was & b != 0 {
                return;
            }
            // Not a live block start: say which error it is.
            let shift = (*seg).page_shift;
            let index = (p as usize - seg as usize) >> shift;
            let page_start = seg as usize + (index << shift);
            let bs = (*map).block_size[index].load(Ordering::Acquire) as usize;
            if index == 0 || bs == 0 {
                fatal(format_args!(
                    "{what}({p:p}): not a block: the address lies in a page that holds no blocks"
                ));
            }
            let offset = (p as usize - page_start) % bs;
            if offset != 0 {
                fatal(format_args!(
                    "{what}({p:p}): interior pointer: {offset} bytes into the {bs}-byte block at {:#x}",
                    p as usize - offset
                ));
            }
            fatal(format_args!(
                "{what}({p:p}): double free: the {bs}-byte block at {p:p} is not live \
                 (already freed, or never handed out)"
            ))
        }
    }
}
