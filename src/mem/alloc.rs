//! The allocation entry points every front end (C exports, `GlobalAlloc`,
//! the safe API) goes through: size and alignment dispatch between the
//! calling thread's heap and the large-object path. Generic over where
//! that heap comes from ([`HeapSource`]): the process-wide instance
//! (`global::thread::ThreadHeap`), or a loom model's heap (`api::loom`), so
//! the models run this very dispatch.

use super::heap::Heap;
use super::page::Page;
use super::segment::{segment_of, Segment, SegmentKind};
use crate::base::sync::no_unwind_fn;
use crate::ds::size_class::{block_size, class_of, direct_slot, SMALL_MAX, TABLE_MAX};
use core::ptr;

/// Where the entry points find the calling thread's heap.
pub(crate) trait HeapSource {
    /// The calling thread's heap: an empty heap (never written, every class
    /// misses) while the thread has none.
    fn current() -> *mut Heap;

    /// The calling thread's heap, created if needed; null if the OS has no
    /// memory for it.
    fn current_or_create() -> *mut Heap;
}

/// The block size serving `size` bytes at `align`, or None for the large
/// path. Small blocks are 16-byte aligned from 16 bytes up and 8-byte below;
/// larger alignments use the power-of-two classes, which are aligned to
/// their size.
#[inline(always)]
fn small_size(size: usize, align: usize) -> Option<usize> {
    let s = if align <= 8 {
        size
    } else if align <= 16 {
        size.max(16)
    } else {
        size.max(align).checked_next_power_of_two()?
    };
    (s <= SMALL_MAX).then_some(s)
}

/// A block about to be returned to a caller: checked mode records it live.
#[inline(always)]
fn handed_out(p: *mut u8) -> *mut u8 {
    #[cfg(feature = "checked")]
    crate::mem::check::allocated(p);
    p
}

/// Allocates `size` bytes, 16-byte aligned (8 below 16 bytes). Null when
/// the memory cannot be supplied.
#[inline(always)]
pub(crate) fn malloc<S: HeapSource>(size: usize) -> *mut u8 {
    if size <= TABLE_MAX {
        let heap = S::current();
        // SAFETY: the thread's own heap; the slot of a size up to 1 KiB;
        // its page is the heap's (or the sentinel).
        unsafe {
            let page = Heap::direct_page(heap, direct_slot(size));
            let p = (*page).pop();
            if !p.is_null() {
                return handed_out(p);
            }
            handed_out(malloc_miss::<S>(size, heap, page))
        }
    } else {
        handed_out(malloc_medium::<S>(size))
    }
}

no_unwind_fn! {
    /// Sizes above 1 KiB: class computed, then the same fast path.
    /// `extern "C"`: it cannot unwind, so the exported entry points reach it
    /// with a tail call (no landing pad, no saved registers).
    #[inline(never)]
    fn malloc_medium<S: HeapSource>(size: usize) -> *mut u8 {
        if size <= SMALL_MAX {
            let heap = S::current();
            // SAFETY: the thread's own heap; class_of gives a valid class.
            unsafe {
                let page = Heap::class_page(heap, class_of(size));
                let p = (*page).pop();
                if !p.is_null() {
                    return p;
                }
                let p = Heap::try_reuse(heap, page);
                if !p.is_null() {
                    return p;
                }
                malloc_renew::<S>(size, heap, page)
            }
        } else {
            malloc_large::<S>(size, 16).0
        }
    }
}

/// A large object through the thread's heap (which may reuse a cached
/// mapping): the block and whether it is known to be zeroed.
#[cold]
fn malloc_large<S: HeapSource>(size: usize, align: usize) -> (*mut u8, bool) {
    // The heap (created if this thread has none) caches freed mappings.
    let heap = S::current_or_create();
    if heap.is_null() {
        return (ptr::null_mut(), false);
    }
    // SAFETY: the thread's own heap.
    unsafe { Heap::alloc_large(heap, size, align) }
}

no_unwind_fn! {
    /// `extern "C"`: it cannot unwind, so the exported entry points reach it
    /// with a tail call (no landing pad, no saved registers).
    #[cold]
    #[inline(never)]
    fn malloc_slow<S: HeapSource>(size: usize) -> *mut u8 {
        let class = class_of(size);
        let heap = S::current_or_create();
        if heap.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: a live heap owned by this thread; class is valid.
        unsafe { Heap::alloc_slow(heap, class) }
    }
}

no_unwind_fn! {
    /// A fast-path miss on `page`, the current page for `size` of `heap`, the
    /// calling thread's heap: the page's own frees if it has some (see
    /// [`Heap::try_reuse`]), else the slow path.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap and `page` its current page for
    /// `size` (at most [`SMALL_MAX`]).
    #[inline(never)]
    unsafe fn malloc_miss<S: HeapSource>(size: usize, heap: *mut Heap, page: *mut Page) -> *mut u8 {
        // SAFETY: forwarded (the never-written empty heap has no refills left,
        // so `try_reuse` only reads it).
        let p = unsafe { Heap::try_reuse(heap, page) };
        if !p.is_null() {
            return p;
        }
        // SAFETY: forwarded.
        unsafe { malloc_renew::<S>(size, heap, page) }
    }
}

no_unwind_fn! {
    /// A miss the page's own frees could not serve within the refills granted:
    /// more refills if maintenance is not due yet (a look at the clock), else
    /// the slow path. Its own function, reached by a tail call, so the
    /// refill paths above need no stack frame (measured: saving registers for
    /// the clock call on every refill cost a 1 KiB pair loop 70%).
    ///
    /// # Safety
    /// As for [`malloc_miss`].
    #[cold]
    #[inline(never)]
    unsafe fn malloc_renew<S: HeapSource>(size: usize, heap: *mut Heap, page: *mut Page) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { Heap::try_reuse_renewed(heap, page) };
        if !p.is_null() {
            return p;
        }
        malloc_slow::<S>(size)
    }
}

/// Allocates `size` bytes aligned to `align` (a power of two).
#[inline]
pub(crate) fn malloc_aligned<S: HeapSource>(size: usize, align: usize) -> *mut u8 {
    match small_size(size, align) {
        Some(s) => malloc::<S>(s),
        None => handed_out(malloc_large::<S>(size, align.max(16)).0),
    }
}

/// Allocates `size` zeroed bytes aligned to `align`, skipping the memset
/// for memory known to be fresh from the OS.
#[inline]
pub(crate) fn malloc_zeroed<S: HeapSource>(size: usize, align: usize) -> *mut u8 {
    let s = match small_size(size, align) {
        Some(s) => s,
        None => {
            let (p, zeroed) = malloc_large::<S>(size, align.max(16));
            if !p.is_null() && !zeroed {
                // SAFETY: a reused mapping with at least `size` bytes.
                unsafe { ptr::write_bytes(p, 0, size) };
            }
            return handed_out(p);
        }
    };
    let class = class_of(s);
    let heap = S::current();
    // SAFETY: the thread's own heap, a valid class; the block popped right
    // after the check is the one the check looked at.
    unsafe {
        if Heap::next_is_zero(heap, class) {
            let p = Heap::try_alloc(heap, class);
            // Null only when the block failed its check (malloc below then
            // reports it).
            if !p.is_null() {
                // A free block's two words (link and check) were its only
                // non-zero bytes; every block is at least 16 bytes.
                p.cast::<[usize; 2]>().write([0; 2]);
                return handed_out(p);
            }
        }
        let p = malloc::<S>(s);
        if !p.is_null() {
            ptr::write_bytes(p, 0, size);
        }
        p
    }
}

/// Frees `p` unless it is NULL (which does nothing), the C functions'
/// contract.
///
/// # Safety
/// `p` is NULL, or non-null and as for [`free`].
#[inline(always)]
pub(crate) unsafe fn free_or_null<S: HeapSource>(p: *mut u8) {
    if p.is_null() {
        freeing_null();
        return;
    }
    // SAFETY: non-null, and the caller's contract.
    unsafe { free::<S>(p) }
}

/// Marks a free of NULL as the unlikely branch, so the block-freeing path
/// is laid out without a taken branch. (Measured: with LLVM's layout of
/// `if !p.is_null()`, which jumped over an early `ret` and back to it, the
/// marshalling loop lost 5-10% against mimalloc.)
#[cold]
#[inline(never)]
fn freeing_null() {}

/// Frees a block of this allocator.
///
/// # Safety
/// `p` is non-null, was returned by this allocator, and is not used again.
#[inline(always)]
pub(crate) unsafe fn free<S: HeapSource>(p: *mut u8) {
    #[cfg(feature = "checked")]
    if crate::ds::config::checked() {
        crate::mem::check::freeing(p);
    }
    // SAFETY: forwarded.
    unsafe { Heap::free(S::current(), p) }
}

/// The usable size of a live block.
///
/// # Safety
/// `p` is non-null, was returned by this allocator, and is live.
pub(crate) unsafe fn usable_size(p: *const u8) -> usize {
    #[cfg(feature = "checked")]
    if crate::ds::config::checked() {
        crate::mem::check::in_use(p, "usable_size");
    }
    // SAFETY: forwarded.
    unsafe { usable_size_unchecked(p) }
}

/// # Safety
/// As for [`usable_size`].
unsafe fn usable_size_unchecked(p: *const u8) -> usize {
    let seg = segment_of(p);
    // SAFETY: a live block's segment header and page descriptor are live,
    // and a page's class is only written (by `Page::init`) while none of its
    // blocks is live, so reading it from any thread races with nothing.
    unsafe {
        if (*seg).kind == SegmentKind::Large {
            (*seg).large_usable
        } else {
            let page = Segment::page_of(seg, p);
            block_size((*page).local.with(|l| (*l).class) as usize)
        }
    }
}

/// Resizes a block, in place when the new size still fits its size class
/// (and does not waste more than half of it); a large object that stays
/// large without copying where the large-object tier can (see
/// `Heap::realloc_large`).
///
/// # Safety
/// `p` is non-null, live, returned by this allocator with alignment `align`
/// and at least `old_size` usable bytes.
pub(crate) unsafe fn realloc<S: HeapSource>(p: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    #[cfg(feature = "checked")]
    if crate::ds::config::checked() {
        crate::mem::check::in_use(p, "realloc");
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        Heap::check_in_use(S::current(), p);
        let usable = usable_size_unchecked(p);
        if new_size <= usable && new_size >= usable / 2 {
            return p;
        }
        let seg = segment_of(p);
        if (*seg).kind == SegmentKind::Large && new_size > SMALL_MAX {
            let q = Heap::realloc_large(S::current(), seg, new_size);
            if !q.is_null() {
                return handed_out(q);
            }
        }
        let q = malloc_aligned::<S>(new_size, align);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, old_size.min(new_size));
            free::<S>(p);
        }
        q
    }
}
