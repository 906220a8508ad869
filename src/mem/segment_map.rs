//! The process-wide map of the address space this allocator manages: one
//! bit per 4 MiB unit ([`SEGMENT_SHIFT`]) whose start is the header of one
//! of its live segments or large objects. Every free asks it first, so a
//! pointer the allocator never returned (the stack, a global, another
//! allocator's block, an address nothing is mapped at) is reported before
//! anything reads memory at the segment header its address would have.
//!
//! 2^26 units below [`ADDRESS_LIMIT`] (every segment lies below it: the heap
//! refuses one mapped above), so the map is 8 MiB of zero-initialised
//! static memory, of which a process touches one 4 KiB page per 128 GiB of
//! address space its segments span. A lookup is a shift, a bound check and a
//! bit test of one word. Units are marked when a segment is set up (or a
//! large object placed) and cleared before its memory is unmapped or handed
//! to the span cache, with atomic read-modify-writes (neighbouring units
//! share a word). A free of `p` follows `p`'s allocation, which follows the
//! marking, so the relaxed load in [`contains`] sees the bit.

use super::layout::SEGMENT_SHIFT;
use crate::base::sync::plain::AtomicU64;
use crate::base::sync::Ordering;
use crate::ds::counted_stack::ADDRESS_LIMIT;

/// 4 MiB units below [`ADDRESS_LIMIT`].
pub(crate) const UNITS: usize = ADDRESS_LIMIT >> SEGMENT_SHIFT;

/// An empty word (a `const` item: Rust 1.63, the Windows build's compiler,
/// has no inline `const` blocks).
#[allow(clippy::declare_interior_mutable_const)] // only copied into the static
const CLEAR: AtomicU64 = AtomicU64::new(0);

/// Bit `u % 64` of word `u / 64`: unit `u` starts a live segment.
static MAP: [AtomicU64; UNITS / 64] = [CLEAR; UNITS / 64];

/// The word and bit of the unit `p` lies in, or None above the limit
/// (checked mode's own unit maps index the same way).
#[inline(always)]
pub(crate) fn unit(p: usize) -> Option<(usize, u64)> {
    let w = p >> (SEGMENT_SHIFT + 6);
    (w < UNITS / 64).then(|| (w, 1u64 << ((p >> SEGMENT_SHIFT) % 64)))
}

/// Records the segment (or large object) whose header is at `seg`.
pub(crate) fn insert(seg: *const u8) {
    if let Some((w, b)) = unit(seg as usize) {
        MAP[w].fetch_or(b, Ordering::Release);
    }
}

/// Forgets the segment at `seg`; returns whether it was recorded.
pub(crate) fn remove(seg: *const u8) -> bool {
    match unit(seg as usize) {
        Some((w, b)) => MAP[w].fetch_and(!b, Ordering::Release) & b != 0,
        None => false,
    }
}

/// Whether `p` lies in the first 4 MiB of a live segment or large object
/// of this allocator (so its segment header, `p` rounded down to 4 MiB, is
/// readable).
#[inline(always)]
pub(crate) fn contains(p: *const u8) -> bool {
    let p = p as usize;
    if p >= ADDRESS_LIMIT {
        return false;
    }
    // SAFETY: below the limit, the word index is below `UNITS / 64`.
    let word = unsafe { MAP.get_unchecked(p >> (SEGMENT_SHIFT + 6)) };
    word.load(Ordering::Relaxed) >> ((p >> SEGMENT_SHIFT) % 64) & 1 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_contains_remove() {
        // A unit far above any mapping the tests make, and its neighbour,
        // which shares its word.
        let seg = (3usize << 44) as *const u8;
        let next = (seg as usize + (1 << SEGMENT_SHIFT)) as *const u8;
        assert!(!contains(seg));
        insert(seg);
        assert!(contains(seg));
        assert!(contains((seg as usize + (1 << SEGMENT_SHIFT) - 1) as *const u8));
        assert!(!contains(next));
        insert(next);
        assert!(remove(seg));
        assert!(!remove(seg));
        assert!(!contains(seg));
        assert!(contains(next));
        assert!(remove(next));
    }

    #[test]
    fn addresses_above_the_limit_are_never_contained() {
        assert!(!contains(ADDRESS_LIMIT as *const u8));
        assert!(!contains(usize::MAX as *const u8));
        insert(usize::MAX as *const u8);
        assert!(!contains(usize::MAX as *const u8));
        assert!(!remove(usize::MAX as *const u8));
    }
}
