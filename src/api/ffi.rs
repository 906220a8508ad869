//! The C exports of the allocator proper, MIDL_user_allocate and
//! MIDL_user_free first (declared in `include/midl_alloc.h`; the RpcSs ones
//! are in `ffi_rpcss`).
//!
//! None of them unwinds or aborts on bad sizes: failures are a NULL return.

#![allow(non_snake_case)]

use crate::global::entry as alloc;
use crate::global::thread;
use core::ffi::c_void;

/// `void *MIDL_user_allocate(size_t cBytes)`: a block of at least `size`
/// bytes, 16-byte aligned (8-byte below 16 bytes); a distinct block for 0;
/// NULL when the memory cannot be supplied.
///
/// ```
/// use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
/// let p = MIDL_user_allocate(100);
/// assert!(!p.is_null() && p as usize % 16 == 0);
/// // SAFETY: a live block of this allocator, freed once (any thread may).
/// unsafe { MIDL_user_free(p) };
/// assert!(MIDL_user_allocate(usize::MAX).is_null()); // never aborts
/// ```
#[no_mangle]
pub extern "C" fn MIDL_user_allocate(size: usize) -> *mut c_void {
    alloc::malloc(size).cast()
}

/// `void MIDL_user_free(void *pBuffer)`: frees a block from
/// [`MIDL_user_allocate`] on any thread; NULL does nothing.
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator, not used again.
///
/// ```
/// // SAFETY: NULL does nothing.
/// unsafe { midl_alloc::MIDL_user_free(std::ptr::null_mut()) };
/// ```
#[no_mangle]
pub unsafe extern "C" fn MIDL_user_free(p: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { alloc::free_or_null(p.cast()) }
}

/// Lower-case alias of [`MIDL_user_allocate`] (rpcndr.h's spelling).
///
/// ```
/// let p = midl_alloc::midl_user_allocate(8);
/// // SAFETY: a live block, freed once.
/// unsafe { midl_alloc::midl_user_free(p) };
/// ```
#[no_mangle]
pub extern "C" fn midl_user_allocate(size: usize) -> *mut c_void {
    MIDL_user_allocate(size)
}

/// Lower-case alias of [`MIDL_user_free`].
///
/// # Safety
/// As for [`MIDL_user_free`].
///
/// ```
/// // SAFETY: NULL does nothing.
/// unsafe { midl_alloc::midl_user_free(std::ptr::null_mut()) };
/// ```
#[no_mangle]
pub unsafe extern "C" fn midl_user_free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { MIDL_user_free(p) }
}

/// `uint32_t midl_alloc_version(void)`: the library's version, `major <<
/// 16 | minor << 8 | patch`, as the header's `MIDL_ALLOC_VERSION` encodes
/// the header's (a program can check it runs against the library it was
/// compiled for).
///
/// ```
/// let v = midl_alloc::midl_alloc_version();
/// assert_eq!(v >> 16, env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap());
/// ```
#[no_mangle]
pub extern "C" fn midl_alloc_version() -> u32 {
    const fn number(s: &str) -> u32 {
        let digits = s.as_bytes();
        let (mut i, mut n) = (0, 0);
        while i < digits.len() {
            n = n * 10 + (digits[i] - b'0') as u32;
            i += 1;
        }
        n
    }
    const VERSION: u32 = number(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | number(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | number(env!("CARGO_PKG_VERSION_PATCH"));
    VERSION
}

/// `size_t midl_alloc_usable_size(const void *p)`: bytes usable in a live
/// block (0 for NULL).
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator.
///
/// ```
/// let p = midl_alloc::MIDL_user_allocate(100);
/// // SAFETY: `p` is live; freed once.
/// unsafe {
///     assert!(midl_alloc::midl_alloc_usable_size(p) >= 100);
///     midl_alloc::MIDL_user_free(p);
/// }
/// ```
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_usable_size(p: *const c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    unsafe { alloc::usable_size(p.cast()) }
}

/// `void midl_alloc_collect(void)`: gives back to the OS, now, what the
/// calling thread can reach: its own retired memory, and every segment
/// left by exited threads (adopted, their blocks freed since counted).
/// Other live threads' memory goes back at their own maintenance.
///
/// ```
/// midl_alloc::midl_alloc_collect();
/// ```
#[no_mangle]
pub extern "C" fn midl_alloc_collect() {
    thread::collect();
}
