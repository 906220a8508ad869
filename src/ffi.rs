//! The C exports (declared in `include/midl_alloc.h`).
//!
//! None of them unwinds or aborts on bad sizes: failures are a NULL return.

#![allow(non_snake_case)]

use crate::alloc;
use core::ffi::c_void;

/// `void *MIDL_user_allocate(size_t cBytes)`: a block of at least `size`
/// bytes, 16-byte aligned (8-byte below 16 bytes); a distinct block for 0;
/// NULL when the memory cannot be supplied.
#[no_mangle]
pub extern "C" fn MIDL_user_allocate(size: usize) -> *mut c_void {
    alloc::malloc(size).cast()
}

/// `void MIDL_user_free(void *pBuffer)`: frees a block from
/// [`MIDL_user_allocate`] on any thread; NULL does nothing.
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator, not used again.
#[no_mangle]
pub unsafe extern "C" fn MIDL_user_free(p: *mut c_void) {
    if !p.is_null() {
        // SAFETY: the caller's contract.
        unsafe { alloc::free(p.cast()) }
    }
}

/// Lower-case alias of [`MIDL_user_allocate`] (rpcndr.h's spelling).
#[no_mangle]
pub extern "C" fn midl_user_allocate(size: usize) -> *mut c_void {
    MIDL_user_allocate(size)
}

/// Lower-case alias of [`MIDL_user_free`].
///
/// # Safety
/// As for [`MIDL_user_free`].
#[no_mangle]
pub unsafe extern "C" fn midl_user_free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { MIDL_user_free(p) }
}

/// `size_t midl_alloc_usable_size(const void *p)`: bytes usable in a live
/// block (0 for NULL).
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator.
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_usable_size(p: *const c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    unsafe { alloc::usable_size(p.cast()) }
}
