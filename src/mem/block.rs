//! Free blocks and the encoding of their links.

use crate::base::sync::{UnsafeCell, MODEL_CHECKING};
use crate::ds::stack::Linked;

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

/// Whether frees are checked (see `heap::free_check`), and so whether a
/// block handed out has its link word cleared: every build but the two
/// measurement builds (`--cfg midl_unprotected`: plain links and no checks;
/// `--cfg midl_unchecked_free`: encoded links and no checks), see
/// `scripts/modes.sh`.
pub(crate) const FREE_CHECKS: bool = !cfg!(midl_unprotected) && !cfg!(midl_unchecked_free);

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
            if MODEL_CHECKING || CHECK_WORD {
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

    /// Clears the link word of a block being handed out (the whole header
    /// under loom, whose cells are made anew).
    ///
    /// # Safety
    /// As for [`Block::init`].
    #[inline(always)]
    pub(crate) unsafe fn clear_link(this: *mut Block) {
        if !FREE_CHECKS {
            return;
        }
        // SAFETY: forwarded from the caller.
        unsafe {
            if MODEL_CHECKING {
                Block::init(this, core::ptr::null_mut())
            } else {
                this.cast::<usize>().write(0)
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
