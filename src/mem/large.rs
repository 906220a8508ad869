//! Large objects: one range each, aligned to the segment size so `free`
//! finds the header by masking like any other block, the object ending at
//! the range's end. A range is a fresh mapping or memory of freed large
//! objects (`span_cache`); a large object has no owning heap, whichever
//! thread frees it caches or unmaps it. `realloc` resizes one where it is
//! when it can (into the free range after it, or by growing the mapping),
//! else has the kernel move its pages (`mremap`), and copies only when
//! both fail.

use super::layout::SEGMENT_SIZE;
use super::segment::Segment;
use super::span_cache::SpanCache;
use super::span_cache::HUGE_MIN;
use super::{check, os};
use crate::base::sync::MODEL_CHECKING;
use crate::ds::config::{self, HugePages};
use crate::ds::stats;
use core::mem::size_of;
use core::ptr;

/// Header room before a large object: keeps the object 64-byte aligned
/// (more under loom, whose atomics and cells make the header larger).
const LARGE_HEADER: usize = if MODEL_CHECKING { 256 } else { 128 };
/// Largest alignment a large object supports (the header must stay in the
/// first segment-size window of the mapping).
pub(crate) const MAX_ALIGN: usize = SEGMENT_SIZE / 4;

const _: () = assert!(size_of::<Segment>() <= LARGE_HEADER);

/// Fresh large objects from this size up to the span cache's
/// [`HUGE_MIN`] are advised transparent huge pages unless
/// `MIDL_ALLOC_HUGE_PAGES=0` (from this size up with `=1`; see
/// `os::advise_huge_pages`): a 2 MiB fault and clear instead of 512 small
/// ones. Buffers of these sizes are as a rule filled (the kernel only backs
/// whole 2 MiB pieces inside the mapping with a huge page, so the ends stay
/// small pages), and mimalloc advises its whole arena so. Larger objects
/// are more often touched sparsely (hash tables, reservations), where a
/// huge page per touch would multiply their resident memory: only on
/// request.
const HUGE_ADVICE_MIN: usize = 4 << 20;

/// Bytes to map for a large object of `size` bytes aligned to `align`;
/// None when that cannot be met.
pub(crate) fn map_size_for(size: usize, align: usize) -> Option<usize> {
    if align > MAX_ALIGN {
        return None;
    }
    range_for(LARGE_HEADER.max(align), size)
}

/// Maps a large object of `size` bytes aligned to `align` (a power of two).
/// Null when the size cannot be met; the memory is zeroed.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    let map_size = match map_size_for(size, align) {
        Some(map_size) => map_size,
        None => return ptr::null_mut(),
    };
    let base = os::map_aligned(map_size, SEGMENT_SIZE);
    if base.is_null() {
        return base;
    }
    let advise = match config::huge_pages() {
        HugePages::Never => false,
        HugePages::Buffers => (HUGE_ADVICE_MIN..=HUGE_MIN).contains(&map_size),
        HugePages::All => map_size >= HUGE_ADVICE_MIN,
    };
    if advise {
        // SAFETY: the mapping just made.
        unsafe { os::advise_huge_pages(base, map_size) };
    }
    // SAFETY: a fresh mapping of `map_size` bytes aligned to SEGMENT_SIZE.
    unsafe { place(base, map_size, align) }
}

/// Sets up a large object of `map_size - LARGE_HEADER.max(align)` usable
/// bytes in `[base, base+map_size)`, recorded as mapped (see
/// `check::segment_mapped`), and returns it.
///
/// # Safety
/// The range is mapped, aligned to SEGMENT_SIZE, at least
/// `map_size_for(_, align)` of an object, and the caller's alone.
pub(crate) unsafe fn place(base: *mut u8, map_size: usize, align: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        let p = set_up(base, map_size, align);
        check::segment_mapped(base.cast());
        p
    }
}

/// [`place`]'s object, not recorded: for a range that still is.
///
/// # Safety
/// As for [`place`].
unsafe fn set_up(base: *mut u8, map_size: usize, align: usize) -> *mut u8 {
    // SAFETY: the range is the caller's and larger than the header; the
    // object starts `offset >= LARGE_HEADER` bytes in.
    unsafe {
        let offset = LARGE_HEADER.max(align);
        let seg = Segment::init_large(base, map_size, map_size - offset);
        Segment::clear_large_slot(seg, offset);
        base.add(offset)
    }
}

/// Reuses the mapping of a freed large object for a new one of `size`
/// bytes aligned to `align` (its memory is not zeroed). The mapping stayed
/// recorded in the segment map (and in checked mode's) while its heap
/// cached it, so it is not recorded again: on a heap-cache hit that would
/// be a second atomic read-modify-write of the pair's five (measured with
/// the 1 MiB pair loop, `cargo bench --bench compare -- pair_1048576`).
///
/// # Safety
/// `seg` is a dead large object's mapping owned by the caller, with
/// `map_size >= map_size_for(size, align)`, recorded as mapped since it
/// was last placed.
pub(crate) unsafe fn reuse(seg: *mut Segment, size: usize, align: usize) -> *mut u8 {
    // SAFETY: the mapping is ours, aligned, and large enough (caller's
    // contract).
    unsafe {
        debug_assert!((*seg).map_size >= LARGE_HEADER.max(align) + size);
        debug_assert!(crate::mem::segment_map::contains(seg.cast()));
        set_up(seg.cast(), (*seg).map_size, align)
    }
}

/// Unmaps a large object.
///
/// # Safety
/// `seg` is the header of a live large object that is never used again.
pub(crate) unsafe fn free(seg: *mut Segment) {
    // SAFETY: the object owns its whole mapping.
    unsafe {
        check::segment_unmapped(seg);
        os::unmap(seg.cast(), (*seg).map_size)
    }
}

/// Hands a dead large object's range to `spans` (which unmaps what it does
/// not keep), free since `freed_at`.
///
/// # Safety
/// `seg` is the header of a large object nobody uses again.
pub(crate) unsafe fn cache(seg: *mut Segment, spans: &SpanCache, freed_at: u64, now: u64, delay: u64) {
    // SAFETY: the object owns its whole range, given up here.
    unsafe {
        let len = (*seg).map_size;
        check::segment_unmapped(seg);
        spans.give(seg.cast(), len, freed_at, now, delay);
    }
}

/// Resizes the large object `seg` to hold `new_size` bytes where it is:
/// shrinking gives the tail to `spans`; growing takes the cached range
/// right after it, or grows the mapping there. False (nothing changed)
/// when it cannot grow in place or `new_size` cannot be met.
///
/// # Safety
/// `seg` is the header of a live large object of the caller's, whose
/// `new_size` first bytes the caller may keep using.
pub(crate) unsafe fn resize_in_place(
    seg: *mut Segment,
    new_size: usize,
    spans: &SpanCache,
    now: u64,
    delay: u64,
) -> bool {
    // SAFETY: the object and its range are the caller's.
    unsafe {
        let (map_size, offset) = ((*seg).map_size, (*seg).map_size - (*seg).large_usable);
        let need = match range_for(offset, new_size) {
            Some(need) => need,
            None => return false,
        };
        let base = seg.cast::<u8>();
        let done = if need <= map_size {
            if need < map_size {
                spans.give(base.add(need), map_size - need, now, now, delay);
            }
            true
        } else {
            spans.take_at(base.add(map_size), need - map_size) || os::remap_in_place(base, map_size, need)
        };
        if done {
            (*seg).map_size = need;
            (*seg).large_usable = need - offset;
            stats::LARGE_BYTES.add(need as i64 - map_size as i64);
            stats::LARGE_RESIZED.add(1);
        }
        done
    }
}

/// Moves the large object `seg` to a new range of the segment alignment
/// holding `new_size` bytes, by moving its pages (`mremap`): no copy.
/// Returns the object's new address, or null (nothing changed) when the
/// kernel refuses (the object's range spans mappings it cannot join).
///
/// # Safety
/// As for [`resize_in_place`], with `new_size` more than the object holds.
pub(crate) unsafe fn move_pages(seg: *mut Segment, new_size: usize) -> *mut u8 {
    // SAFETY: the object and its range are the caller's; the target is a
    // fresh mapping the moved pages replace.
    unsafe {
        let (map_size, offset) = ((*seg).map_size, (*seg).map_size - (*seg).large_usable);
        let need = match range_for(offset, new_size) {
            Some(need) => need,
            None => return ptr::null_mut(),
        };
        let target = os::map_aligned(need, SEGMENT_SIZE);
        if target.is_null() {
            return target;
        }
        check::segment_unmapped(seg);
        if !os::remap_to(seg.cast(), map_size, need, target) {
            // Still where it was, and still live.
            check::segment_mapped(seg);
            #[cfg(feature = "checked")]
            check::allocated(seg.cast::<u8>().add(offset));
            os::unmap(target, need);
            return ptr::null_mut();
        }
        let moved = target.cast::<Segment>();
        (*moved).map_size = need;
        (*moved).large_usable = need - offset;
        check::segment_mapped(moved);
        stats::LARGE_BYTES.add(need as i64 - map_size as i64);
        stats::LARGE_RESIZED.add(1);
        target.add(offset)
    }
}

/// Bytes of range a large object `offset` bytes into it needs for
/// `size` bytes; None past what can be mapped.
fn range_for(offset: usize, size: usize) -> Option<usize> {
    let total = size.checked_add(offset)?.checked_add(os::OS_PAGE - 1)? & !(os::OS_PAGE - 1);
    (total <= isize::MAX as usize / 2).then_some(total)
}
