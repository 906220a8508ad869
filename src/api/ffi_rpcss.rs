//! The C exports of the RpcSs / RpcSm memory management package (state in
//! `global::rpcss`). The Ss forms report failure by NULL or not at all
//! (where Windows raises); the Sm forms return an RPC_STATUS.

#![allow(non_snake_case)]

use crate::global::rpcss as env;
use crate::mem::rpcss::{RPC_S_INVALID_ARG, RPC_S_OK};
use core::ffi::c_void;

/// `RPC_STATUS`.
pub type RpcStatus = i32;
type RpcClientAlloc = Option<env::ClientAlloc>;
type RpcClientFree = Option<env::ClientFree>;

/// Writes `s` through a status out-pointer that may be NULL.
///
/// # Safety
/// `out` is NULL or valid for a write.
unsafe fn put_status(out: *mut RpcStatus, s: RpcStatus) {
    if !out.is_null() {
        // SAFETY: a non-NULL out-pointer is valid (caller's contract).
        unsafe { out.write(s) }
    }
}

/// Creates an environment for the calling thread.
///
/// ```
/// use midl_alloc::*;
/// assert_eq!(RpcSmEnableAllocate(), 0);
/// let p = RpcSsAllocate(100);
/// assert!(!p.is_null());
/// assert_eq!(RpcSmDisableAllocate(), 0); // `p` and every other block, at once
/// ```
#[no_mangle]
pub extern "C" fn RpcSmEnableAllocate() -> RpcStatus {
    env::enable_raw()
}

/// Creates an environment for the calling thread (failure: no environment).
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// midl_alloc::RpcSsDisableAllocate();
/// ```
#[no_mangle]
pub extern "C" fn RpcSsEnableAllocate() {
    let _ = env::enable_raw();
}

/// Frees every block of the calling thread's environment and releases it.
///
/// ```
/// // No environment: the status says so.
/// assert_eq!(midl_alloc::RpcSmDisableAllocate(), midl_alloc::environment::RPC_S_INVALID_ARG);
/// ```
#[no_mangle]
pub extern "C" fn RpcSmDisableAllocate() -> RpcStatus {
    env::disable_raw()
}

/// As [`RpcSmDisableAllocate`], without the status.
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// midl_alloc::RpcSsDisableAllocate();
/// ```
#[no_mangle]
pub extern "C" fn RpcSsDisableAllocate() {
    let _ = env::disable_raw();
}

/// A block from the calling thread's environment; NULL and a status on
/// failure (no environment: RPC_S_INVALID_ARG).
///
/// # Safety
/// `status` is NULL or valid for a write.
///
/// ```
/// let mut status = -1;
/// // SAFETY: `status` is writable.
/// let p = unsafe { midl_alloc::RpcSmAllocate(10, &mut status) };
/// assert!(p.is_null() && status == midl_alloc::environment::RPC_S_INVALID_ARG); // no environment
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSmAllocate(size: usize, status: *mut RpcStatus) -> *mut c_void {
    let (p, s) = env::allocate_raw(size);
    // SAFETY: caller's contract.
    unsafe { put_status(status, s) };
    p.cast()
}

/// A block from the calling thread's environment; NULL on failure.
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// let p = midl_alloc::RpcSsAllocate(64).cast::<u8>();
/// // SAFETY: 64 bytes of a live block of the environment.
/// unsafe { p.write_bytes(0, 64) };
/// midl_alloc::RpcSsDisableAllocate();
/// ```
// Never inlined into a Rust caller (the benchmark, under LTO), so that it
// pays the call a C caller pays, as MIDL_user_allocate does.
#[no_mangle]
#[inline(never)]
pub extern "C" fn RpcSsAllocate(size: usize) -> *mut c_void {
    env::allocate_raw(size).0.cast()
}

/// Frees a block of the calling thread's environment early. A pointer that
/// is not a live block of it gives RPC_S_INVALID_ARG and changes nothing.
///
/// # Safety
/// A live block passed here is not used again.
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// let p = midl_alloc::RpcSsAllocate(64);
/// // SAFETY: `p` is a live block of the environment, freed once; the second
/// // free is rejected, not followed.
/// unsafe {
///     assert_eq!(midl_alloc::RpcSmFree(p), 0);
///     assert_eq!(midl_alloc::RpcSmFree(p), midl_alloc::environment::RPC_S_INVALID_ARG);
/// }
/// midl_alloc::RpcSsDisableAllocate();
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSmFree(p: *mut c_void) -> RpcStatus {
    env::free_raw(p.cast())
}

/// As [`RpcSmFree`], without the status.
///
/// # Safety
/// As for [`RpcSmFree`].
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// // SAFETY: a live block of the environment, freed once.
/// unsafe { midl_alloc::RpcSsFree(midl_alloc::RpcSsAllocate(8)) };
/// midl_alloc::RpcSsDisableAllocate();
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSsFree(p: *mut c_void) {
    let _ = env::free_raw(p.cast());
}

/// The calling thread's environment handle (NULL and RPC_S_INVALID_ARG when
/// it has none).
///
/// # Safety
/// `status` is NULL or valid for a write.
///
/// ```
/// let mut status = 0;
/// // SAFETY: `status` is writable.
/// assert!(unsafe { midl_alloc::RpcSmGetThreadHandle(&mut status) }.is_null());
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSmGetThreadHandle(status: *mut RpcStatus) -> *mut c_void {
    let h = env::thread_handle_raw();
    // SAFETY: caller's contract.
    unsafe { put_status(status, if h == 0 { RPC_S_INVALID_ARG } else { RPC_S_OK }) };
    h as usize as *mut c_void
}

/// The calling thread's environment handle, NULL when it has none.
///
/// ```
/// midl_alloc::RpcSsEnableAllocate();
/// let h = midl_alloc::RpcSsGetThreadHandle();
/// // Another thread shares the environment.
/// let h2 = h as usize;
/// std::thread::spawn(move || {
///     midl_alloc::RpcSsSetThreadHandle(h2 as *mut _);
///     assert!(!midl_alloc::RpcSsAllocate(32).is_null());
///     midl_alloc::RpcSsSetThreadHandle(std::ptr::null_mut());
/// })
/// .join()
/// .unwrap();
/// midl_alloc::RpcSsDisableAllocate();
/// ```
#[no_mangle]
pub extern "C" fn RpcSsGetThreadHandle() -> *mut c_void {
    env::thread_handle_raw() as usize as *mut c_void
}

/// Attaches the calling thread to an environment (NULL detaches). Unknown
/// or ended environments give RPC_S_INVALID_ARG.
///
/// ```
/// // An unknown handle is refused.
/// assert_eq!(midl_alloc::RpcSmSetThreadHandle(12345 as *mut _), midl_alloc::environment::RPC_S_INVALID_ARG);
/// ```
#[no_mangle]
pub extern "C" fn RpcSmSetThreadHandle(h: *mut c_void) -> RpcStatus {
    env::set_thread_handle_raw(h as usize as u64)
}

/// As [`RpcSmSetThreadHandle`], without the status.
///
/// ```
/// midl_alloc::RpcSsSetThreadHandle(std::ptr::null_mut()); // detach
/// ```
#[no_mangle]
pub extern "C" fn RpcSsSetThreadHandle(h: *mut c_void) {
    let _ = env::set_thread_handle_raw(h as usize as u64);
}

/// Sets the calling thread's client stub allocate/free pair (both needed).
///
/// ```
/// unsafe extern "C" fn alloc(n: usize) -> *mut core::ffi::c_void { midl_alloc::MIDL_user_allocate(n) }
/// unsafe extern "C" fn free(p: *mut core::ffi::c_void) { unsafe { midl_alloc::MIDL_user_free(p) } }
/// assert_eq!(midl_alloc::RpcSmSetClientAllocFree(Some(alloc), Some(free)), 0);
/// ```
#[no_mangle]
pub extern "C" fn RpcSmSetClientAllocFree(alloc: RpcClientAlloc, free: RpcClientFree) -> RpcStatus {
    match (alloc, free) {
        (Some(a), Some(f)) => {
            env::swap_client_alloc_free(a, f);
            RPC_S_OK
        }
        _ => RPC_S_INVALID_ARG,
    }
}

/// As [`RpcSmSetClientAllocFree`], without the status.
///
/// ```
/// unsafe extern "C" fn alloc(n: usize) -> *mut core::ffi::c_void { midl_alloc::MIDL_user_allocate(n) }
/// unsafe extern "C" fn free(p: *mut core::ffi::c_void) { unsafe { midl_alloc::MIDL_user_free(p) } }
/// midl_alloc::RpcSsSetClientAllocFree(Some(alloc), Some(free));
/// ```
#[no_mangle]
pub extern "C" fn RpcSsSetClientAllocFree(alloc: RpcClientAlloc, free: RpcClientFree) {
    let _ = RpcSmSetClientAllocFree(alloc, free);
}

/// Sets the client pair and returns the previous one through the
/// out-pointers (all four needed).
///
/// # Safety
/// The out-pointers are NULL or valid for writes.
///
/// ```
/// unsafe extern "C" fn alloc(n: usize) -> *mut core::ffi::c_void { midl_alloc::MIDL_user_allocate(n) }
/// unsafe extern "C" fn free(p: *mut core::ffi::c_void) { unsafe { midl_alloc::MIDL_user_free(p) } }
/// let (mut old_alloc, mut old_free) = (None, None);
/// // SAFETY: both out-pointers are writable.
/// assert_eq!(unsafe { midl_alloc::RpcSmSwapClientAllocFree(Some(alloc), Some(free), &mut old_alloc, &mut old_free) }, 0);
/// assert!(old_alloc.is_some() && old_free.is_some());
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSmSwapClientAllocFree(
    alloc: RpcClientAlloc,
    free: RpcClientFree,
    old_alloc: *mut RpcClientAlloc,
    old_free: *mut RpcClientFree,
) -> RpcStatus {
    let (a, f) = match (alloc, free) {
        (Some(a), Some(f)) => (a, f),
        _ => return RPC_S_INVALID_ARG,
    };
    if old_alloc.is_null() || old_free.is_null() {
        return RPC_S_INVALID_ARG;
    }
    let (oa, of) = env::swap_client_alloc_free(a, f);
    // SAFETY: checked non-NULL; valid by the caller's contract.
    unsafe {
        old_alloc.write(Some(oa));
        old_free.write(Some(of));
    }
    RPC_S_OK
}

/// As [`RpcSmSwapClientAllocFree`], without the status.
///
/// # Safety
/// As for [`RpcSmSwapClientAllocFree`].
///
/// ```
/// unsafe extern "C" fn alloc(n: usize) -> *mut core::ffi::c_void { midl_alloc::MIDL_user_allocate(n) }
/// unsafe extern "C" fn free(p: *mut core::ffi::c_void) { unsafe { midl_alloc::MIDL_user_free(p) } }
/// let (mut old_alloc, mut old_free) = (None, None);
/// // SAFETY: both out-pointers are writable.
/// unsafe { midl_alloc::RpcSsSwapClientAllocFree(Some(alloc), Some(free), &mut old_alloc, &mut old_free) };
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSsSwapClientAllocFree(
    alloc: RpcClientAlloc,
    free: RpcClientFree,
    old_alloc: *mut RpcClientAlloc,
    old_free: *mut RpcClientFree,
) {
    // SAFETY: forwarded.
    let _ = unsafe { RpcSmSwapClientAllocFree(alloc, free, old_alloc, old_free) };
}

/// Frees memory a client stub returned, with the calling thread's current
/// client free function.
///
/// # Safety
/// `p` is NULL or memory the current client allocate function returned.
///
/// ```
/// let p = midl_alloc::MIDL_user_allocate(16); // as a client stub would
/// // SAFETY: a block of the thread's client allocate function, freed once.
/// assert_eq!(unsafe { midl_alloc::RpcSmClientFree(p) }, 0);
/// ```
#[no_mangle]
pub unsafe extern "C" fn RpcSmClientFree(p: *mut c_void) -> RpcStatus {
    if !p.is_null() {
        let (_, free) = env::client_alloc_free();
        // SAFETY: caller's contract.
        unsafe { free(p) };
    }
    RPC_S_OK
}
