//! The `Allocator` trait (allocator-api2's, and core's unstable one too
//! with the `nightly` feature: one macro writes both) for [`MidlAlloc`], the
//! heaps every thread allocates from, and for
//! [`Environment`](crate::environment::Environment), a per-call arena any
//! thread can allocate from and that releases everything at once.
//!
//! An environment's blocks are bumped out of the calling thread's chunk of
//! that environment (`global::rpcss::allocate_in`): no lock, no atomic
//! beyond the handle check. `deallocate` takes back the thread's latest
//! block and leaves the rest to the environment's end; `grow` and `shrink`
//! of the latest block stay in place while its chunk has room.

use super::environment::Environment;
use super::global_alloc::MidlAlloc;
use crate::global::entry as heap;
use crate::global::rpcss as env;
use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// Implements the trait `$trait` (with its `AllocError`) for both types.
macro_rules! allocators {
    ($trait:path, $AllocError:ident) => {
        /// `layout.size()` bytes at `p`, or the error.
        #[inline]
        fn block(p: *mut u8, size: usize) -> Result<NonNull<[u8]>, $AllocError> {
            match NonNull::new(p) {
                Some(p) => Ok(NonNull::slice_from_raw_parts(p, size)),
                None => Err($AllocError),
            }
        }

        /// A well-aligned, never dereferenced pointer for a zero-sized block.
        #[inline]
        fn dangling(layout: Layout) -> NonNull<[u8]> {
            // SAFETY: an alignment is never zero.
            let p = unsafe { NonNull::new_unchecked(layout.align() as *mut u8) };
            NonNull::slice_from_raw_parts(p, 0)
        }

        // SAFETY: blocks come from the process-wide allocator, stay valid until
        // deallocated (from any thread, through any `MidlAlloc`, which are all the
        // same allocator), and are aligned as asked (alignments the allocator
        // cannot give fail with `AllocError`).
        unsafe impl $trait for MidlAlloc {
            #[inline]
            fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                block(heap::malloc_aligned(layout.size(), layout.align()), layout.size())
            }

            #[inline]
            fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                block(heap::malloc_zeroed(layout.size(), layout.align()), layout.size())
            }

            #[inline]
            unsafe fn deallocate(&self, ptr: NonNull<u8>, _layout: Layout) {
                // SAFETY: the trait's contract: `ptr` is a live block of ours.
                unsafe { heap::free(ptr.as_ptr()) }
            }

            unsafe fn grow(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                if new.align() > old.align() {
                    // SAFETY: the trait's contract, forwarded.
                    return unsafe { moved(self, ptr, old, new) };
                }
                // SAFETY: the trait's contract: `ptr` is live with `old`.
                let p = unsafe { heap::realloc(ptr.as_ptr(), old.size(), old.align(), new.size()) };
                block(p, new.size())
            }

            unsafe fn shrink(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                if new.align() > old.align() {
                    // SAFETY: the trait's contract, forwarded.
                    return unsafe { moved(self, ptr, old, new) };
                }
                // SAFETY: the trait's contract: `ptr` is live with `old`.
                let p = unsafe { heap::realloc(ptr.as_ptr(), old.size(), old.align(), new.size()) };
                block(p, new.size())
            }
        }

        /// Moves a block to a fresh one of `new` (grow or shrink to a stricter
        /// alignment).
        ///
        /// # Safety
        /// `ptr` is a live block of `a` with layout `old`.
        unsafe fn moved<A: $trait>(
            a: &A,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, $AllocError> {
            let fresh = a.allocate(new)?;
            // SAFETY: both blocks are live and distinct; the smaller size is in
            // both.
            unsafe {
                ptr::copy_nonoverlapping(
                    ptr.as_ptr(),
                    fresh.cast::<u8>().as_ptr(),
                    old.size().min(new.size()),
                );
                a.deallocate(ptr, old);
            }
            Ok(fresh)
        }

        // SAFETY: blocks are bumped out of chunks of the environment, which stay
        // mapped until it ends; the environment cannot end while `&self` lives (it
        // is disabled only by its owner's `disable` or drop, which need it
        // unborrowed). Every block is aligned as asked, from any thread; blocks
        // of one environment never overlap (each thread bumps its own chunk).
        unsafe impl $trait for Environment {
            #[inline]
            fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                if layout.size() == 0 {
                    return Ok(dangling(layout));
                }
                // SAFETY: `self` is borrowed, so the environment lives.
                let p = unsafe { env::allocate_in(self.raw(), layout.size(), layout.align()) };
                block(p, layout.size())
            }

            #[inline]
            unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
                if layout.size() != 0 {
                    env::release_in(self.raw(), ptr.as_ptr(), layout.size());
                }
            }

            unsafe fn grow(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                if old.size() != 0
                    && new.align() <= old.align()
                    && env::resize_in(self.raw(), ptr.as_ptr(), old.size(), new.size())
                {
                    return Ok(NonNull::slice_from_raw_parts(ptr, new.size()));
                }
                // SAFETY: the trait's contract, forwarded (a zero-sized `old` is a
                // dangling pointer, which `moved` copies nothing from).
                unsafe { moved(self, ptr, old, new) }
            }

            unsafe fn shrink(&self, ptr: NonNull<u8>, old: Layout, new: Layout) -> Result<NonNull<[u8]>, $AllocError> {
                if new.align() > old.align() || new.size() == 0 {
                    // SAFETY: the trait's contract, forwarded.
                    return unsafe { moved(self, ptr, old, new) };
                }
                // The block keeps its place; its latest-ness lets the tail go now.
                env::resize_in(self.raw(), ptr.as_ptr(), old.size(), new.size());
                Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
            }
        }
    };
}

mod api2 {
    use super::*;
    use allocator_api2::alloc::{AllocError, Allocator};
    allocators!(Allocator, AllocError);
}

#[cfg(feature = "nightly")]
mod nightly {
    use super::*;
    use core::alloc::{AllocError, Allocator};
    allocators!(Allocator, AllocError);
}
