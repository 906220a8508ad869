//! Returning the memory of free blocks while their page stays in use: the
//! free OS pages of sparse pages, and the insides of big free blocks.

use super::carve::starting_in;
use super::{Page, PageLocal, BIAS_CURRENT, BIAS_QUEUED, MAX_SMALL_BLOCKS, PURGE_BLOCK_MIN, SMALL_PAGE_BYTES};
use crate::base::bits::{div_ceil, ones, round_up};
use crate::mem::block::Block;
use crate::mem::os::{self, OS_PAGE};
use core::mem::size_of;
use core::ptr;

/// The word a purged free block holds after its link (xored with its
/// address and link), so it is not purged again until reused; xored with
/// [`SEEN`], the word of a free block a pass has seen and not yet purged.
#[inline]
fn purged_mark(key: usize) -> usize {
    key.rotate_left(29) ^ 0x6d69_646c_5f70_7572
}

/// Tells a seen block's mark from a purged one's.
const SEEN: usize = 0x5ee0;

/// Bytes at the start of a free block that purging keeps: its link and
/// check, the mark and the time.
const PURGE_KEEP: usize = 4 * size_of::<usize>();

impl Page {
    /// Gives back to the OS each OS page of a page of small blocks (below
    /// [`PURGE_BLOCK_MIN`]) that every block overlapping is free, and takes
    /// the blocks that start in it off the owner lists, recording the OS
    /// page in `holes` ([`Page::extend`] carves them again once the page has
    /// no other room). A slab page that a phase of the program left sparse
    /// thus holds only the OS pages its live blocks are in, and the rest
    /// can serve any size class through the OS. Returns the bytes purged.
    ///
    /// Costs a walk of the owner lists and a bitmap of the page's blocks;
    /// the heap runs it once per page that became sparse (see
    /// [`Page::take_sparse_watch`]), not per free.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn purge_sparse(&self) -> usize {
        // SAFETY: owner-only access; the owner lists hold free blocks of
        // this page (links checked while walked); a block is taken off them
        // before the OS page holding its link is purged.
        unsafe {
            self.local(|l| {
                let bs = l.block_size as usize;
                if !l.in_use || bs >= PURGE_BLOCK_MIN {
                    return 0;
                }
                let reserved = l.reserved as usize;
                let capacity = l.capacity as usize;
                debug_assert!(reserved <= MAX_SMALL_BLOCKS);
                let start = self.start as usize;
                // Free blocks: on the owner lists, in holes, or uncarved.
                let mut free = [0u64; MAX_SMALL_BLOCKS / 64];
                for head in [l.free, l.local_free] {
                    let mut b = head;
                    while !b.is_null() {
                        let i = (b as usize - start) / bs;
                        free[i / 64] |= 1 << (i % 64);
                        b = self.checked_next(l, b);
                    }
                }
                for k in ones(u64::from(l.holes)) {
                    for i in starting_in(k, bs, reserved) {
                        free[i / 64] |= 1 << (i % 64);
                    }
                }
                let is_free = |i: usize| i >= capacity || free[i / 64] >> (i % 64) & 1 != 0;
                // Only OS pages that may hold data are worth a system call.
                let span = reserved * bs;
                let touched = (l.dirty as usize).max(capacity * bs).min(SMALL_PAGE_BYTES);
                let mut purge = 0u16;
                let mut new_holes = 0u16;
                let mut parked = 0;
                for k in 0..div_ceil(touched, OS_PAGE) {
                    if l.holes >> k & 1 != 0 {
                        continue;
                    }
                    let lo = k * OS_PAGE;
                    if lo < span && !(lo / bs..=((lo + OS_PAGE).min(span) - 1) / bs).all(is_free) {
                        continue;
                    }
                    let starting = starting_in(k, bs, reserved);
                    let carved = starting.start.max(starting.end.min(capacity)) - starting.start;
                    if carved != 0 && carved != starting.len() {
                        // Carved blocks and uncarved ones start in it: a
                        // hole would carve the latter twice.
                        continue;
                    }
                    purge |= 1 << k;
                    if carved != 0 {
                        new_holes |= 1 << k;
                        parked += carved;
                    }
                }
                if purge == 0 {
                    return 0;
                }
                let in_new_hole = |b: *mut Block| new_holes >> ((b as usize - start) / OS_PAGE) & 1 != 0;
                let taken = self.unlink_where(l, true, in_new_hole) + self.unlink_where(l, false, in_new_hole);
                debug_assert_eq!(taken, parked, "blocks in the new holes not all on the lists");
                l.holes |= new_holes;
                let mut bytes = 0;
                while purge != 0 {
                    let k = purge.trailing_zeros() as usize;
                    let run = (purge >> k).trailing_ones() as usize;
                    os::purge(self.start.add(k * OS_PAGE), run * OS_PAGE);
                    bytes += run * OS_PAGE;
                    purge &= !(((1u32 << run) - 1) << k) as u16;
                }
                bytes
            })
        }
    }

    /// Takes the blocks for which `drop` holds off `free` (or `local_free`),
    /// keeping the others in order. Returns how many it took.
    ///
    /// # Safety
    /// The caller's thread owns the page; `l` is its owner part.
    unsafe fn unlink_where(&self, l: &mut PageLocal, on_free: bool, drop: impl Fn(*mut Block) -> bool) -> usize {
        let mut taken = 0;
        let mut head: *mut Block = ptr::null_mut();
        // The last block kept, and the link it holds now.
        let mut tail: *mut Block = ptr::null_mut();
        let mut tail_next: *mut Block = ptr::null_mut();
        let mut b = if on_free { l.free } else { l.local_free };
        // SAFETY: the list holds free blocks of this page (links checked as
        // they are walked); only kept blocks' links are rewritten.
        unsafe {
            while !b.is_null() {
                let next = self.checked_next(l, b);
                if drop(b) {
                    taken += 1;
                } else {
                    if tail.is_null() {
                        head = b;
                    } else if tail_next != b {
                        Block::init_keyed(tail, b, self.key());
                    }
                    tail = b;
                    tail_next = next;
                }
                b = next;
            }
            if !tail.is_null() && !tail_next.is_null() {
                Block::init_keyed(tail, ptr::null_mut(), self.key());
            }
        }
        if on_free {
            l.free = head;
        } else {
            l.local_free = head;
        }
        taken
    }

    /// The free that took a queued page with an armed watch below half its
    /// blocks (the queued role's bias sends it to the slow path): disarms
    /// the watch, giving the page the plain queued bias, and returns true,
    /// for the heap to list the page for [`Page::purge_sparse`].
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn take_sparse_watch(&self) -> bool {
        // SAFETY: owner-only access.
        unsafe {
            self.local(|l| {
                if !l.sparse_armed || l.in_full || l.bias == BIAS_CURRENT || l.used() >= l.queued_bias() as u32 {
                    return false;
                }
                l.sparse_armed = false;
                l.set_bias(BIAS_QUEUED);
                true
            })
        }
    }

    /// Gives back to the OS the memory of free blocks of at least
    /// [`PURGE_BLOCK_MIN`] bytes on the owner's lists that have been free
    /// for `delay` ms at `now`, all but the OS page holding each block's
    /// first words (its link, a mark and a time, so a block is purged once
    /// per time it is freed). Returns the bytes purged.
    ///
    /// A pass marks each block freed since the last pass "seen at `now`"
    /// and purges the seen blocks whose time is `delay` old; with `delay`
    /// 0, the blocks freed since the last pass too. A block
    /// that is freed and handed out again at a steady pace keeps its
    /// memory, one that stays free goes back after one to two passes' worth
    /// of the delay. (Before, every
    /// block freed since the last pass was purged; on the benchmark's
    /// `mixed_sizes` row, where blocks of 8 KiB and up come and go all the
    /// time, that was a `madvise` and the page faults after it for most
    /// frees.)
    ///
    /// Each list is walked only down to its first purged block: blocks join
    /// a list only at its head (a free, a collected remote chain, a carved
    /// run) and `local_free` becomes `free` only when `free` is empty, so
    /// everything below a block a pass saw was there at that pass and seen
    /// by it or before, and everything below a purged block is purged. A
    /// pass costs the blocks freed and not yet purged.
    /// (A block whose user never wrote its words 2 and 3 and that is freed
    /// onto the same link again still reads as seen or purged then; the
    /// blocks freed below it since wait until it is handed out, or their
    /// page is retired.)
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn purge_free_blocks(&self, now: u64, delay: u64) -> usize {
        // SAFETY: owner-only access; the blocks on the owner lists are free
        // blocks of this page (links checked as in `pop`), whose memory
        // past the first OS page holds nothing.
        unsafe {
            self.local(|l| {
                let bs = l.block_size as usize;
                if bs < PURGE_BLOCK_MIN {
                    return 0;
                }
                let purged = purged_mark(self.key());
                let seen = purged ^ SEEN;
                let mut bytes = 0;
                // Freshly carved blocks on `free` were never touched past
                // their link: nothing to give back, and they stay zero.
                let fresh = if l.free_is_zero { l.free } else { ptr::null_mut() };
                for head in [l.free, l.local_free] {
                    if head == fresh {
                        continue;
                    }
                    let mut b = head;
                    while !b.is_null() {
                        // Words 0 and 1 are the link and its check; the
                        // marks name the block and its link, so a block
                        // handed out and freed again (its link rewritten)
                        // does not pass for seen or purged if its user left
                        // word 2. Word 3 is the time a pass saw it.
                        let words = b.cast::<usize>();
                        let name = b as usize ^ words.read();
                        let word2 = words.add(2).read();
                        if word2 == purged ^ name {
                            break;
                        }
                        let due = if word2 == seen ^ name {
                            now.saturating_sub(words.add(3).read() as u64) >= delay
                        } else {
                            words.add(2).write(seen ^ name);
                            words.add(3).write(now as usize);
                            delay == 0
                        };
                        if due {
                            let from = round_up(b as usize + PURGE_KEEP, OS_PAGE);
                            let to = (b as usize + bs) & !(OS_PAGE - 1);
                            if to > from {
                                os::purge(from as *mut u8, to - from);
                                bytes += to - from;
                            }
                            words.add(2).write(purged ^ name);
                        }
                        b = self.checked_next(l, b);
                    }
                }
                bytes
            })
        }
    }
}
