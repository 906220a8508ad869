//! Large objects: one mapping each, aligned to the segment size so `free`
//! finds the header by masking like any other block, and unmapped on free
//! from whichever thread frees it (a large object has no owning heap).

use super::layout::SEGMENT_SIZE;
use super::segment::Segment;
use super::{check, os};
use core::mem::size_of;
use core::ptr;

/// Header room before a large object: keeps the object 64-byte aligned.
const LARGE_HEADER: usize = 128;
/// Largest alignment a large object supports (the header must stay in the
/// first segment-size window of the mapping).
pub(crate) const MAX_ALIGN: usize = SEGMENT_SIZE / 4;

const _: () = assert!(size_of::<Segment>() <= LARGE_HEADER);

/// Bytes to map for a large object of `size` bytes aligned to `align`;
/// None when that cannot be met.
pub(crate) fn map_size_for(size: usize, align: usize) -> Option<usize> {
    if align > MAX_ALIGN {
        return None;
    }
    let total = size
        .checked_add(LARGE_HEADER.max(align))?
        .checked_add(os::OS_PAGE - 1)?;
    let map_size = total & !(os::OS_PAGE - 1);
    (map_size <= isize::MAX as usize / 2).then_some(map_size)
}

/// Maps a large object of `size` bytes aligned to `align` (a power of two).
/// Null when the size cannot be met; the memory is zeroed.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    let Some(map_size) = map_size_for(size, align) else {
        return ptr::null_mut();
    };
    let base = os::map_aligned(map_size, SEGMENT_SIZE);
    if base.is_null() {
        return base;
    }
    // SAFETY: `base` maps `map_size` bytes aligned to SEGMENT_SIZE, larger
    // than the header; the object starts `offset >= LARGE_HEADER` bytes in.
    unsafe {
        let offset = LARGE_HEADER.max(align);
        let seg = Segment::init_large(base, map_size, map_size - offset);
        Segment::clear_large_slot(seg, offset);
        check::segment_mapped(seg);
        base.add(offset)
    }
}

/// Reuses the mapping of a freed large object for a new one of `size`
/// bytes aligned to `align` (its memory is not zeroed).
///
/// # Safety
/// `seg` is a dead large object's mapping owned by the caller, with
/// `map_size >= map_size_for(size, align)`.
pub(crate) unsafe fn reuse(seg: *mut Segment, size: usize, align: usize) -> *mut u8 {
    let offset = LARGE_HEADER.max(align);
    // SAFETY: the mapping is ours and large enough (caller's contract).
    unsafe {
        let map_size = (*seg).map_size;
        debug_assert!(map_size >= offset + size);
        Segment::init_large(seg.cast(), map_size, map_size - offset);
        Segment::clear_large_slot(seg, offset);
        seg.cast::<u8>().add(offset)
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
