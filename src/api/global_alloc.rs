//! The Rust front ends: [`MidlAlloc`] for `#[global_allocator]`, and
//! [`Allocation`], an owned block freed on drop (on any thread).

use crate::global::entry as alloc;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::ptr::NonNull;

/// The allocator as a Rust global allocator:
///
/// ```
/// #[global_allocator]
/// static GLOBAL: midl_alloc::MidlAlloc = midl_alloc::MidlAlloc;
/// ```
///
/// Alignments up to 1 MiB are supported; a larger one returns null.
#[derive(Clone, Copy, Debug, Default)]
pub struct MidlAlloc;

// SAFETY: every method returns null or a block of at least `layout.size()`
// bytes aligned to `layout.align()`, which stays valid until freed; blocks
// may be freed from any thread.
unsafe impl GlobalAlloc for MidlAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc::malloc_aligned(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: GlobalAlloc's contract: `ptr` came from this allocator.
        unsafe { alloc::free(ptr) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        alloc::malloc_zeroed(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: `ptr` is live with `layout`.
        unsafe { alloc::realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

/// The allocator could not supply the memory.
///
/// ```
/// let e = midl_alloc::Allocation::new(usize::MAX).unwrap_err();
/// assert_eq!(e.size, usize::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// Bytes asked for.
    pub size: usize,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "midl-alloc could not allocate {} bytes", self.size)
    }
}

impl std::error::Error for AllocError {}

/// An owned, zero-initialised block from the allocator, freed on drop.
/// It may be sent to and dropped on any thread.
pub struct Allocation {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the block is uniquely owned and the allocator accepts frees from
// any thread.
unsafe impl Send for Allocation {}
// SAFETY: shared access only reads the bytes.
unsafe impl Sync for Allocation {}

impl Allocation {
    /// Allocates `len` zeroed bytes (16-byte aligned from 16 bytes up).
    ///
    /// ```
    /// let mut a = midl_alloc::Allocation::new(32)?;
    /// assert!(a.iter().all(|b| *b == 0));
    /// a[0] = 7;
    /// std::thread::spawn(move || drop(a)).join().unwrap(); // freed on another thread
    /// # Ok::<(), midl_alloc::AllocError>(())
    /// ```
    pub fn new(len: usize) -> Result<Self, AllocError> {
        let p = alloc::malloc_zeroed(len, if len >= 16 { 16 } else { 8 });
        NonNull::new(p)
            .map(|ptr| Allocation { ptr, len })
            .ok_or(AllocError { size: len })
    }

    /// The requested length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the requested length is 0.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes actually usable (at least `len`).
    ///
    /// ```
    /// let a = midl_alloc::Allocation::new(100)?;
    /// assert!(a.capacity() >= a.len());
    /// # Ok::<(), midl_alloc::AllocError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        // SAFETY: the block is live while `self` is.
        unsafe { alloc::usable_size(self.ptr.as_ptr()) }
    }

    /// The block's first byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The block's first byte, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Gives up ownership; free the pointer with [`crate::MIDL_user_free`].
    ///
    /// ```
    /// let p = midl_alloc::Allocation::new(10)?.into_raw();
    /// // SAFETY: the block's owner is now this pointer; freed once.
    /// unsafe { midl_alloc::MIDL_user_free(p.cast()) };
    /// # Ok::<(), midl_alloc::AllocError>(())
    /// ```
    pub fn into_raw(self) -> *mut u8 {
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Takes ownership of a block of `len` initialised bytes.
    ///
    /// # Safety
    /// `ptr` was returned by this allocator (any front end) with at least
    /// `len` usable bytes, all initialised, and nothing else owns it.
    pub unsafe fn from_raw(ptr: NonNull<u8>, len: usize) -> Self {
        Allocation { ptr, len }
    }
}

impl core::ops::Deref for Allocation {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes, owned by `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl core::ops::DerefMut for Allocation {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: `len` initialised bytes, uniquely owned by `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        // SAFETY: the block is live and owned by `self`.
        unsafe { alloc::free(self.ptr.as_ptr()) }
    }
}

impl fmt::Debug for Allocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allocation")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

/// Bytes usable in a live block returned by this allocator.
///
/// # Safety
/// `ptr` is a live block returned by this allocator.
///
/// ```
/// let a = midl_alloc::Allocation::new(100)?;
/// // SAFETY: a live block.
/// assert!(unsafe { midl_alloc::usable_size(a.as_ptr()) } >= 100);
/// # Ok::<(), midl_alloc::AllocError>(())
/// ```
pub unsafe fn usable_size(ptr: *const u8) -> usize {
    // SAFETY: forwarded.
    unsafe { alloc::usable_size(ptr) }
}
