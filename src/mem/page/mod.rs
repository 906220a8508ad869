//! Slab pages: the blocks of one size class carved from one slice of a
//! segment, with the owner's free lists and the remote-free list.
//!
//! Invariant (owner's view, as in mimalloc's `types.h`):
//! `used + |free| + |local_free| + |holes| + (reserved - capacity) == reserved`,
//! where `used` counts every block handed out and not yet back on an owner
//! list, including blocks sitting on `thread_free`, and `|holes|` the free
//! blocks parked in OS pages given back by [`Page::purge_sparse`]. Hence
//! `used == 0` proves that no other thread holds, or is in the middle of
//! freeing, a block of the page, and the owner may retire it.

mod carve;
mod collect;
mod purge;
mod validate;

use super::block::Block;
use super::layout::{Owner, SMALL_PAGE_SHIFT};
use super::os::OS_PAGE;
use crate::base::bits::is_multiple_of;
use crate::base::fault::{self, Fault};
use crate::base::sync::{self, model_const_fn, AtomicPtr, Ordering, UnsafeCell};
use crate::ds::counted_stack::CountedStack;
use crate::ds::report;
use crate::ds::size_class::SMALL_PAGE_BLOCK_MAX;
use crate::ds::stack::Linked;
use crate::ds::stats::Counts;
use core::ptr;
use validate::Shape;

/// The part of a page that only its owning heap's thread touches.
/// Laid out hot fields first: an allocation and a local free touch only
/// `free`, `local_free`, `key` and `tally`, all in the first
/// cache line of the descriptor (with `owner` and `thread_free`).
#[repr(C)]
pub(crate) struct PageLocal {
    /// Blocks ready to hand out.
    pub(crate) free: *mut Block,
    /// Blocks freed by the owner since `free` was last refilled.
    pub(crate) local_free: *mut Block,
    /// Two counters in one word, `credit << CREDIT_SHIFT | allocs`, so an
    /// allocation bumps both with one `add` ([`ALLOC_STEP`]):
    /// * `credit` (the high bits, signed) is `used - bias`, where `used`
    ///   counts the blocks handed out and not back on `free` /
    ///   `local_free` (see [`PageLocal::used`]) and `bias` encodes the
    ///   page's [`Role`], so a local free leaves the fast path exactly when
    ///   the word goes negative: one `sub` and one branch;
    /// * `allocs` (the low [`CREDIT_SHIFT`] bits): blocks handed out since
    ///   the last `take_counts`, kept below [`ALLOCS_FLUSH`] plus a page's
    ///   blocks (see [`Page::reuse_freed`]), so it never carries into
    ///   `credit`.
    tally: i64,
    bias: i32,
    /// Statistics since the last `take_counts`: `used()` at that time, and
    /// remote frees collected.
    counted_used: u32,
    remote: u32,
    /// Blocks carved so far (the rest of the page is untouched).
    pub(crate) capacity: u32,
    /// Blocks that fit in the page.
    pub(crate) reserved: u32,
    pub(crate) block_size: u32,
    /// Bytes from the page start that may be non-zero (0 after a purge).
    pub(crate) dirty: u32,
    pub(crate) class: u16,
    /// Bit `k`: OS page `k` of the page was given back by
    /// [`Page::purge_sparse`], and the blocks that start in it are free and
    /// on no list (they are carved again by [`Page::extend`]).
    pub(crate) holes: u16,
    /// Leaving the current or full role arms the watch for a sparse page:
    /// the queued role's bias then makes the free that takes `used` below
    /// half the page leave the fast path (see [`Page::take_sparse_watch`]).
    sparse_armed: bool,
    pub(crate) in_use: bool,
    /// The page sits on the heap's full list.
    pub(crate) in_full: bool,
    /// Every block on `free` is zero but for its link and check words.
    pub(crate) free_is_zero: bool,
    /// The page's memory was given back to the OS and not used since.
    pub(crate) decommitted: bool,
    /// Links in the heap's page queue (class queue or full list).
    pub(crate) prev: *mut Page,
    pub(crate) next: *mut Page,
    /// A time (ms, coarse clock), by role: for a retired page, when it was
    /// retired (0: nothing to purge); for a page in use listed as sparse,
    /// when maintenance first saw it listed (0 until then: listing reads no
    /// clock). One field, as a page is never both.
    pub(crate) since: u64,
}

/// Where a page stands in its heap, which decides when a local free must
/// leave the fast path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// The page the heap allocates its class from: kept even when unused.
    Current,
    /// On its class queue: retired when it becomes unused.
    Queued,
    /// On the full list: any local free moves it back to its queue.
    Full,
}

/// A page descriptor; lives in its segment's header (see `segment` for
/// the slot a descriptor sits in).
#[repr(C, align(64))]
pub(crate) struct Page {
    /// The heap that owns the page: a copy of its segment's owner, kept by
    /// `Segment::set_owner`, so a free reads its owner from the descriptor
    /// it pushes to (one cache line). Null in the slots of a segment that
    /// head no page (the inner 64 KiB slices of a medium page, the slot a
    /// large object's address maps to), which sends a free there to the
    /// slow path. Compared, never dereferenced, by freeing threads.
    pub(crate) owner: AtomicPtr<Owner>,
    /// Blocks freed by threads other than the owner. Next to `owner`, so a
    /// remote free touches one line of the descriptor: the owner writes
    /// that line on every allocation anyway, so a free that only read
    /// `owner` there and pushed on a second line would miss on both.
    pub(crate) thread_free: CountedStack<Block>,
    /// Key every free list of the page encodes its links with (see
    /// `Block::init_keyed`): the owner's lists and `thread_free`, whose
    /// pushers link a block in the form the owner pops it, so the owner
    /// takes a remote chain without re-linking it. Written by `init` only,
    /// while no block of the page is out (so no remote free is under way);
    /// read by the owner and by remote frees.
    key: UnsafeCell<usize>,
    /// What a free checks the block start against (see
    /// [`Page::is_block_start`]); written like `key`.
    shape: UnsafeCell<Shape>,
    pub(crate) local: UnsafeCell<PageLocal>,
    /// First byte of the page's memory (immutable once the segment is set up).
    pub(crate) start: *mut u8,
}

// SAFETY: the owner-only part is only touched by the owning thread (or by a
// thread that acquired the page's segment through abandonment), the shared
// part is atomic; see the module invariant.
unsafe impl Sync for Page {}
// SAFETY: as above; a page is plain memory handed between owners.
unsafe impl Send for Page {}

impl PageLocal {
    const fn empty() -> Self {
        PageLocal {
            free: ptr::null_mut(),
            local_free: ptr::null_mut(),
            tally: QUEUED_UNUSED_TALLY,
            bias: BIAS_QUEUED,
            capacity: 0,
            reserved: 0,
            block_size: 0,
            dirty: 0,
            class: 0,
            holes: 0,
            sparse_armed: false,
            in_use: false,
            in_full: false,
            free_is_zero: false,
            prev: ptr::null_mut(),
            next: ptr::null_mut(),
            since: 0,
            decommitted: false,
            counted_used: 0,
            remote: 0,
        }
    }
}

/// Biases of the three roles: a current page never leaves the fast path
/// on a free, a queued one when its last block comes back, a full one on
/// any free. Pages hold at most 4096 blocks, far from the bounds.
const BIAS_CURRENT: i32 = -(1 << 30);
const BIAS_QUEUED: i32 = 1;
const BIAS_FULL: i32 = 1 << 30;

/// Where `credit` starts in [`PageLocal::tally`]. At most 30, so that
/// [`ALLOC_STEP`] is an immediate operand of an x86-64 `add`; `credit`
/// (within about ±2^30, see the biases) keeps 34 bits.
const CREDIT_SHIFT: u32 = 30;
/// One block handed out: `credit` and `allocs` each up by one.
const ALLOC_STEP: i64 = (1 << CREDIT_SHIFT) + 1;
/// One block back on an owner list: `credit` down by one.
const FREE_STEP: i64 = 1 << CREDIT_SHIFT;
const ALLOCS_MASK: i64 = FREE_STEP - 1;
/// The tally of a queued page with no block out and no allocation counted.
const QUEUED_UNUSED_TALLY: i64 = (-BIAS_QUEUED as i64) << CREDIT_SHIFT;
/// Past this many allocations since its counts were taken, a page leaves
/// the fast path at its next refill, whose slow path takes them (see
/// [`Page::reuse_freed`]); between refills a page hands out at most its
/// blocks, far fewer than the 2^29 left before `allocs` would carry.
const ALLOCS_FLUSH: u32 = 1 << 29;

impl PageLocal {
    /// Bytes of a retired page that are still backed by memory (retired and
    /// not yet given back to the OS); 0 for a page in use.
    #[inline]
    pub(crate) fn retained(&self) -> usize {
        if self.in_use || self.since == 0 {
            0
        } else {
            self.dirty as usize
        }
    }

    /// Blocks handed out and not back on `free` / `local_free`, including
    /// blocks waiting on the remote-free list.
    #[inline]
    pub(crate) fn used(&self) -> u32 {
        (self.credit() + self.bias) as u32
    }

    /// `used - bias` (see [`PageLocal::tally`]).
    #[inline]
    fn credit(&self) -> i32 {
        (self.tally >> CREDIT_SHIFT) as i32
    }

    /// Blocks handed out since the counts were last taken.
    #[inline]
    pub(crate) fn allocs(&self) -> u32 {
        (self.tally & ALLOCS_MASK) as u32
    }

    /// One block handed out.
    #[inline(always)]
    fn count_alloc(&mut self) {
        self.tally += ALLOC_STEP;
    }

    /// `n` blocks back on the owner's lists; returns whether `credit` went
    /// negative.
    #[inline(always)]
    fn count_back(&mut self, n: u32) -> bool {
        self.tally -= i64::from(n) * FREE_STEP;
        self.tally < 0
    }

    fn set_credit(&mut self, credit: i32) {
        self.tally = i64::from(credit) << CREDIT_SHIFT | (self.tally & ALLOCS_MASK);
    }

    /// When `free` is empty and `local_free` is not, makes the owner's
    /// frees the new `free` list; returns whether it did.
    fn take_local_free(&mut self) -> bool {
        if !self.free.is_null() || self.local_free.is_null() {
            return false;
        }
        self.free = self.local_free;
        self.local_free = ptr::null_mut();
        self.free_is_zero = false;
        true
    }

    /// Drops the free lists and the parked blocks: every block not handed
    /// out counts as uncarved again, to be carved anew (`dirty` keeps the
    /// memory's extent).
    fn forget_free_blocks(&mut self) {
        self.dirty = self.dirty.max(self.capacity * self.block_size);
        self.free = ptr::null_mut();
        self.local_free = ptr::null_mut();
        self.capacity = 0;
        self.holes = 0;
    }

    /// Whether an allocation can be served from the page: a free block, an
    /// uncarved one, or a hole to carve again.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        !self.free.is_null() || self.capacity < self.reserved || self.holes != 0
    }

    /// The queued role's bias: half the page while the sparse watch is
    /// armed (pages of classes [`Page::purge_sparse`] serves), else 1.
    fn queued_bias(&self) -> i32 {
        if self.sparse_armed {
            (self.reserved / 2).max(1) as i32
        } else {
            BIAS_QUEUED
        }
    }

    fn set_bias(&mut self, bias: i32) {
        let used = self.used() as i32;
        self.bias = bias;
        self.set_credit(used - bias);
    }
}

/// Smallest block whose memory is given back while it sits free in a page
/// in use (see [`Page::purge_free_blocks`]).
pub(crate) const PURGE_BLOCK_MIN: usize = 8 * 1024;

/// Bytes of a small page (blocks below [`PURGE_BLOCK_MIN`] live in them).
const SMALL_PAGE_BYTES: usize = 1 << SMALL_PAGE_SHIFT;

/// Most blocks a small page holds (of the smallest class, 16 bytes).
const MAX_SMALL_BLOCKS: usize = SMALL_PAGE_BYTES / 16;

const _: () = assert!(SMALL_PAGE_BYTES / OS_PAGE <= 16, "holes: one bit per OS page in a u16");
const _: () = assert!(PURGE_BLOCK_MIN <= SMALL_PAGE_BLOCK_MAX);

impl Page {
    model_const_fn! {
        /// An unused page whose memory starts at `start`.
        pub(crate) fn new(start: *mut u8, owner: *mut Owner) -> Self {
            Page {
                owner: AtomicPtr::new(owner),
                thread_free: CountedStack::new(),
                key: UnsafeCell::new(0),
                shape: UnsafeCell::new(Shape::NONE),
                local: UnsafeCell::new(PageLocal::empty()),
                start,
            }
        }
    }

    /// The owning heap (Relaxed: only compared against the caller's own
    /// heap, which only the caller's thread stores).
    #[inline(always)]
    pub(crate) fn owner(&self) -> *mut Owner {
        self.owner.load(Ordering::Relaxed)
    }

    /// Whether `heap` owns the page: [`Page::owner`] compared with `heap`
    /// by [`sync::relaxed_ptr_is`], one instruction on x86-64 (the free
    /// fast path's owner check).
    #[inline(always)]
    pub(crate) fn is_owned_by(&self, heap: *mut Owner) -> bool {
        sync::relaxed_ptr_is(&self.owner, heap)
    }

    /// The key of the page's free lists.
    #[inline(always)]
    fn key(&self) -> usize {
        // SAFETY: only `init` writes the key, while no block of the page is
        // out; every reader holds a block of the page or owns it.
        self.key.with(|k| unsafe { *k })
    }

    /// Runs `f` on the owner-only state.
    ///
    /// # Safety
    /// The caller's thread owns the page (see the module invariant) and `f`
    /// does not re-enter `local` of the same page.
    #[inline(always)]
    pub(crate) unsafe fn local<R>(&self, f: impl FnOnce(&mut PageLocal) -> R) -> R {
        self.local.with_mut(|l| {
            // SAFETY: exclusive access by the owner (caller's contract); the
            // reference does not outlive the closure.
            f(unsafe { &mut *l })
        })
    }

    /// Records the page's role in its heap.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    #[inline]
    pub(crate) unsafe fn set_role(&self, role: Role) {
        // SAFETY: owner-only access (caller's contract).
        unsafe {
            self.local(|l| {
                l.in_full = role == Role::Full;
                if role != Role::Queued {
                    l.sparse_armed = (l.block_size as usize) < PURGE_BLOCK_MIN;
                }
                let bias = match role {
                    Role::Current => BIAS_CURRENT,
                    Role::Queued => l.queued_bias(),
                    Role::Full => BIAS_FULL,
                };
                l.set_bias(bias);
            })
        }
    }

    /// Pops a block from `free` and clears its link word (so a block handed
    /// out never reads as free to [`Page::looks_free`]): null if it is
    /// empty, or (checked build) if
    /// the head's check word does not match (the caller's slow path then
    /// pops with [`Page::pop_checked`], which reports it). No call on this path, so the
    /// exported functions that inline it need no stack frame.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    #[inline(always)]
    pub(crate) unsafe fn pop(&self) -> *mut u8 {
        // SAFETY: owner-only access (caller's contract); `free` holds only
        // free blocks of this page.
        unsafe {
            self.local(|l| {
                let b = l.free;
                if b.is_null() {
                    return ptr::null_mut();
                }
                let next = Block::next_keyed(b, self.key());
                if !Block::check_ok(b, next, self.key()) {
                    return ptr::null_mut();
                }
                l.free = next;
                l.count_alloc();
                Block::clear_link(b);
                b.cast()
            })
        }
    }

    /// Pops a block from `free` (null if it is empty), stopping the process
    /// with a message if the head's link is corrupted (see
    /// [`Page::checked_next`]).
    ///
    /// # Safety
    /// The caller's thread owns the page.
    #[inline]
    pub(crate) unsafe fn pop_checked(&self) -> *mut u8 {
        // SAFETY: as for `pop`.
        unsafe {
            self.local(|l| {
                let b = l.free;
                if !b.is_null() {
                    l.free = self.checked_next(l, b);
                    l.count_alloc();
                    Block::clear_link(b);
                }
                b.cast()
            })
        }
    }

    /// The decoded link of `b`, a block on one of the owner lists, stopping
    /// the process with a message if it is neither null nor a block of this
    /// page (or, in the checked build, if its check word does not match).
    ///
    /// # Safety
    /// The caller's thread owns the page; `l` is its owner part.
    #[inline]
    unsafe fn checked_next(&self, l: &PageLocal, b: *mut Block) -> *mut Block {
        // SAFETY: `b` is on an owner list of this page (caller's contract).
        unsafe {
            let next = Block::next_keyed(b, self.key());
            let off = (next as usize).wrapping_sub(self.start as usize);
            let in_page = off < (l.capacity * l.block_size) as usize && is_multiple_of(off, l.block_size as usize);
            if !(next.is_null() || in_page) || !Block::check_ok(b, next, self.key()) {
                // The word as found in memory (what the stray write left).
                report::corrupt_free_list(b.cast(), Block::next(b) as usize);
            }
            next
        }
    }

    /// Whether `free` holds a block.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    #[inline]
    pub(crate) unsafe fn has_free(&self) -> bool {
        // SAFETY: owner-only access (caller's contract).
        unsafe { self.local(|l| !l.free.is_null()) }
    }

    /// Puts back a block the owner frees. Returns true when the caller must
    /// look further: a queued page became unused, or the page sits on the
    /// full list.
    ///
    /// # Safety
    /// The caller's thread owns the page; `p` is a block of it that is handed
    /// out and will not be used again by the caller.
    #[inline(always)]
    pub(crate) unsafe fn push_local(&self, p: *mut u8) -> bool {
        // SAFETY: as above.
        unsafe {
            self.local(|l| {
                let b = p.cast::<Block>();
                Block::init_keyed(b, l.local_free, self.key());
                l.local_free = b;
                l.count_back(1) || (fault::injected(Fault::RetireIgnoresRemote) && l.used() == 1)
            })
        }
    }

    /// Sets the page up for blocks of `class`. Its memory is `page_size`
    /// bytes at `start`; its free lists are encoded with `key` (non-zero).
    /// Returns whether the page's memory had been given back to the OS.
    ///
    /// # Safety
    /// The caller's thread owns the page and the page is not in use.
    pub(crate) unsafe fn init(&self, class: usize, block_size: usize, page_size: usize, key: usize) -> bool {
        debug_assert!(self.thread_free.is_empty_hint());
        // SAFETY: an unused page: no block of it is out, so no other thread
        // reads the key (see `key`).
        self.key.with_mut(|k| unsafe { *k = key });
        // SAFETY: as for the key.
        self.shape
            .with_mut(|s| unsafe { *s = Shape::of(block_size, page_size / block_size) });
        // SAFETY: owner-only access to an unused page.
        unsafe {
            self.local(|l| {
                debug_assert!(!l.in_use && l.used() == 0);
                l.free = ptr::null_mut();
                l.local_free = ptr::null_mut();
                l.bias = BIAS_QUEUED;
                l.tally = QUEUED_UNUSED_TALLY;
                l.capacity = 0;
                l.reserved = (page_size / block_size) as u32;
                l.block_size = block_size as u32;
                l.class = class as u16;
                l.holes = 0;
                l.sparse_armed = false;
                l.in_use = true;
                l.in_full = false;
                l.free_is_zero = false;
                l.prev = ptr::null_mut();
                l.next = ptr::null_mut();
                l.since = 0;
                l.counted_used = 0;
                l.remote = 0;
                core::mem::replace(&mut l.decommitted, false)
            })
        }
    }

    /// Takes the page's statistics since the last call.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn take_counts(&self) -> Counts {
        // SAFETY: owner-only access.
        unsafe {
            self.local(|l| {
                let used = l.used();
                // used == counted_used + allocs - frees
                let allocs = l.allocs();
                let c = Counts {
                    allocs,
                    frees: (l.counted_used + allocs).wrapping_sub(used),
                    remote: l.remote,
                };
                l.tally &= !ALLOCS_MASK;
                l.remote = 0;
                l.counted_used = used;
                c
            })
        }
    }

    /// Marks an unused page as free, remembering how much of it is dirty.
    ///
    /// # Safety
    /// The caller's thread owns the page, and `used == 0` after `collect`.
    pub(crate) unsafe fn reset(&self, now_ms: u64) {
        // SAFETY: no block of the page is out, so no other thread reads the
        // shape (see `key`): a free of one of its blocks now fails
        // `is_block_start`.
        self.shape.with_mut(|s| unsafe { *s = Shape::NONE });
        // SAFETY: owner-only access.
        unsafe {
            self.local(|l| {
                debug_assert_eq!(l.used(), 0, "retiring a page with blocks in use");
                l.forget_free_blocks();
                l.in_use = false;
                l.in_full = false;
                l.set_bias(BIAS_QUEUED);
                l.sparse_armed = false;
                l.since = now_ms.max(1);
            })
        }
    }
}

#[cfg(test)]
mod tests;
