//! The remote list and collection: blocks other threads free, pushed onto
//! the page's remote list one at a time or a chain at a time, and the
//! owner's collection of them and of its own frees, made ready to hand out
//! again.

use super::{Block, Page, ALLOCS_FLUSH};

impl Page {
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

    /// Links `p`, a block of this page held by a thread that does not own
    /// the page, to `next` (another such block, or null), as the owner
    /// will pop it from `thread_free` (a batch of remote frees,
    /// `heap::remote_batch`).
    ///
    /// # Safety
    /// `p` is a block of this page that is handed out, owned by the caller.
    #[inline]
    pub(crate) unsafe fn link_held(&self, p: *mut u8, next: *mut u8) {
        // SAFETY: the block is the caller's (contract).
        unsafe { Block::init_keyed(p.cast::<Block>(), next.cast::<Block>(), self.key()) }
    }

    /// Frees the chain `first ..= last` of `n` blocks from a thread that
    /// does not own the page: one CAS onto `thread_free`, the last block
    /// linked as the owner will pop it (a thread's batch of remote frees,
    /// `heap::remote_batch`).
    ///
    /// # Safety
    /// The chain's `n` blocks are blocks of this page that are handed out
    /// (so the page is in use), linked from `first` to `last` with the
    /// page's key (`Block::init_keyed`), and not used again by the caller.
    #[inline]
    pub(crate) unsafe fn push_remote_chain(&self, first: *mut u8, last: *mut u8, n: u32) {
        let key = self.key();
        // SAFETY: as for `push_remote`; the chain is linked as the caller's
        // contract says and holds fewer blocks than the page.
        unsafe {
            self.thread_free
                .push_chain(first.cast::<Block>(), last.cast::<Block>(), n as usize, |b, head| {
                    Block::init_keyed(b, head, key)
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
}
