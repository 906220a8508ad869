//! The RpcSs package's process-wide state: the one registry of
//! environments (`mem::rpcss`), whose chunks come from the allocator
//! itself, each thread's attachment to an environment, and each thread's
//! client allocate/free pair, all in destructor-free thread-locals. The C
//! exports and the Rust API (`api`) share these functions.

use super::entry;
use crate::mem::rpcss::{ChunkSource, Cursor, Registry, RPC_S_INVALID_ARG, RPC_S_OK, RPC_S_OUT_OF_MEMORY};
use core::cell::Cell;
use core::ffi::c_void;
use std::sync::Once;

/// Most environments alive at once in a process.
const MAX_ENVIRONMENTS: u32 = 1 << 16;

/// Chunks of the library's environments: blocks of the allocator.
const HEAP_CHUNKS: ChunkSource = ChunkSource {
    alloc: |bytes| entry::malloc_aligned(bytes, 16),
    free: free_chunk,
};

/// [`HEAP_CHUNKS`]' free.
///
/// # Safety
/// `p` is a chunk `HEAP_CHUNKS.alloc` returned, not used again.
unsafe fn free_chunk(p: *mut u8, _bytes: usize) {
    // SAFETY: caller's contract.
    unsafe { entry::free(p) }
}

/// The registry, made on first use (None if it could not be mapped).
/// A `Once` and a cell rather than `OnceLock`, which Rust 1.63 (the
/// Windows build's compiler) lacks.
fn registry() -> Option<&'static Registry> {
    struct Slot(core::cell::UnsafeCell<Option<Registry>>);
    // SAFETY: the cell is written once, inside `ONCE`, and only read after
    // `ONCE` has completed (which orders the write before the reads).
    unsafe impl Sync for Slot {}
    static ONCE: Once = Once::new();
    static REGISTRY: Slot = Slot(core::cell::UnsafeCell::new(None));
    // SAFETY: the only write, inside `call_once`.
    ONCE.call_once(|| unsafe { *REGISTRY.0.get() = Registry::new(MAX_ENVIRONMENTS, HEAP_CHUNKS) });
    // SAFETY: `ONCE` has completed; the cell is never written again.
    unsafe { (*REGISTRY.0.get()).as_ref() }
}

thread_local! {
    static CURSOR: core::cell::UnsafeCell<Cursor> = const { core::cell::UnsafeCell::new(Cursor::DETACHED) };
}

fn with_cursor<R>(f: impl FnOnce(&Registry, &mut Cursor) -> R, none: R) -> R {
    let reg = match registry() {
        Some(reg) => reg,
        None => return none,
    };
    CURSOR.with(|c| {
        // SAFETY: the cursor is this thread's alone, and `f` (registry code)
        // never re-enters this module, so the reference is unique.
        f(reg, unsafe { &mut *c.get() })
    })
}

/// Disables the environment `h` from any thread (the Rust API's drop):
/// through the calling thread's attachment if that is `h`, so it is
/// detached too.
pub(crate) fn disable_handle_raw(h: u64) -> i32 {
    let reg = match registry() {
        Some(reg) => reg,
        None => return RPC_S_OUT_OF_MEMORY,
    };
    // SAFETY: a plain read of this thread's own cursor.
    if CURSOR.with(|c| unsafe { (*c.get()).handle }) == h {
        return with_cursor(|r, c| r.disable(c), RPC_S_OUT_OF_MEMORY);
    }
    reg.disable_handle(h)
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

/// `MIDL_user_allocate`, the client pair's default allocate function.
unsafe extern "C" fn default_client_alloc(size: usize) -> *mut c_void {
    entry::malloc(size).cast()
}

/// `MIDL_user_free`, the client pair's default free function.
///
/// # Safety
/// `p` is NULL or a live block of this allocator, not used again.
unsafe extern "C" fn default_client_free(p: *mut c_void) {
    // SAFETY: the client free function's contract is MIDL_user_free's.
    unsafe { entry::free_or_null(p.cast()) }
}

thread_local! {
    /// The calling thread's client stub allocate/free pair (per thread, as
    /// in DCE); MIDL_user_allocate / MIDL_user_free until set.
    static CLIENT: Cell<(ClientAlloc, ClientFree)> =
        const { Cell::new((default_client_alloc as ClientAlloc, default_client_free as ClientFree)) };
}

/// The calling thread's client allocate/free pair.
pub fn client_alloc_free() -> (ClientAlloc, ClientFree) {
    CLIENT.with(Cell::get)
}

/// Replaces the calling thread's client allocate/free pair and returns the
/// previous one.
pub fn swap_client_alloc_free(alloc: ClientAlloc, free: ClientFree) -> (ClientAlloc, ClientFree) {
    CLIENT.with(|c| c.replace((alloc, free)))
}
