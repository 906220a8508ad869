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
#[no_mangle]
pub extern "C" fn RpcSmEnableAllocate() -> RpcStatus {
    env::enable_raw()
}

/// Creates an environment for the calling thread (failure: no environment).
#[no_mangle]
pub extern "C" fn RpcSsEnableAllocate() {
    let _ = env::enable_raw();
}

/// Frees every block of the calling thread's environment and releases it.
#[no_mangle]
pub extern "C" fn RpcSmDisableAllocate() -> RpcStatus {
    env::disable_raw()
}

/// As [`RpcSmDisableAllocate`], without the status.
#[no_mangle]
pub extern "C" fn RpcSsDisableAllocate() {
    let _ = env::disable_raw();
}

/// A block from the calling thread's environment; NULL and a status on
/// failure (no environment: RPC_S_INVALID_ARG).
///
/// # Safety
/// `status` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn RpcSmAllocate(size: usize, status: *mut RpcStatus) -> *mut c_void {
    let (p, s) = env::allocate_raw(size);
    // SAFETY: caller's contract.
    unsafe { put_status(status, s) };
    p.cast()
}

/// A block from the calling thread's environment; NULL on failure.
#[no_mangle]
pub extern "C" fn RpcSsAllocate(size: usize) -> *mut c_void {
    env::allocate_raw(size).0.cast()
}

/// Frees a block of the calling thread's environment early. A pointer that
/// is not a live block of it gives RPC_S_INVALID_ARG and changes nothing.
///
/// # Safety
/// A live block passed here is not used again.
#[no_mangle]
pub unsafe extern "C" fn RpcSmFree(p: *mut c_void) -> RpcStatus {
    env::free_raw(p.cast())
}

/// As [`RpcSmFree`], without the status.
///
/// # Safety
/// As for [`RpcSmFree`].
#[no_mangle]
pub unsafe extern "C" fn RpcSsFree(p: *mut c_void) {
    let _ = env::free_raw(p.cast());
}

/// The calling thread's environment handle (NULL and RPC_S_INVALID_ARG when
/// it has none).
///
/// # Safety
/// `status` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn RpcSmGetThreadHandle(status: *mut RpcStatus) -> *mut c_void {
    let h = env::thread_handle_raw();
    // SAFETY: caller's contract.
    unsafe { put_status(status, if h == 0 { RPC_S_INVALID_ARG } else { RPC_S_OK }) };
    h as usize as *mut c_void
}

/// The calling thread's environment handle, NULL when it has none.
#[no_mangle]
pub extern "C" fn RpcSsGetThreadHandle() -> *mut c_void {
    env::thread_handle_raw() as usize as *mut c_void
}

/// Attaches the calling thread to an environment (NULL detaches). Unknown
/// or ended environments give RPC_S_INVALID_ARG.
#[no_mangle]
pub extern "C" fn RpcSmSetThreadHandle(h: *mut c_void) -> RpcStatus {
    env::set_thread_handle_raw(h as usize as u64)
}

/// As [`RpcSmSetThreadHandle`], without the status.
#[no_mangle]
pub extern "C" fn RpcSsSetThreadHandle(h: *mut c_void) {
    let _ = env::set_thread_handle_raw(h as usize as u64);
}

/// Sets the calling thread's client stub allocate/free pair (both needed).
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
#[no_mangle]
pub extern "C" fn RpcSsSetClientAllocFree(alloc: RpcClientAlloc, free: RpcClientFree) {
    let _ = RpcSmSetClientAllocFree(alloc, free);
}

/// Sets the client pair and returns the previous one through the
/// out-pointers (all four needed).
///
/// # Safety
/// The out-pointers are NULL or valid for writes.
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
#[no_mangle]
pub unsafe extern "C" fn RpcSmClientFree(p: *mut c_void) -> RpcStatus {
    if !p.is_null() {
        let (_, free) = env::client_alloc_free();
        // SAFETY: caller's contract.
        unsafe { free(p) };
    }
    RPC_S_OK
}
