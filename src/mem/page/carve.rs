//! Carving: a page's untouched memory made into free blocks, a run at a
//! time, and the holes `purge` left carved again.

use super::{Page, PageLocal};
use crate::base::bits::div_ceil;
use crate::mem::block::Block;
use crate::mem::os::OS_PAGE;

/// Indices of the blocks of size `bs` that start in OS page `k` of a page
/// holding `reserved` of them.
pub(super) fn starting_in(k: usize, bs: usize, reserved: usize) -> core::ops::Range<usize> {
    let first = div_ceil(k * OS_PAGE, bs).min(reserved);
    let end = div_ceil((k + 1) * OS_PAGE, bs).min(reserved);
    first..end
}

/// Most bytes carved into blocks at one time (and at least one block), so
/// a page's untouched memory stays untouched (and unbacked) until it is
/// needed. Blocks above 2 KiB are thus carved one at a time: carving writes
/// each block's first OS page, and on the benchmark's mixed-size churn
/// carving at least four at a time (as mimalloc does) left about 0.4 MiB
/// more resident at its peak. The price: a loop that cycles a single
/// block of those sizes refills `free` from its own frees on every pair
/// (about 10 instructions; `results/instructions.md`, 4000 B).
const EXTEND_BYTES: usize = 4096;

impl Page {
    /// Carves the next run of untouched blocks and puts them in front of
    /// `free`, or once the page is carved through, the blocks of its lowest
    /// hole (see [`Page::purge_sparse`]). Returns the fresh bytes carved:
    /// those the page had not touched since its memory was last given back
    /// (beyond `dirty`), or a hole's.
    ///
    /// Pages are carved lazily, a run at a time and only when no carved
    /// block is free: that keeps memory untouched on pages that churn
    /// (carving writes each block's first OS page; measured, carving on
    /// every visit raised the benchmark's mixed-size churn peak by about
    /// 5 MiB) and keeps a loop's working set to the blocks it frees (a page
    /// carved through cycles every allocation through all of its blocks,
    /// which cost the marshalling benchmark twice the cache misses).
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn extend(&self) -> usize {
        // SAFETY: owner-only access; blocks past `capacity` are untouched
        // memory of this page that nothing refers to.
        unsafe {
            self.local(|l| {
                let left = l.reserved - l.capacity;
                if left == 0 {
                    return self.carve_hole(l);
                }
                let bs = l.block_size as usize;
                debug_assert!(bs >= core::mem::size_of::<Block>());
                let n = (EXTEND_BYTES / bs).max(1).min(left as usize);
                let first = l.capacity as usize;
                let dirty = l.dirty as usize;
                l.free_is_zero = l.free.is_null() && first * bs >= dirty;
                self.push_run(l, first, n);
                l.capacity += n as u32;
                ((first + n) * bs).saturating_sub((first * bs).max(dirty))
            })
        }
    }

    /// Carves again the blocks of the lowest hole (the blocks that start in
    /// an OS page [`Page::purge_sparse`] gave back) and puts them in front
    /// of `free`. Returns the bytes carved (0: no hole).
    ///
    /// # Safety
    /// The caller's thread owns the page; `l` is its owner part.
    unsafe fn carve_hole(&self, l: &mut PageLocal) -> usize {
        if l.holes == 0 {
            return 0;
        }
        let k = l.holes.trailing_zeros() as usize;
        l.holes &= l.holes - 1;
        let bs = l.block_size as usize;
        let blocks = starting_in(k, bs, l.reserved as usize);
        // SAFETY: the blocks starting in a hole are free blocks of this page
        // on no list (the `holes` invariant), so nothing refers to them.
        unsafe { self.push_run(l, blocks.start, blocks.len()) };
        // (The last of them may reach into an OS page that was not purged.)
        l.free_is_zero = false;
        blocks.len() * bs
    }

    /// Links the `n` blocks from index `first` in address order and puts
    /// them in front of `free`.
    ///
    /// # Safety
    /// The caller's thread owns the page; `l` is its owner part; the blocks
    /// are free blocks of the page that no list or user refers to.
    unsafe fn push_run(&self, l: &mut PageLocal, first: usize, n: usize) {
        let bs = l.block_size as usize;
        // SAFETY: the blocks lie inside the page (caller's contract).
        unsafe {
            let first = self.start.add(first * bs);
            for i in 0..n {
                let b = first.add(i * bs).cast::<Block>();
                let next = if i + 1 < n {
                    first.add((i + 1) * bs).cast()
                } else {
                    l.free
                };
                Block::init_keyed(b, next, self.key());
            }
            l.free = first.cast();
        }
    }
}
