//! The entry points of the process-wide instance: `mem::alloc`'s dispatch
//! with the calling thread's heap (`thread::ThreadHeap`), for the front
//! ends in `api`.

use super::thread::ThreadHeap;
use crate::mem::alloc;

/// See `mem::alloc::malloc`.
#[inline(always)]
pub(crate) fn malloc(size: usize) -> *mut u8 {
    alloc::malloc::<ThreadHeap>(size)
}

/// See `mem::alloc::malloc_aligned`.
#[inline]
pub(crate) fn malloc_aligned(size: usize, align: usize) -> *mut u8 {
    alloc::malloc_aligned::<ThreadHeap>(size, align)
}

/// See `mem::alloc::malloc_zeroed`.
#[inline]
pub(crate) fn malloc_zeroed(size: usize, align: usize) -> *mut u8 {
    alloc::malloc_zeroed::<ThreadHeap>(size, align)
}

/// See `mem::alloc::free_or_null`.
///
/// # Safety
/// As for `mem::alloc::free_or_null`.
#[inline(always)]
pub(crate) unsafe fn free_or_null(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe { alloc::free_or_null::<ThreadHeap>(p) }
}

/// See `mem::alloc::free`.
///
/// # Safety
/// As for `mem::alloc::free`.
#[inline(always)]
pub(crate) unsafe fn free(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe { alloc::free::<ThreadHeap>(p) }
}

/// See `mem::alloc::realloc`.
///
/// # Safety
/// As for `mem::alloc::realloc`.
#[inline]
pub(crate) unsafe fn realloc(p: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { alloc::realloc::<ThreadHeap>(p, old_size, align, new_size) }
}

pub(crate) use crate::mem::alloc::usable_size;
