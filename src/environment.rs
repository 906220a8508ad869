//! The RpcSs package's thread-attached front end: each thread's attachment
//! to an environment and its client allocate/free pair live in
//! destructor-free thread-locals; the environments themselves live in
//! `rpcss`. The C exports (`ffi`) and this Rust API share these functions.

use crate::rpcss::{Cursor, Registry};
pub use crate::rpcss::{RPC_S_INVALID_ARG, RPC_S_OK, RPC_S_OUT_OF_MEMORY};
use core::cell::Cell;
use core::ffi::c_void;
use core::fmt;
use core::num::NonZeroU64;
use core::ptr::NonNull;
use std::sync::OnceLock;

/// Most environments alive at once in a process.
const MAX_ENVIRONMENTS: u32 = 1 << 16;

fn registry() -> Option<&'static Registry> {
    static REGISTRY: OnceLock<Option<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::new(MAX_ENVIRONMENTS)).as_ref()
}

thread_local! {
    static CURSOR: core::cell::UnsafeCell<Cursor> = const { core::cell::UnsafeCell::new(Cursor::DETACHED) };
}

fn with_cursor<R>(f: impl FnOnce(&Registry, &mut Cursor) -> R, none: R) -> R {
    let Some(reg) = registry() else {
        return none;
    };
    CURSOR.with(|c| {
        // SAFETY: the cursor is this thread's alone, and `f` (registry code)
        // never re-enters this module, so the reference is unique.
        f(reg, unsafe { &mut *c.get() })
    })
}

/// A failed RpcSs call: the `RPC_STATUS` it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcError(pub i32);

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            RPC_S_OUT_OF_MEMORY => write!(f, "RPC_S_OUT_OF_MEMORY (14)"),
            RPC_S_INVALID_ARG => {
                write!(
                    f,
                    "RPC_S_INVALID_ARG (87): no such environment, or not a live block of it"
                )
            }
            s => write!(f, "RPC status {s}"),
        }
    }
}

impl std::error::Error for RpcError {}

fn status(s: i32) -> Result<(), RpcError> {
    if s == RPC_S_OK {
        Ok(())
    } else {
        Err(RpcError(s))
    }
}

/// An environment's handle: copy it to another thread and attach that
/// thread with [`set_thread_handle`] to share the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadHandle(NonZeroU64);

impl ThreadHandle {
    /// The opaque C `RPC_SS_THREAD_HANDLE` value.
    pub fn as_raw(self) -> *mut c_void {
        self.0.get() as usize as *mut c_void
    }

    /// From a C `RPC_SS_THREAD_HANDLE` (None for NULL). Any value is safe:
    /// unknown ones are rejected when used.
    pub fn from_raw(raw: *mut c_void) -> Option<ThreadHandle> {
        NonZeroU64::new(raw as usize as u64).map(ThreadHandle)
    }
}

/// An allocation environment created by [`Environment::enable`]: every
/// block allocated in it is released when it is disabled (or dropped).
#[derive(Debug)]
pub struct Environment {
    handle: ThreadHandle,
}

impl Environment {
    /// Creates an environment and attaches the calling thread to it
    /// (replacing any previous attachment; save that with [`thread_handle`]).
    pub fn enable() -> Result<Environment, RpcError> {
        status(enable_raw())?;
        let handle = thread_handle().ok_or(RpcError(RPC_S_INVALID_ARG))?;
        Ok(Environment { handle })
    }

    /// The handle other threads attach with.
    pub fn handle(&self) -> ThreadHandle {
        self.handle
    }

    /// Releases every block still allocated in the environment at once.
    pub fn disable(self) -> Result<(), RpcError> {
        let h = self.handle;
        core::mem::forget(self);
        disable_handle(h)
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        let _ = disable_handle(self.handle);
    }
}

fn disable_handle(h: ThreadHandle) -> Result<(), RpcError> {
    let Some(reg) = registry() else {
        return Err(RpcError(RPC_S_OUT_OF_MEMORY));
    };
    // SAFETY: a plain read of this thread's own cursor.
    if CURSOR.with(|c| unsafe { (*c.get()).handle }) == h.0.get() {
        return status(with_cursor(|r, c| r.disable(c), RPC_S_OUT_OF_MEMORY));
    }
    status(reg.disable_handle(h.0.get()))
}

/// A block of `size` bytes from the calling thread's environment.
pub fn allocate(size: usize) -> Result<NonNull<u8>, RpcError> {
    let (p, s) = allocate_raw(size);
    NonNull::new(p).ok_or(RpcError(s))
}

/// Frees a block of the calling thread's environment before it ends.
///
/// # Safety
/// If `p` is a live block of the environment, it is not used again. (Any
/// other pointer is rejected without being dereferenced.)
pub unsafe fn free(p: *mut u8) -> Result<(), RpcError> {
    status(free_raw(p))
}

/// The calling thread's environment, if it has one.
pub fn thread_handle() -> Option<ThreadHandle> {
    NonZeroU64::new(with_cursor(|r, c| r.thread_handle(c), 0)).map(ThreadHandle)
}

/// Attaches the calling thread to an environment (None detaches).
pub fn set_thread_handle(h: Option<ThreadHandle>) -> Result<(), RpcError> {
    status(set_thread_handle_raw(h.map_or(0, |h| h.0.get())))
}

pub(crate) fn enable_raw() -> i32 {
    with_cursor(|r, c| r.enable(c), RPC_S_OUT_OF_MEMORY)
}

pub(crate) fn disable_raw() -> i32 {
    with_cursor(|r, c| r.disable(c), RPC_S_INVALID_ARG)
}

pub(crate) fn allocate_raw(size: usize) -> (*mut u8, i32) {
    match with_cursor(|r, c| r.allocate(c, size), Err(RPC_S_OUT_OF_MEMORY)) {
        Ok(p) => (p, RPC_S_OK),
        Err(s) => (core::ptr::null_mut(), s),
    }
}

pub(crate) fn free_raw(p: *mut u8) -> i32 {
    with_cursor(|r, c| r.free(c, p), RPC_S_INVALID_ARG)
}

pub(crate) fn thread_handle_raw() -> u64 {
    with_cursor(|r, c| r.thread_handle(c), 0)
}

pub(crate) fn set_thread_handle_raw(h: u64) -> i32 {
    with_cursor(|r, c| r.set_thread_handle(c, h), RPC_S_INVALID_ARG)
}

/// `RPC_CLIENT_ALLOC *` / `RPC_CLIENT_FREE *`.
pub type ClientAlloc = unsafe extern "C" fn(usize) -> *mut c_void;
/// See [`ClientAlloc`].
pub type ClientFree = unsafe extern "C" fn(*mut c_void);

unsafe extern "C" fn default_client_alloc(size: usize) -> *mut c_void {
    crate::ffi::MIDL_user_allocate(size)
}

unsafe extern "C" fn default_client_free(p: *mut c_void) {
    // SAFETY: the client free function's contract is MIDL_user_free's.
    unsafe { crate::ffi::MIDL_user_free(p) }
}

thread_local! {
    /// The calling thread's client stub allocate/free pair (per thread, as
    /// in DCE); MIDL_user_allocate / MIDL_user_free until set.
    static CLIENT: Cell<(ClientAlloc, ClientFree)> =
        const { Cell::new((default_client_alloc as ClientAlloc, default_client_free as ClientFree)) };
}

/// The calling thread's client allocate/free pair.
pub fn client_alloc_free() -> (ClientAlloc, ClientFree) {
    CLIENT.get()
}

/// Replaces the calling thread's client allocate/free pair and returns the
/// previous one.
pub fn swap_client_alloc_free(alloc: ClientAlloc, free: ClientFree) -> (ClientAlloc, ClientFree) {
    CLIENT.replace((alloc, free))
}
