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

use crate::heap::Heap;
use crate::os::{self, OS_PAGE};
use crate::remote::{CountedStack, Linked};
use crate::segment::SMALL_PAGE_SHIFT;
use crate::sync::{AtomicPtr, Ordering, UnsafeCell};
use crate::{fault, report};
use core::mem::size_of;
use core::ptr;

/// A free block: its first word links it into a free list.
///
/// On the owner's lists (`free`, `local_free`) the link is stored encoded,
/// `next ^ key` with the page's secret key, which has its top bit set and
/// the next one clear. A stray write into a freed block therefore decodes
/// to an address with bit 63 set (any value with a clear top bit: pointers,
/// small and positive integers) or bits 63..62 = 0b01 (values with both top
/// bits set, such as -1): never a user-space address, so the allocation
/// that follows it faults instead of handing out foreign memory, and a
/// forged link cannot aim anywhere without the key. Values with bits
/// 63..62 = 0b10 (negative doubles between -2 and 2, for instance) decode
/// to a user address only if their bits 47..61 equal the key's (1 in
/// 32768). The decode costs one `xor` on the pop; slow-path walks of the
/// lists also check every decoded link lies in its page and stop with a
/// message when not.
///
/// The checked build (feature `checked`) adds a check word, a second
/// encoding of the link verified on every pop, so a corrupted link is
/// always reported with a message.
///
/// Remote-free lists hold plain links: their pushers do not know the key;
/// the owner range-checks those links when it collects them.
#[repr(C)]
pub(crate) struct Block {
    next: UnsafeCell<*mut Block>,
    check: UnsafeCell<usize>,
}

/// Whether free blocks carry a check word (see [`Block`]).
const CHECK_WORD: bool = cfg!(feature = "checked");

/// The check word of an owner-list link (checked build).
#[inline(always)]
fn check_word(next: *mut Block, key: usize) -> usize {
    next as usize ^ key.rotate_left(32)
}

/// A free-list key with the shape [`Block`] relies on (bit 63 set, bit 62
/// clear) from any 64 random bits.
pub(crate) const fn shape_key(bits: usize) -> usize {
    (bits | 1 << (usize::BITS - 1)) & !(1 << (usize::BITS - 2))
}

impl Block {
    /// Writes a plain link into the free memory at `this` (`Linked`'s
    /// `set_next`; the allocator's own lists of blocks are all keyed, see
    /// `init_keyed`).
    ///
    /// # Safety
    /// `this` is valid for writes of a `Block`, aligned, and owned by the
    /// caller (a block that is not, or no longer, handed out).
    #[inline(always)]
    pub(crate) unsafe fn init(this: *mut Block, next: *mut Block) {
        // SAFETY: forwarded from the caller. The whole block header is
        // written (not just the link), so under loom the cells are made anew.
        unsafe {
            this.write(Block {
                next: UnsafeCell::new(next),
                check: UnsafeCell::new(0),
            })
        }
    }

    /// Writes an owner-list link, encoded with `key` (and its check word in
    /// the checked build).
    ///
    /// # Safety
    /// As for [`Block::init`].
    #[inline(always)]
    pub(crate) unsafe fn init_keyed(this: *mut Block, next: *mut Block, key: usize) {
        let stored = if cfg!(midl_unprotected) {
            next
        } else {
            (next as usize ^ key) as *mut Block
        };
        // SAFETY: forwarded from the caller.
        unsafe {
            if cfg!(loom) || CHECK_WORD {
                this.write(Block {
                    next: UnsafeCell::new(stored),
                    check: UnsafeCell::new(check_word(next, key)),
                })
            } else {
                // The link alone; `UnsafeCell` is transparent outside loom.
                this.cast::<*mut Block>().write(stored)
            }
        }
    }

    /// Reads an owner-list link written by [`Block::init_keyed`] with `key`,
    /// without checking it.
    ///
    /// # Safety
    /// `this` is a free block on one of the caller's owner lists.
    #[inline(always)]
    pub(crate) unsafe fn next_keyed(this: *mut Block, key: usize) -> *mut Block {
        // SAFETY: forwarded from the caller.
        let stored = unsafe { Block::next(this) };
        if cfg!(midl_unprotected) {
            stored
        } else {
            (stored as usize ^ key) as *mut Block
        }
    }

    /// In the checked build, whether the check word of `this` matches its
    /// decoded link `next`; always true otherwise.
    ///
    /// # Safety
    /// As for [`Block::next_keyed`].
    #[inline(always)]
    pub(crate) unsafe fn check_ok(this: *mut Block, next: *mut Block, key: usize) -> bool {
        // SAFETY: forwarded from the caller.
        !CHECK_WORD || unsafe { (*this).check.with(|c| *c) } == check_word(next, key)
    }
}

/// A block's raw link word (`next` reads it as stored: the keyed lists
/// decode it, see `next_keyed`; the loom models' pool list of raw blocks
/// stores it plain).
impl Linked for Block {
    #[inline(always)]
    unsafe fn next(this: *mut Self) -> *mut Self {
        // SAFETY: `this` is a live free block (caller's contract).
        unsafe { (*this).next.with(|p| *p) }
    }

    #[inline(always)]
    unsafe fn set_next(this: *mut Self, next: *mut Self) {
        // SAFETY: the caller owns the free block `this`.
        unsafe { Block::init(this, next) }
    }
}

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
    /// When the page was retired (ms, coarse clock); 0 if nothing to purge.
    pub(crate) retired_at: u64,
}

/// What a page did since its counts were last taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) allocs: u32,
    pub(crate) frees: u32,
    pub(crate) remote: u32,
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
    pub(crate) owner: AtomicPtr<Heap>,
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
            retired_at: 0,
            decommitted: false,
            counted_used: 0,
            remote: 0,
        }
    }
}

/// Biases of the three roles: a current page never leaves the fast path
/// on a free, a queued one when its last block comes back, a full one on
/// any free. Pages hold at most 8192 blocks, far from the bounds.
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
        if self.in_use || self.retired_at == 0 {
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
const _: () = assert!(PURGE_BLOCK_MIN <= crate::size_class::SMALL_PAGE_BLOCK_MAX);

// A remote free and the owner's fast paths each touch only the first cache
// line of a descriptor.
#[cfg(not(loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Page, key) + size_of::<usize>() <= 64);
    assert!(offset_of!(Page, local) + offset_of!(PageLocal, tally) + size_of::<i64>() <= 64);
};

/// Indices of the blocks of size `bs` that start in OS page `k` of a page
/// holding `reserved` of them.
fn starting_in(k: usize, bs: usize, reserved: usize) -> core::ops::Range<usize> {
    let first = (k * OS_PAGE).div_ceil(bs).min(reserved);
    let end = ((k + 1) * OS_PAGE).div_ceil(bs).min(reserved);
    first..end
}

/// The word a purged free block holds after its link (xored with its
/// address), so it is not purged again until reused.
#[inline]
fn purged_mark(key: usize) -> usize {
    key.rotate_left(29) ^ 0x6d69_646c_5f70_7572
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
    /// An unused page whose memory starts at `start`.
    #[cfg(not(loom))]
    pub(crate) const fn new(start: *mut u8, owner: *mut Heap) -> Self {
        Page {
            owner: AtomicPtr::new(owner),
            thread_free: CountedStack::new(),
            key: UnsafeCell::new(0),
            local: UnsafeCell::new(PageLocal::empty()),
            start,
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(start: *mut u8, owner: *mut Heap) -> Self {
        Page {
            owner: AtomicPtr::new(owner),
            thread_free: CountedStack::new(),
            key: UnsafeCell::new(0),
            local: UnsafeCell::new(PageLocal::empty()),
            start,
        }
    }

    /// The owning heap (Relaxed: only compared against the caller's own
    /// heap, which only the caller's thread stores).
    #[inline(always)]
    pub(crate) fn owner(&self) -> *mut Heap {
        self.owner.load(Ordering::Relaxed)
    }

    /// Whether `heap` owns the page: [`Page::owner`] compared with `heap`,
    /// on x86-64 with the load folded into the compare (one instruction on
    /// the free fast path fewer: LLVM does not fold an atomic load into an
    /// arithmetic instruction, so `owner() == heap` is a load and a
    /// compare). The asm block reads the word with one aligned 8-byte
    /// load, which x86-64 performs atomically: a Relaxed load.
    #[inline(always)]
    pub(crate) fn is_owned_by(&self, heap: *mut Heap) -> bool {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        // SAFETY: `self.owner` is a live, aligned pointer-sized atomic; the
        // asm only reads it (an atomic load on x86-64) and sets flags.
        unsafe {
            core::arch::asm!(
                "cmp qword ptr [{owner}], {heap}",
                "jne {other}",
                owner = in(reg) self.owner.as_ptr(),
                heap = in(reg) heap,
                other = label { return false; },
                options(nostack, readonly),
            );
            true
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        {
            self.owner() == heap
        }
    }

    /// The key of the page's free lists.
    #[inline(always)]
    fn key(&self) -> usize {
        // SAFETY: only `init` writes the key, while no block of the page is
        // out; every reader holds a block of the page or owns it.
        self.key.with(|k| unsafe { *k })
    }

    /// Frees `p` from a thread that does not own the page: one CAS onto
    /// `thread_free`, linked as the owner will pop it.
    ///
    /// # Safety
    /// `p` is a block of this page that is handed out (so the page is in
    /// use) and not used again by the caller.
    #[inline]
    pub(crate) unsafe fn push_remote(&self, p: *mut u8) {
        let key = self.key();
        // SAFETY: the block is the caller's until the push publishes it; a
        // page in use lies in a segment below `ADDRESS_LIMIT` (checked when
        // the segment was mapped) and holds fewer blocks than `COUNT_MAX`.
        unsafe {
            self.thread_free
                .push(p.cast::<Block>(), |b, first| Block::init_keyed(b, first, key))
        }
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

    /// Pops a block from `free`: null if it is empty, or (checked build) if
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
            let in_page = off < (l.capacity * l.block_size) as usize && off.is_multiple_of(l.block_size as usize);
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
                l.count_back(1) || (fault::injected(fault::Fault::RetireIgnoresRemote) && l.used() == 1)
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
                l.retired_at = 0;
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

    /// Moves blocks freed by other threads and by the owner onto the owner's
    /// lists. Returns the number of remote frees collected.
    ///
    /// The remote chain comes with its length and in the owner's encoding,
    /// so it is never walked (each of its blocks was last written by
    /// another thread: a cache miss apiece). It becomes `free` or
    /// `local_free` whole when one of them is empty, which is always so on
    /// the allocation slow path (it collects when `free` ran dry). When both
    /// hold blocks (a page looked at by thread exit, adoption or a scan),
    /// the page has room anyway: the chain stays on `thread_free` (still
    /// counted in `used`) unless it holds every block still out, in which
    /// case it is taken and the page starts over uncarved (the callers
    /// retire such a page, which drops its lists).
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn collect(&self) -> u32 {
        // SAFETY: owner-only access; blocks on `thread_free` are free blocks
        // of this page, linked with the page's key and published by
        // `push_remote` (Release), acquired by `take_all`.
        unsafe {
            self.local(|l| {
                l.take_local_free();
                let both = !l.free.is_null() && !l.local_free.is_null();
                // Only the owner takes from `thread_free`, so a count that
                // reaches `used` stays there until the take below.
                if both && self.thread_free.count_hint() != l.used() {
                    return 0;
                }
                let (remote, n) = self.thread_free.take_all();
                if remote.is_null() {
                    return 0;
                }
                if both {
                    debug_assert_eq!(n, l.used());
                    l.forget_free_blocks();
                } else if l.free.is_null() {
                    l.free = remote;
                } else {
                    l.local_free = remote;
                }
                l.free_is_zero = false;
                l.count_back(n);
                l.remote += n;
                n
            })
        }
    }

    /// When `free` is empty, refills it with the owner's own frees, or if
    /// there are none, with the blocks other threads freed, and returns
    /// true: the allocation slow path's short cut for the current page (no
    /// queue work, no page switch, no statistics flush). A page that other
    /// threads free into (a request buffer a worker frees, a producer's
    /// blocks) would otherwise pass through `find_page` every time its
    /// `free` ran dry.
    ///
    /// # Safety
    /// The caller's thread owns the page.
    #[inline]
    pub(crate) unsafe fn reuse_freed(&self) -> bool {
        // SAFETY: owner-only access (caller's contract).
        unsafe {
            // Some(refilled) when the owner's lists decide, None when only
            // the remote list can refill `free`.
            let own = self.local(|l| {
                // (Past ALLOCS_FLUSH allocations the page goes through the
                // slow path, which hands its counts to the statistics before
                // the counter could carry.)
                if l.allocs() >= ALLOCS_FLUSH || !l.free.is_null() {
                    Some(false)
                } else if l.take_local_free() {
                    Some(true)
                } else {
                    None
                }
            });
            match own {
                Some(refilled) => refilled,
                None => !self.thread_free.is_empty_hint() && self.reuse_remote(),
            }
        }
    }

    /// [`Page::reuse_freed`]'s remote case: both owner lists are empty, so
    /// `collect` makes the remote chain `free`, whose head link is checked
    /// as the slow path checks every list it hands to the fast path.
    ///
    /// # Safety
    /// The caller's thread owns the page; `free` and `local_free` are empty.
    #[inline(never)]
    unsafe fn reuse_remote(&self) -> bool {
        // SAFETY: owner-only access (caller's contract).
        unsafe {
            if self.collect() == 0 {
                return false;
            }
            self.local(|l| self.checked_next(l, l.free));
        }
        true
    }

    /// Carves the next run of untouched blocks and puts them in front of
    /// `free`, or once the page is carved through, the blocks of its lowest
    /// hole (see [`Page::purge_sparse`]). Returns the bytes carved: 0 when
    /// the page is fully carved and has no hole.
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
                l.free_is_zero = l.free.is_null() && first * bs >= l.dirty as usize;
                self.push_run(l, first, n);
                l.capacity += n as u32;
                n * bs
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
                let mut h = l.holes;
                while h != 0 {
                    for i in starting_in(h.trailing_zeros() as usize, bs, reserved) {
                        free[i / 64] |= 1 << (i % 64);
                    }
                    h &= h - 1;
                }
                let is_free = |i: usize| i >= capacity || free[i / 64] >> (i % 64) & 1 != 0;
                // Only OS pages that may hold data are worth a system call.
                let span = reserved * bs;
                let touched = (l.dirty as usize).max(capacity * bs).min(SMALL_PAGE_BYTES);
                let mut purge = 0u16;
                let mut new_holes = 0u16;
                let mut parked = 0;
                for k in 0..touched.div_ceil(OS_PAGE) {
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
    /// [`PURGE_BLOCK_MIN`] bytes on the owner's lists, all but the OS page
    /// holding each block's first words (its link and a "purged" mark, so a
    /// block is purged once per time it is freed). Returns the bytes purged.
    ///
    /// Each list is walked only down to its first marked block: blocks join
    /// a list only at its head (a free, a collected remote chain, a carved
    /// run) and `local_free` becomes `free` only when `free` is empty, so
    /// everything below a block marked by the last pass was there at that
    /// pass and is marked too. A pass costs the blocks freed since the last
    /// one, which lets the heap run it whenever fresh memory is carved.
    /// (A block whose user never wrote its word 2 and that is freed onto
    /// the same link again still reads as marked; the blocks freed below it
    /// since wait until it is handed out, or their page is retired.)
    ///
    /// # Safety
    /// The caller's thread owns the page.
    pub(crate) unsafe fn purge_free_blocks(&self) -> usize {
        // SAFETY: owner-only access; the blocks on the owner lists are free
        // blocks of this page (links checked as in `pop`), whose memory
        // past the first OS page holds nothing.
        unsafe {
            self.local(|l| {
                let bs = l.block_size as usize;
                if bs < PURGE_BLOCK_MIN {
                    return 0;
                }
                let mark = purged_mark(self.key());
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
                        // mark names the block and its link, so a block
                        // handed out and freed again (its link rewritten)
                        // does not pass for purged if its user left word 2.
                        let word2 = b.cast::<usize>().add(2);
                        let marked = mark ^ b as usize ^ b.cast::<usize>().read();
                        if word2.read() == marked {
                            break;
                        }
                        let from = (b as usize + 3 * size_of::<usize>()).next_multiple_of(OS_PAGE);
                        let to = (b as usize + bs) & !(OS_PAGE - 1);
                        if to > from {
                            os::purge(from as *mut u8, to - from);
                            bytes += to - from;
                        }
                        word2.write(marked);
                        b = self.checked_next(l, b);
                    }
                }
                bytes
            })
        }
    }

    /// Marks an unused page as free, remembering how much of it is dirty.
    ///
    /// # Safety
    /// The caller's thread owns the page, and `used == 0` after `collect`.
    pub(crate) unsafe fn reset(&self, now_ms: u64) {
        // SAFETY: owner-only access.
        unsafe {
            self.local(|l| {
                debug_assert_eq!(l.used(), 0, "retiring a page with blocks in use");
                l.forget_free_blocks();
                l.in_use = false;
                l.in_full = false;
                l.set_bias(BIAS_QUEUED);
                l.sparse_armed = false;
                l.retired_at = now_ms.max(1);
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two counters sharing `tally` stay apart at their extremes: every
    /// role's bias, a page with none or all of its blocks out, and `allocs`
    /// at the most it can reach (the flush threshold plus a page's blocks);
    /// a free leaves the fast path exactly when `used` falls below the
    /// bias.
    #[test]
    fn tally_keeps_credit_and_allocs_apart() {
        let blocks = MAX_SMALL_BLOCKS as u32;
        let most_allocs = ALLOCS_FLUSH + blocks;
        for bias in [BIAS_CURRENT, BIAS_QUEUED, blocks as i32 / 2, BIAS_FULL] {
            for used in [0, 1, blocks - 1, blocks] {
                let mut l = PageLocal::empty();
                l.set_bias(bias);
                for _ in 0..used {
                    l.count_alloc();
                }
                assert_eq!((l.used(), l.allocs()), (used, used));
                // Allocations handed back and out again: `allocs` alone grows.
                l.tally += i64::from(most_allocs - used);
                assert_eq!((l.used(), l.allocs()), (used, most_allocs));
                for left in (0..used).rev() {
                    let leaves = l.count_back(1);
                    assert_eq!(leaves, (left as i32) < bias, "bias {bias}, {left} left");
                    assert_eq!((l.used(), l.allocs()), (left, most_allocs));
                }
                l.set_bias(BIAS_QUEUED);
                assert_eq!((l.used(), l.allocs()), (0, most_allocs));
                l.count_alloc();
                assert!(l.count_back(1), "a queued page's last block back");
                assert_eq!((l.used(), l.allocs()), (0, most_allocs + 1));
            }
        }
    }
}
