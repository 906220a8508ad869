//! The RpcSs package's process-wide state: the one registry of
//! environments (`mem::rpcss`), whose chunks come from the allocator
//! itself, each thread's attachment to an environment, and each thread's
//! client allocate/free pair, all in destructor-free thread-locals. The C
//! exports and the Rust API (`api`) share these functions.

use super::entry;
use crate::base::sync::plain::AtomicBool;
use crate::base::sync::{lock, Mutex, Ordering};
use crate::mem::rpcss::{ChunkSource, Cursor, Registry, CHUNK_BYTES, RPC_S_INVALID_ARG, RPC_S_OK, RPC_S_OUT_OF_MEMORY};
use crate::pal::{self, ThreadExitKey};
use core::cell::Cell;
use core::ffi::c_void;
use std::sync::Once;

/// Most environments alive at once in a process.
const MAX_ENVIRONMENTS: u32 = 1 << 16;

/// Chunks of the library's environments: blocks of the allocator, and
/// each thread keeps one shared-size chunk back from a disable for its
/// next environment.
const HEAP_CHUNKS: ChunkSource = ChunkSource {
    alloc: alloc_chunk,
    free: free_chunk,
};

/// The calling thread's RpcSs state, in one destructor-free thread-local
/// ([`STATE`]) reached through a thread slot (`pal::thread_slot!`): in the
/// shared library a slot read is one `%fs` load, where every access to a
/// `thread_local!` is a call to `__tls_get_addr`. A cache line of its own:
/// unaligned, where the TLS block's layout put it, `Environment::reset`'s
/// benchmark call ran 25% slower (with the same instructions).
#[repr(align(64))]
pub(crate) struct ThreadState {
    /// The thread's attachment to an environment.
    cursor: core::cell::UnsafeCell<Cursor>,
    /// The thread's spare chunk (`CHUNK_BYTES`), or null.
    spare_chunk: Cell<*mut u8>,
    /// The thread's spare environment slot (index + 1, 0 for none; see
    /// `Registry::enable`).
    spare_slot: Cell<u32>,
    /// Whether [`SPARE_KEY`] is set for this thread, so its exit gives the
    /// spares back.
    spare_armed: Cell<bool>,
}

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            cursor: core::cell::UnsafeCell::new(Cursor::DETACHED),
            spare_chunk: Cell::new(core::ptr::null_mut()),
            spare_slot: Cell::new(0),
            spare_armed: Cell::new(false),
        }
    }
}

thread_local! {
    static STATE: ThreadState = const { ThreadState::new() };
}

/// The slot's first value in every thread: a state nobody writes, which
/// [`own_state`] replaces with the thread's own before any other access.
/// `allocate_raw`'s fast path reads its cursor, which knows no slot, and
/// so takes the slow path, which installs the thread's own.
#[repr(transparent)]
struct Unused(ThreadState);
// SAFETY: never written; `allocate_raw` only reads its cursor's `env`.
unsafe impl Sync for Unused {}
static UNUSED: Unused = Unused(ThreadState::new());

pal::thread_slot!(rpcss_slot: ThreadState = UNUSED);

/// The calling thread's own state, through the slot (installed there on
/// the thread's first call). It lives as long as the thread.
#[inline(always)]
fn own_state() -> *const ThreadState {
    let st = rpcss_slot::get();
    if !core::ptr::eq(st, core::ptr::addr_of!(UNUSED.0)) {
        return st;
    }
    install_state()
}

#[cold]
#[inline(never)]
fn install_state() -> *const ThreadState {
    let st = STATE.with(|s| s as *const ThreadState);
    rpcss_slot::set(st as *mut ThreadState);
    st
}

/// Runs `f` with the calling thread's state.
#[inline(always)]
fn with_state<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    // SAFETY: the thread's own state (`own_state`), alive while it runs.
    f(unsafe { &*own_state() })
}

/// The thread-exit hook that gives a thread's spares back (a key of its
/// own: the heap's hook knows nothing of environments).
static SPARE_KEY: ThreadExitKey = ThreadExitKey::new();
static SPARE_KEY_ONCE: Once = Once::new();
/// Whether SPARE_KEY was created (a flag ordered by SPARE_KEY_ONCE).
static SPARE_KEY_OK: AtomicBool = AtomicBool::new(false);

/// Whether the calling thread may keep spares: its exit hook is armed (or
/// is armed now). False if the process has no key left; nothing is kept
/// then.
fn spares_armed(st: &ThreadState) -> bool {
    if st.spare_armed.get() {
        return true;
    }
    SPARE_KEY_ONCE.call_once(|| {
        // SAFETY: the key is created once, here, before any set.
        let ok = unsafe { SPARE_KEY.create(spares_at_exit) };
        SPARE_KEY_OK.store(ok, Ordering::Relaxed);
    });
    if !SPARE_KEY_OK.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: the key exists; any non-null value arms the hook.
    unsafe { SPARE_KEY.set(core::ptr::NonNull::<c_void>::dangling().as_ptr()) };
    st.spare_armed.set(true);
    true
}

/// [`HEAP_CHUNKS`]' alloc.
fn alloc_chunk(bytes: usize) -> *mut u8 {
    if bytes == CHUNK_BYTES {
        let spare = with_state(|st| st.spare_chunk.replace(core::ptr::null_mut()));
        if !spare.is_null() {
            return spare;
        }
    }
    entry::malloc_aligned(bytes, 16)
}

/// [`HEAP_CHUNKS`]' free (a disable keeps the thread's spare chunk itself,
/// before any chunk reaches this).
///
/// # Safety
/// `p` is a chunk `HEAP_CHUNKS.alloc` returned, not used again.
unsafe fn free_chunk(p: *mut u8, _bytes: usize) {
    // SAFETY: caller's contract.
    unsafe { entry::free(p) }
}

/// The calling thread's spare slot and spare chunk, for a disable to fill
/// (only a thread whose exit hook is armed keeps them; for others a full
/// dummy slot and no chunk, so both go back to the shared lists).
fn with_spares_for_disable<R>(st: &ThreadState, f: impl FnOnce(&mut u32, Option<&mut *mut u8>) -> R) -> R {
    if !spares_armed(st) {
        let mut full = u32::MAX;
        return f(&mut full, None);
    }
    let (mut spare, mut chunk) = (st.spare_slot.get(), st.spare_chunk.get());
    let r = f(&mut spare, Some(&mut chunk));
    st.spare_slot.set(spare);
    st.spare_chunk.set(chunk);
    r
}

/// The exit hook: gives back the thread's spare chunk and spare slot.
///
/// # Safety
/// Called by the OS at thread exit (the value is a flag, not a pointer).
unsafe extern "C" fn spares_at_exit(_: *mut c_void) {
    let (chunk, mut spare) = with_state(|st| {
        st.spare_armed.set(false);
        (st.spare_chunk.replace(core::ptr::null_mut()), st.spare_slot.replace(0))
    });
    if !chunk.is_null() {
        // SAFETY: the spare chunk is a block of the allocator nothing uses.
        unsafe { entry::free(chunk) };
    }
    if let Some(reg) = registry() {
        reg.release_spare(&mut spare);
    }
}

/// The registry, made on first use: None while it cannot be mapped, and
/// tried again on the next call (a refusal of the OS at start-up must not
/// disable the package for the process's life: `tests/os_faults.rs`). A
/// flag, a lock and a cell rather than `OnceLock`, which Rust 1.63 (the
/// Windows build's compiler) lacks; the lock is the standard one (a futex
/// or an SRW lock, which never allocates), taken only until the registry
/// exists.
#[inline(always)]
fn registry() -> Option<&'static Registry> {
    if READY.load(Ordering::Acquire) {
        // SAFETY: `READY` is set, so the cell holds the registry for good.
        unsafe { (*REGISTRY.0.get()).as_ref() }
    } else {
        make_registry()
    }
}

struct Slot(core::cell::UnsafeCell<Option<Registry>>);
// SAFETY: the cell is written once, under `INIT`, before `READY` is set
// (Release); it is only read after `READY` is seen set (Acquire) or under
// `INIT`.
unsafe impl Sync for Slot {}
static READY: AtomicBool = AtomicBool::new(false);
static INIT: Mutex<()> = Mutex::new(());
static REGISTRY: Slot = Slot(core::cell::UnsafeCell::new(None));

/// [`registry`]'s first call (and its calls while the OS refuses), out of
/// line so that the others are one load and a test.
#[cold]
#[inline(never)]
fn make_registry() -> Option<&'static Registry> {
    let _init = lock(&INIT);
    if !READY.load(Ordering::Relaxed) {
        let made = Registry::new(MAX_ENVIRONMENTS, HEAP_CHUNKS)?;
        // SAFETY: the only write, under `INIT`, before `READY` is set.
        unsafe { *REGISTRY.0.get() = Some(made) };
        READY.store(true, Ordering::Release);
    }
    // SAFETY: `READY` is set (by this call or another before it, under
    // `INIT`), so the cell holds the registry for good.
    unsafe { (*REGISTRY.0.get()).as_ref() }
}

fn with_cursor<R>(f: impl FnOnce(&Registry, &mut Cursor) -> R, none: R) -> R {
    with_state_cursor(|r, _, c| f(r, c), none)
}

/// [`with_cursor`], with the rest of the thread's state too (whose cursor
/// `f` reaches only through its `&mut Cursor`).
#[inline(always)]
fn with_state_cursor<R>(f: impl FnOnce(&Registry, &ThreadState, &mut Cursor) -> R, none: R) -> R {
    let reg = match registry() {
        Some(reg) => reg,
        None => return none,
    };
    with_state(|st| {
        // SAFETY: the cursor is this thread's alone, and `f` (registry code)
        // never re-enters this module, so the reference is unique.
        f(reg, st, unsafe { &mut *st.cursor.get() })
    })
}

/// How many environments besides its attached one a thread keeps a
/// cursor into (for the `Allocator` front end, which allocates from any
/// environment on any thread); past that the oldest is replaced, and what
/// was left of its chunk goes with the environment.
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
const SIDE_CURSORS: usize = 4;

#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
struct SideCursors {
    cursors: [Cursor; SIDE_CURSORS],
    next: usize,
}

#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
impl SideCursors {
    /// Puts `cur` in place of the oldest side cursor; returns it there.
    fn replace_oldest(&mut self, cur: Cursor) -> &mut Cursor {
        let i = self.next;
        self.next = (i + 1) % SIDE_CURSORS;
        self.cursors[i] = cur;
        &mut self.cursors[i]
    }
}

thread_local! {
    static SIDE: core::cell::UnsafeCell<SideCursors> = const {
        core::cell::UnsafeCell::new(SideCursors { cursors: [Cursor::DETACHED; SIDE_CURSORS], next: 0 })
    };
}

/// Runs `f` with the calling thread's cursor into the environment `h`: its
/// attached one if that is `h`, else a side cursor (made if `create`;
/// without one and not `create`, `none`).
#[inline]
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
fn with_cursor_for<R>(h: u64, create: bool, f: impl FnOnce(&Registry, &mut Cursor) -> R, none: R) -> R {
    let reg = match registry() {
        Some(reg) => reg,
        None => return none,
    };
    let attached = with_state(|st| {
        let c = &st.cursor;
        // SAFETY: the cursor is this thread's alone, and `f` (registry code)
        // never re-enters this module, so the reference is unique.
        let c = unsafe { &mut *c.get() };
        (c.handle == h).then_some(c as *mut Cursor)
    });
    if let Some(c) = attached {
        // SAFETY: as above; the thread-local outlives this call.
        return f(reg, unsafe { &mut *c });
    }
    SIDE.with(|s| {
        // SAFETY: this thread's alone, not re-entered (as above).
        let s = unsafe { &mut *s.get() };
        if let Some(c) = s.cursors.iter_mut().find(|c| c.handle == h) {
            return f(reg, c);
        }
        if !create {
            return none;
        }
        f(reg, s.replace_oldest(Cursor::new(h)))
    })
}

/// Disables the environment `h` as its owner, from any thread (the Rust
/// API's drop); the calling thread's cursors into it are detached.
pub(crate) fn disable_handle_raw(h: u64) -> i32 {
    let reg = match registry() {
        Some(reg) => reg,
        None => return RPC_S_OUT_OF_MEMORY,
    };
    with_state(|st| {
        let c = &st.cursor;
        // SAFETY: this thread's own cursor, not re-entered.
        let c = unsafe { &mut *c.get() };
        if c.handle == h {
            *c = Cursor::DETACHED;
        }
    });
    SIDE.with(|s| {
        // SAFETY: as above.
        for c in unsafe { &mut *s.get() }.cursors.iter_mut().filter(|c| c.handle == h) {
            *c = Cursor::DETACHED;
        }
    });
    with_state(|st| with_spares_for_disable(st, |spare, chunk| reg.disable_handle(h, spare, chunk)))
}

/// Ends every block of the owned environment `h` and starts it again under
/// a new handle, which it returns (see `Registry::reset_owned`). The
/// calling thread's cursors into `h` are replaced by one into the new
/// environment: its attached one if it was attached to `h` (it stays
/// attached), else a side cursor.
#[inline]
pub(crate) fn reset_owned_raw(h: u64) -> Result<u64, i32> {
    let reg = match registry() {
        Some(reg) => reg,
        None => return Err(RPC_S_OUT_OF_MEMORY),
    };
    let attached = with_state(|st| {
        let c = &st.cursor;
        // SAFETY: this thread's own cursor, not re-entered.
        let c = unsafe { &mut *c.get() };
        // No side cursor into `h` is made while the thread is attached to
        // it, and one made before is stale from now on (a handle is never
        // reused): the attached cursor is the only one to renew.
        (c.handle == h).then(|| reg.reset_owned(h, c))
    });
    if let Some(result) = attached {
        return result;
    }
    let mut fresh = Cursor::DETACHED;
    let new = reg.reset_owned(h, &mut fresh)?;
    SIDE.with(|s| {
        // SAFETY: as above.
        let s = unsafe { &mut *s.get() };
        let mut placed = false;
        for c in s.cursors.iter_mut().filter(|c| c.handle == h) {
            *c = if placed { Cursor::DETACHED } else { fresh };
            placed = true;
        }
        if !placed {
            s.replace_oldest(fresh);
        }
    });
    Ok(new)
}

pub(crate) fn enable_raw() -> i32 {
    enable_as(false)
}

/// Creates an environment (see `Registry::enable`) with the thread's spare
/// slot and spare chunk, and attaches the thread to it.
fn enable_as(owned: bool) -> i32 {
    with_state_cursor(
        |r, st, c| {
            let first = st.spare_chunk.replace(core::ptr::null_mut());
            let mut spare = st.spare_slot.get();
            let status = r.enable(c, owned, &mut spare, first);
            st.spare_slot.set(spare);
            if status != RPC_S_OK && !first.is_null() {
                st.spare_chunk.set(first);
            }
            status
        },
        RPC_S_OUT_OF_MEMORY,
    )
}

/// Creates an environment only [`disable_handle_raw`] can end (a Rust
/// `Environment`'s), attaches the calling thread to it and returns its
/// handle, or the failure's status.
pub(crate) fn enable_owned_raw() -> Result<u64, i32> {
    match enable_as(true) {
        // SAFETY: a plain read of this thread's own cursor.
        RPC_S_OK => Ok(with_state(|st| unsafe { (*st.cursor.get()).handle })),
        s => Err(s),
    }
}

/// A block of `size` bytes aligned to `align` from the environment `h`,
/// whatever the calling thread is attached to (the `Allocator` front end;
/// no header: give it back only with [`release_in`]).
///
/// # Safety
/// The environment `h` is live and stays so during the call (the caller
/// borrows its owner).
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
#[inline(always)]
pub(crate) unsafe fn allocate_in(h: u64, size: usize, align: usize) -> *mut u8 {
    // The fast path: the thread is attached to `h` and its chunk has the
    // room, which needs neither the registry nor the side cursors. The
    // thread-local itself, not the slot: its Rust callers link the library
    // statically, where it is the one `%fs`-relative access.
    let fast = STATE.with(|st| {
        let c = &st.cursor;
        // SAFETY: this thread's own cursor, not re-entered.
        let c = unsafe { &mut *c.get() };
        if c.handle == h {
            // SAFETY: the caller's contract (`h` is live).
            unsafe { Registry::bump_block(c, size, align) }
        } else {
            None
        }
    });
    match fast {
        Some(p) => p,
        // SAFETY: the caller's contract.
        None => unsafe { allocate_in_slow(h, size, align) },
    }
}

/// [`allocate_in`] through the registry and any cursor.
///
/// # Safety
/// As for [`allocate_in`].
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
#[inline(never)]
unsafe fn allocate_in_slow(h: u64, size: usize, align: usize) -> *mut u8 {
    with_cursor_for(
        h,
        true,
        // SAFETY: the caller's contract.
        |r, c| unsafe { r.allocate_block(c, size, align) }.unwrap_or(core::ptr::null_mut()),
        core::ptr::null_mut(),
    )
}

/// Gives back a block [`allocate_in`] returned, at once if it is the
/// calling thread's latest in `h`.
#[inline]
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
pub(crate) fn release_in(h: u64, p: *mut u8, size: usize) {
    with_cursor_for(h, false, |r, c| r.release_block(c, p, size), ())
}

/// Resizes a block [`allocate_in`] returned in place, if it is the calling
/// thread's latest in `h` and there is room.
#[inline]
#[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
pub(crate) fn resize_in(h: u64, p: *mut u8, old_size: usize, new_size: usize) -> bool {
    with_cursor_for(h, false, |r, c| r.resize_block(c, p, old_size, new_size), false)
}

pub(crate) fn disable_raw() -> i32 {
    with_state_cursor(
        |r, st, c| with_spares_for_disable(st, |spare, chunk| r.disable(c, spare, chunk)),
        RPC_S_INVALID_ARG,
    )
}

/// A block of the calling thread's environment (RpcSsAllocate): the fast
/// path bumps through the thread's cursor with no registry lookup.
#[inline]
pub(crate) fn allocate_raw(size: usize) -> (*mut u8, i32) {
    let st = rpcss_slot::get();
    // SAFETY: the slot holds the thread's own state, whose cursor is not
    // borrowed now (nothing here re-enters), or [`UNUSED`], whose cursor
    // knows no slot and is only read; a cursor's slot is the static
    // registry's, which lives for good.
    match unsafe { Registry::allocate_fast((*st).cursor.get(), size) } {
        Some(p) => (p, RPC_S_OK),
        None => allocate_raw_slow(size),
    }
}

/// [`allocate_raw`] when the fast path cannot serve.
#[inline(never)]
fn allocate_raw_slow(size: usize) -> (*mut u8, i32) {
    match with_cursor(|r, c| r.allocate_slow(c, size), Err(RPC_S_OUT_OF_MEMORY)) {
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
///
/// ```
/// let (alloc, free) = midl_alloc::environment::client_alloc_free();
/// // SAFETY: the pair allocates and frees one block.
/// unsafe { free(alloc(16)) };
/// ```
pub fn client_alloc_free() -> (ClientAlloc, ClientFree) {
    CLIENT.with(Cell::get)
}

/// Replaces the calling thread's client allocate/free pair and returns the
/// previous one.
///
/// ```
/// use midl_alloc::environment::{client_alloc_free, swap_client_alloc_free};
/// let (a, f) = client_alloc_free();
/// let old = swap_client_alloc_free(a, f); // the same pair: nothing changes
/// assert_eq!(old.0 as usize, a as usize);
/// ```
pub fn swap_client_alloc_free(alloc: ClientAlloc, free: ClientFree) -> (ClientAlloc, ClientFree) {
    CLIENT.with(|c| c.replace((alloc, free)))
}
