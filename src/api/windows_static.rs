//! The import slots of the static Windows library (`--cfg midl_static`,
//! set by `scripts/windows.sh` for `libmidl_alloc.a` only). `<rpcndr.h>`
//! declares the RpcSs and RpcSm functions `__declspec(dllimport)`, so a C
//! program calls them through a pointer named `__imp_<function>`, which an
//! import library provides and a static library does not. These statics
//! are those pointers, aimed at this library's functions: a program linked
//! with `libmidl_alloc.a` before `-lrpcrt4` gets midl-alloc's package, as
//! one linked with the DLL's import library does.

use super::ffi_rpcss::*;
use core::ffi::c_void;

/// A pointer to one of this crate's exported functions.
#[repr(transparent)]
pub struct ImportSlot(*const c_void);

// SAFETY: the slot holds a function's address, written at link time and
// never changed.
unsafe impl Sync for ImportSlot {}

macro_rules! import_slots {
    ($($slot:ident = $f:ident;)*) => {
        $(
            #[no_mangle]
            #[doc = concat!("`__imp_", stringify!($f), "`: the address of [`", stringify!($f), "`].")]
            pub static $slot: ImportSlot = ImportSlot($f as *const c_void);
        )*
    };
}

import_slots! {
    __imp_RpcSsEnableAllocate = RpcSsEnableAllocate;
    __imp_RpcSsDisableAllocate = RpcSsDisableAllocate;
    __imp_RpcSsAllocate = RpcSsAllocate;
    __imp_RpcSsFree = RpcSsFree;
    __imp_RpcSsGetThreadHandle = RpcSsGetThreadHandle;
    __imp_RpcSsSetThreadHandle = RpcSsSetThreadHandle;
    __imp_RpcSsSetClientAllocFree = RpcSsSetClientAllocFree;
    __imp_RpcSsSwapClientAllocFree = RpcSsSwapClientAllocFree;
    __imp_RpcSmEnableAllocate = RpcSmEnableAllocate;
    __imp_RpcSmDisableAllocate = RpcSmDisableAllocate;
    __imp_RpcSmAllocate = RpcSmAllocate;
    __imp_RpcSmFree = RpcSmFree;
    __imp_RpcSmGetThreadHandle = RpcSmGetThreadHandle;
    __imp_RpcSmSetThreadHandle = RpcSmSetThreadHandle;
    __imp_RpcSmSetClientAllocFree = RpcSmSetClientAllocFree;
    __imp_RpcSmSwapClientAllocFree = RpcSmSwapClientAllocFree;
    __imp_RpcSmClientFree = RpcSmClientFree;
}
