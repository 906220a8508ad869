//! Segment geometry, and the opaque id pages and segments record their
//! owner by. Shared by `page` and `segment` (neither needs the other's
//! constants) and by `heap`, whose `Heap` is what an [`Owner`] names.
//!
//! * segments: 4 MiB chunks aligned to 4 MiB ([`SEGMENT_SHIFT`]);
//! * small pages: 64 KiB ([`SMALL_PAGE_SHIFT`]), blocks up to 8 KiB;
//! * medium pages: 512 KiB ([`MEDIUM_PAGE_SHIFT`]), blocks up to 64 KiB.

pub(crate) const SEGMENT_SHIFT: usize = 22;
pub(crate) const SEGMENT_SIZE: usize = 1 << SEGMENT_SHIFT;
pub(crate) const SMALL_PAGE_SHIFT: u32 = 16;
pub(crate) const MEDIUM_PAGE_SHIFT: u32 = 19;

/// The heap that owns a page or segment, as the page and the segment see
/// it: an address that is only stored and compared, never dereferenced
/// below `heap` (which makes it from a `*mut Heap` and back).
#[repr(C)]
pub(crate) struct Owner {
    _opaque: [u8; 0],
}
