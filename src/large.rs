//! Large objects: one mapping each, aligned to the segment size so `free`
//! finds the header by masking like any other block, and unmapped on free
//! from whichever thread frees it (a large object has no owning heap).

use crate::os;
use crate::segment::{Segment, SEGMENT_SIZE};
use core::ptr;

/// Header room before a large object: keeps the object 64-byte aligned.
const LARGE_HEADER: usize = 128;
/// Largest alignment a large object supports (the header must stay in the
/// first segment-size window of the mapping).
pub(crate) const MAX_ALIGN: usize = SEGMENT_SIZE / 4;

const _: () = assert!(core::mem::size_of::<Segment>() <= LARGE_HEADER);

/// Maps a large object of `size` bytes aligned to `align` (a power of two).
/// Null when the size cannot be met; the memory is zeroed.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    if align > MAX_ALIGN {
        return ptr::null_mut();
    }
    let offset = LARGE_HEADER.max(align);
    let Some(total) = size.checked_add(offset).and_then(|t| t.checked_add(os::OS_PAGE - 1)) else {
        return ptr::null_mut();
    };
    let map_size = total & !(os::OS_PAGE - 1);
    if map_size > isize::MAX as usize / 2 {
        return ptr::null_mut();
    }
    let base = os::map_aligned(map_size, SEGMENT_SIZE);
    if base.is_null() {
        return base;
    }
    // SAFETY: `base` maps `map_size` bytes aligned to SEGMENT_SIZE, larger
    // than the header; the object starts `offset` bytes in.
    unsafe {
        Segment::init_large(base, map_size, map_size - offset);
        base.add(offset)
    }
}

/// Unmaps a large object.
///
/// # Safety
/// `seg` is the header of a live large object that is never used again.
pub(crate) unsafe fn free(seg: *mut Segment) {
    // SAFETY: the object owns its whole mapping.
    unsafe { os::unmap(seg.cast(), (*seg).map_size) }
}
