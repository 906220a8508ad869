//! Remote frees batched by page. A thread that frees blocks of a page
//! another heap owns links them into a chain of its own (plain stores
//! into the blocks, which it holds) while they come from that page, and
//! publishes the chain onto the page's remote-free list with one CAS
//! (`Page::push_remote_chain`) when a block of another page comes, when
//! [`REMOTE_BATCH_MAX`] blocks are held, at its heap's maintenance, at
//! `collect` and at thread exit. One CAS per block, on the descriptor
//! line the owner swaps, made a stream of 64-byte blocks freed by another
//! thread twice as slow as with the chain (the benchmark's
//! `remote_stream` row; `MIDL_BENCH_RUN=remote_stream:all:2000000:6`,
//! figures in the commit message). snmalloc batches its remote frees the
//! same way, by destination.
//!
//! Until published, a held block is in use as far as its page knows: the
//! page is not retired nor its segment released, and the owner cannot
//! reuse the block. So a thread holds at most [`REMOTE_BATCH_MAX`] blocks
//! of one page at a time, and a thread that only frees (its heap made for
//! the batch, see `State::create`) holds them until it frees a block of
//! another page or exits. A second free of a held block is caught as a
//! double free, as of one on the list: each held block carries a link of
//! its page's key from the moment it is held.

use super::*;

/// The most blocks a thread holds before it publishes them.
pub(super) const REMOTE_BATCH_MAX: u32 = 64;

/// Blocks of `page` freed by this thread and not yet on the page's
/// remote-free list: `first` links to the next through its page's key,
/// down to `last`, whose link is written when the chain is published.
pub(super) struct RemoteBatch {
    page: *mut Page,
    first: *mut u8,
    last: *mut u8,
    len: u32,
}

impl RemoteBatch {
    /// No block held.
    pub(super) const EMPTY: RemoteBatch = RemoteBatch {
        page: ptr::null_mut(),
        first: ptr::null_mut(),
        last: ptr::null_mut(),
        len: 0,
    };
}

impl Heap {
    /// Frees `p`, a block in use of `page`, which another heap owns: held in
    /// the heap's batch, published with the blocks of the same page before
    /// and after it. With the empty heap (a thread with no heap yet), the
    /// heap is made first (`State::create`); if none can be, the block is
    /// pushed alone.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap); `p` is
    /// a block in use of `page`, whose owner is another heap, not used again
    /// by the caller.
    pub(super) unsafe fn free_remote_batched(heap: *mut Heap, page: *mut Page, p: *mut u8) {
        // SAFETY: the state read is the calling thread's heap's (the empty
        // heap's is never written); the block is the caller's to link until
        // the chain is published.
        unsafe {
            let heap = if (*heap).state.live {
                heap
            } else {
                match (*heap).state.create {
                    Some(create) => create(),
                    None => ptr::null_mut(),
                }
            };
            if heap.is_null() {
                (*page).push_remote(p);
                return;
            }
            let b = &mut (*heap).state.remote;
            if b.page == page && b.len < REMOTE_BATCH_MAX {
                (*page).link_held(p, b.first);
                b.first = p;
                b.len += 1;
                return;
            }
            Heap::flush_remote(heap);
            // Linked at once (to nothing) so that a second free of it reads
            // as a free block.
            (*page).link_held(p, ptr::null_mut());
            (*heap).state.remote = RemoteBatch {
                page,
                first: p,
                last: p,
                len: 1,
            };
        }
    }

    /// Publishes the heap's held remote frees, if any.
    ///
    /// # Safety
    /// `heap` is a live heap owned by the calling thread.
    pub(crate) unsafe fn flush_remote(heap: *mut Heap) {
        // SAFETY: the batch is the calling thread's; its blocks are blocks
        // in use of its page, linked with the page's key from `first` to
        // `last`, and are handed to the page here.
        unsafe {
            let b = core::mem::replace(&mut (*heap).state.remote, RemoteBatch::EMPTY);
            if b.len != 0 {
                (*b.page).push_remote_chain(b.first, b.last, b.len);
            }
        }
    }
}
