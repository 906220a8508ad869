//! The entry points of the process-wide instance: `mem::alloc`'s dispatch
//! with the calling thread's heap (`thread::ThreadHeap`), for the front
//! ends in `api`.
//!
//! With the cargo feature `valgrind` every block is also announced to
//! memcheck (`pal::valgrind`): allocated blocks as malloc-like, freed ones
//! as freed (before the allocator reuses them, so another thread cannot
//! hand the block out first), with memcheck's reports off while the
//! allocator itself runs (it reads free-list links in freed blocks), and
//! `realloc` always moves (memcheck's in-place resize wants the old
//! requested size, which C's `realloc` does not give).

use super::thread::ThreadHeap;
use crate::mem::alloc;
#[cfg(feature = "valgrind")]
use crate::pal::valgrind as vg;

/// A new block `p` of `size` bytes, announced (feature `valgrind`), or `p`.
#[inline(always)]
fn announced(p: *mut u8, size: usize, zeroed: bool) -> *mut u8 {
    #[cfg(feature = "valgrind")]
    {
        let p = vg::defined(p);
        vg::quiet(false);
        if !p.is_null() {
            vg::malloclike(p, size, zeroed);
        }
        p
    }
    #[cfg(not(feature = "valgrind"))]
    {
        let _ = (size, zeroed);
        p
    }
}

/// Memcheck's reports off while the allocator runs (feature `valgrind`).
#[inline(always)]
fn quiet() {
    #[cfg(feature = "valgrind")]
    vg::quiet(true);
}

/// See `mem::alloc::malloc`.
#[inline(always)]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    quiet();
    announced(alloc::malloc::<ThreadHeap>(size), size, false)
}

/// See `mem::alloc::malloc_aligned`.
#[inline]
pub(crate) fn malloc_aligned(size: usize, align: usize) -> *mut u8 {
    quiet();
    announced(alloc::malloc_aligned::<ThreadHeap>(size, align), size, false)
}

/// See `mem::alloc::malloc_zeroed`.
#[inline]
pub(crate) fn malloc_zeroed(size: usize, align: usize) -> *mut u8 {
    quiet();
    announced(alloc::malloc_zeroed::<ThreadHeap>(size, align), size, true)
}

/// See `mem::alloc::free_or_null`.
///
/// # Safety
/// As for `mem::alloc::free_or_null`.
#[inline(always)]
pub(crate) unsafe fn free_or_null(p: *mut u8) {
    #[cfg(feature = "valgrind")]
    if !p.is_null() {
        vg::freelike(p);
    }
    quiet();
    // SAFETY: forwarded.
    unsafe { alloc::free_or_null::<ThreadHeap>(p) };
    #[cfg(feature = "valgrind")]
    vg::quiet(false);
}

/// See `mem::alloc::free`.
///
/// # Safety
/// As for `mem::alloc::free`.
#[inline(always)]
pub(crate) unsafe fn free(p: *mut u8) {
    #[cfg(feature = "valgrind")]
    vg::freelike(p);
    quiet();
    // SAFETY: forwarded.
    unsafe { alloc::free::<ThreadHeap>(p) };
    #[cfg(feature = "valgrind")]
    vg::quiet(false);
}

/// See `mem::alloc::realloc`.
///
/// # Safety
/// As for `mem::alloc::realloc`.
#[inline]
pub(crate) unsafe fn realloc(p: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    #[cfg(feature = "valgrind")]
    if !p.is_null() {
        // Always a move: a fresh block, the kept bytes copied (memcheck
        // copies their definedness), the old block freed.
        let q = malloc_aligned(new_size, align);
        if q.is_null() {
            return q;
        }
        quiet();
        // SAFETY: `p` is live with at least `old_size` usable bytes (or,
        // from C, `usable_size(p)`), `q` has `new_size`; distinct blocks.
        unsafe {
            let keep = alloc::usable_size(p).min(old_size).min(new_size);
            core::ptr::copy_nonoverlapping(p, q, keep);
        }
        vg::quiet(false);
        // SAFETY: the old block, not used again.
        unsafe { free(p) };
        return q;
    }
    quiet();
    // SAFETY: forwarded.
    announced(
        unsafe { alloc::realloc::<ThreadHeap>(p, old_size, align, new_size) },
        new_size,
        false,
    )
}

pub(crate) use crate::mem::alloc::usable_size;
