//! Size classes.
//!
//! * classes 0..=63: 16-byte spacing from 16 bytes to 1 KiB, so every block
//!   is 16-byte aligned, holds a free block's two header words (see
//!   `page`), and the NDR engine's `8k + 24` requests waste at most 8
//!   bytes;
//! * classes 64..=111: 8 classes per power of two
//!   (`2^b * 9/8 ..= 16/8`) from 1 KiB to 64 KiB, at most 12.5% internal
//!   waste, as mimalloc's, jemalloc's and snmalloc's classes. There were
//!   64 per power of two (at most 1.6% waste), chosen on the benchmark's
//!   mixed-size churn (benches/compare, mixed-churn), whose peak was about
//!   1.5 MiB lower with them than with 16. But a class has a page of its
//!   own, so fine classes spread a program's blocks over many partly used
//!   pages: on the `mixed_sizes` row (2,000 live blocks of 8 B to 128 KiB)
//!   each class held about one live block, the pages a class allocated
//!   from were cold, and pages emptied and were set up again all the time.
//!   With 8, that row's run (`MIDL_BENCH_RUN=mixed_sizes:midl-alloc:3000000`
//!   with the benchmark binary, under `/usr/bin/time`) fell from 2.5 s to
//!   2.0 s and from 84 to 58 MiB peak RSS (tcmalloc: 1.9 s, 63 MiB); the
//!   mixed-churn peak fell by about 4 MiB and the phase-shift peak rose by
//!   about 5 MiB of 420 (`MIDL_BENCH_CHILD=mixed-churn:midl-alloc`,
//!   `phase-shift:midl-alloc`, before and after).
//!   A class the program stops using gives its page back (see
//!   `Heap::retire_unused_current`), so many classes do not keep memory
//!   after a workload moves on.
//!
//! * classes 112..=127: 8 classes per power of two from 64 KiB to
//!   [`SMALL_MAX`] = 256 KiB (at most 12.5% internal waste, as mimalloc's,
//!   jemalloc's and snmalloc's classes everywhere), two to seven blocks to a
//!   512 KiB medium page. Before them such blocks were large objects, a
//!   mapping each: on the benchmark's `mixed_sizes` row (8 B to 128 KiB,
//!   2,000 live) most were mapped fresh and faulted in page by page. Few of
//!   a program's blocks are this big, so a class has few live blocks and a
//!   fine spacing would only spread them over more partly used pages.
//!
//! Every power of two from 16 to 256 KiB is a class of its own, which is
//! what lets over-aligned requests be served from slab pages (see `heap`):
//! pages start on a multiple of their size. Larger requests take the
//! large-object path (`large`).

use crate::base::bits::div_ceil;

/// Largest size served from slab pages.
pub(crate) const SMALL_MAX: usize = 256 * 1024;
/// The end of the finely spaced classes.
const FINE_MAX: usize = 64 * 1024;
/// log2 of the classes per power of two from 1 to 64 KiB.
const STEP_BITS: usize = 3;
/// Classes per power of two from 1 to 64 KiB.
const PER_DOUBLING: usize = 1 << STEP_BITS;
/// log2 of the classes per power of two above 64 KiB.
const COARSE_BITS: usize = 3;
/// The first class above 64 KiB.
const COARSE_FIRST: usize = 64 + 6 * PER_DOUBLING;
/// Number of size classes.
pub(crate) const NUM_CLASSES: usize = COARSE_FIRST + 2 * (1 << COARSE_BITS);
/// Largest size looked up in the direct table.
pub(crate) const TABLE_MAX: usize = 1024;
/// Entries of a heap's direct table of pages, indexed by the size itself:
/// the allocation fast path then needs no rounding (two instructions
/// fewer than mimalloc's word-indexed table), for 8 KiB per heap, of which
/// a program touches the lines of the sizes it asks for.
pub(crate) const DIRECT_SLOTS: usize = TABLE_MAX + 1;
/// Blocks of at most this size live in small (64 KiB) pages, larger ones in
/// medium (512 KiB) pages.
pub(crate) const SMALL_PAGE_BLOCK_MAX: usize = 8 * 1024;

const fn compute_block_size(class: usize) -> usize {
    if class < 64 {
        (class + 1) * 16
    } else if class >= COARSE_FIRST {
        let k = class - COARSE_FIRST;
        let per = 1 << COARSE_BITS;
        let b = 16 + k / per;
        (1usize << b) * (per + 1 + k % per) / per
    } else {
        let k = class - 64;
        let b = 10 + k / PER_DOUBLING;
        (1usize << b) * (PER_DOUBLING + 1 + k % PER_DOUBLING) / PER_DOUBLING
    }
}

const fn compute_table() -> [u8; TABLE_MAX / 8 + 1] {
    let mut t = [0u8; TABLE_MAX / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        // Index i covers sizes 8(i-1)+1 ..= 8i.
        let size = i * 8;
        t[i] = if size <= 16 { 0 } else { (div_ceil(size, 16) - 1) as u8 };
        i += 1;
    }
    t
}

const fn compute_sizes() -> [u32; NUM_CLASSES] {
    let mut s = [0u32; NUM_CLASSES];
    let mut i = 0;
    while i < NUM_CLASSES {
        s[i] = compute_block_size(i) as u32;
        i += 1;
    }
    s
}

static CLASS_TABLE: [u8; TABLE_MAX / 8 + 1] = compute_table();
static BLOCK_SIZES: [u32; NUM_CLASSES] = compute_sizes();

/// The size class serving `size` bytes. `size` must be at most [`SMALL_MAX`].
#[inline(always)]
pub(crate) fn class_of(size: usize) -> usize {
    debug_assert!(size <= SMALL_MAX);
    if size <= TABLE_MAX {
        CLASS_TABLE[(size + 7) >> 3] as usize
    } else {
        let s = size - 1;
        // The index of the top bit (63 - lz, written as a xor, which is
        // what `bsr` gives, so no arithmetic is left to undo it).
        let b = ((usize::BITS - 1) ^ s.leading_zeros()) as usize;
        if size <= FINE_MAX {
            64 + (b - 10) * PER_DOUBLING + ((s >> (b - STEP_BITS)) & (PER_DOUBLING - 1))
        } else {
            COARSE_FIRST + ((b - 16) << COARSE_BITS) + ((s >> (b - COARSE_BITS)) & ((1 << COARSE_BITS) - 1))
        }
    }
}

/// The direct-table slot of `size` (at most [`TABLE_MAX`]).
#[inline(always)]
pub(crate) fn direct_slot(size: usize) -> usize {
    size
}

/// The direct-table slots served by `class` (empty above [`TABLE_MAX`]):
/// the sizes `16 class + 1 ..= 16 class + 16` (and 0 for class 0).
pub(crate) fn direct_slots_of(class: usize) -> core::ops::RangeInclusive<usize> {
    if class * 16 >= TABLE_MAX {
        #[allow(clippy::reversed_empty_ranges)]
        return 1..=0;
    }
    let lo = if class == 0 { 0 } else { class * 16 + 1 };
    lo..=class * 16 + 16
}

/// The block size of `class`.
#[inline(always)]
pub(crate) fn block_size(class: usize) -> usize {
    BLOCK_SIZES[class] as usize
}

#[cfg(test)]
#[path = "size_class_tests.rs"]
mod tests;
