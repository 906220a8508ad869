//! The allocator's own protocol code, exposed to the loom models in
//! `loom-tests/` (compiled only with `--cfg loom`). Everything here is a thin
//! handle on the real types: the models run the same code the allocator
//! runs, as ordinary instances, never as the global allocator. Allocation
//! and free go through the entry points the C exports use
//! (`mem::alloc`), with the model thread's heap as their [`HeapSource`].

use crate::base::fault::ACTIVE;
use crate::ds::config::DEFAULT_PURGE_DELAY_MS;
use crate::ds::counted_stack::CountedStack;
use crate::ds::stack::{AtomicStack, Linked};
use crate::ds::stats::OS_MAPPED;
use crate::mem::alloc::{self, HeapSource};
use crate::mem::arena::Arena as RawArena;
use crate::mem::block::{shape_key, Block};
use crate::mem::heap::{Heap, HEAP_MAP_SIZE};
use crate::mem::rpcss::{ChunkSource, Cursor, Registry};
use crate::mem::segment::segment_of;
use core::cell::Cell;

pub use crate::base::fault::Fault;
pub use crate::mem::rpcss::{RPC_S_INVALID_ARG, RPC_S_OK};

/// Switches one deliberate fault on (or all off with `None`) for the
/// expected-failure models. Process-wide: run models one at a time.
pub fn set_fault(fault: Option<Fault>) {
    ACTIVE.store(fault.map_or(0, |f| f as u32), core::sync::atomic::Ordering::Relaxed);
}

/// Bytes currently mapped from the OS by the allocator (all heaps, segments
/// and large objects of every model so far).
pub fn os_mapped() -> usize {
    OS_MAPPED.get()
}

loom::thread_local! {
    /// The heap of the model thread calling into `mem::alloc` (set by each
    /// [`HeapHandle`] call).
    static CURRENT: Cell<*mut Heap> = Cell::new(core::ptr::null_mut());
}

/// The model thread's heap as the entry points' [`HeapSource`].
struct ModelHeap;

impl HeapSource for ModelHeap {
    fn current() -> *mut Heap {
        CURRENT.with(|c| c.get())
    }

    fn current_or_create() -> *mut Heap {
        // A model thread's heap exists before it allocates (HeapHandle::new).
        Self::current()
    }
}

/// The process-wide shared state (list of abandoned segments).
pub struct Arena(RawArena);

impl Arena {
    /// An arena with nothing abandoned or pooled.
    pub fn new() -> Self {
        Arena(RawArena::new())
    }
}

impl Arena {
    /// Unmaps every abandoned segment and pooled heap of the arena; returns
    /// the number of segments that still held blocks (0 unless blocks were
    /// leaked).
    ///
    /// # Safety
    /// No heap of this arena is live any more and none of its blocks is used
    /// again.
    pub unsafe fn release_all(&self) -> usize {
        // SAFETY: forwarded.
        unsafe { self.0.release_all(HEAP_MAP_SIZE) }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

/// A thread's heap. Move it into the thread that uses it; only that thread
/// may call its methods.
pub struct HeapHandle(*mut Heap);

// SAFETY: a heap is used by one thread at a time; moving the handle hands it
// over (with the happens-before of the move, e.g. thread spawn).
unsafe impl Send for HeapHandle {}

impl HeapHandle {
    /// Creates a heap attached to `arena`, which must outlive it.
    pub fn new(arena: &Arena) -> Self {
        // SAFETY: the model keeps the arena alive while its heaps are used.
        let h = unsafe { Heap::create(&arena.0, DEFAULT_PURGE_DELAY_MS, 0x5eed) };
        assert!(!h.is_null(), "out of memory creating a heap");
        HeapHandle(h)
    }

    /// Allocates `size` bytes through the entry point MIDL_user_allocate
    /// uses; null on OOM.
    pub fn alloc(&self, size: usize) -> *mut u8 {
        CURRENT.with(|c| c.set(self.0));
        alloc::malloc::<ModelHeap>(size)
    }

    /// Frees `p` from this heap's thread through the entry point
    /// MIDL_user_free uses (local or remote path as the allocator decides).
    ///
    /// # Safety
    /// `p` is a live block of any heap of the same arena, not used again.
    pub unsafe fn free(&self, p: *mut u8) {
        CURRENT.with(|c| c.set(self.0));
        // SAFETY: forwarded.
        unsafe { alloc::free_or_null::<ModelHeap>(p) }
    }

    /// Thread exit: abandons the heap to its arena.
    pub fn abandon(self) {
        // SAFETY: the heap is live and never used again (self is consumed).
        unsafe { Heap::abandon(self.0) }
    }
}

/// Frees `p` from a thread that has no heap (always the remote path).
///
/// # Safety
/// `p` is a live block of a heap of some arena, not used again.
pub unsafe fn free_remote(p: *mut u8) {
    // SAFETY: forwarded; a live block's segment header is live.
    unsafe { Heap::free_remote(segment_of(p), p) }
}

/// Bytes of the smallest block a model may push onto a [`RemoteList`].
pub const NODE_BYTES: usize = 128;

/// The key a [`RemoteList`] links its blocks with (pages use their own).
const MODEL_KEY: usize = shape_key(0x6d6f_6465_6c5f_6b65);

/// A remote-free list of raw blocks, as pages use it: each push links the
/// block with a key and counts it in the list's head word.
pub struct RemoteList(CountedStack<Block>);

// SAFETY: the stack is a lock-free multi-producer list.
unsafe impl Sync for RemoteList {}
// SAFETY: as above.
unsafe impl Send for RemoteList {}

impl RemoteList {
    /// An empty list.
    pub fn new() -> Self {
        assert!(core::mem::size_of::<Block>() <= NODE_BYTES);
        RemoteList(CountedStack::new())
    }

    /// Pushes the free block at `p` (one CAS, as a remote free does).
    ///
    /// # Safety
    /// `p` is valid for `NODE_BYTES`, 16-byte aligned, owned by the caller
    /// and in no list.
    pub unsafe fn push(&self, p: *mut u8) {
        // SAFETY: forwarded; the block becomes a list node.
        unsafe {
            self.0
                .push(p.cast::<Block>(), |b, first| Block::init_keyed(b, first, MODEL_KEY))
        }
    }

    /// Takes every block (one swap, as the owner does) and returns them,
    /// panicking if the list's count is not the number of blocks on it.
    pub fn take_all(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let (mut b, n) = self.0.take_all();
        while !b.is_null() {
            out.push(b as usize);
            // SAFETY: the list's nodes were acquired by take_all.
            b = unsafe { Block::next_keyed(b, MODEL_KEY) };
        }
        assert_eq!(
            out.len(),
            n as usize,
            "the remote list's count does not match its blocks"
        );
        out
    }
}

impl Default for RemoteList {
    fn default() -> Self {
        Self::new()
    }
}

/// A pool list of raw blocks, as the arena keeps segments and heaps.
pub struct PoolList(AtomicStack<Block>);

// SAFETY: the stack is a lock-free multi-producer list.
unsafe impl Sync for PoolList {}
// SAFETY: as above.
unsafe impl Send for PoolList {}

impl PoolList {
    /// An empty list.
    pub fn new() -> Self {
        assert!(core::mem::size_of::<Block>() <= NODE_BYTES);
        PoolList(AtomicStack::new())
    }

    /// Pushes the free block at `p` (one CAS).
    ///
    /// # Safety
    /// `p` is valid for `NODE_BYTES`, 16-byte aligned, owned by the caller
    /// and in no list.
    pub unsafe fn push(&self, p: *mut u8) {
        // SAFETY: forwarded; the block becomes a list node.
        unsafe { self.0.push(p.cast()) }
    }

    /// Takes one block as the arena's pools do (the whole list with one
    /// swap, the rest pushed back with `push_list`), or none if empty.
    pub fn take_one(&self) -> Option<usize> {
        let first = self.0.take_all();
        if first.is_null() {
            return None;
        }
        // SAFETY: the chain was acquired by take_all and is ours.
        unsafe { self.0.push_list(Block::next(first)) };
        Some(first as usize)
    }

    /// Takes every block (one swap) and returns them.
    pub fn take_all(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut b = self.0.take_all();
        while !b.is_null() {
            out.push(b as usize);
            // SAFETY: the list's nodes were acquired by take_all.
            b = unsafe { Block::next(b) };
        }
        out
    }
}

impl Default for PoolList {
    fn default() -> Self {
        Self::new()
    }
}

/// The RpcSs environment registry (a small one per model).
pub struct RpcRegistry(Registry);

/// A thread's attachment to an RpcSs environment.
pub struct RpcCursor(Cursor);

// SAFETY: a cursor is plain data moved into the thread that uses it.
unsafe impl Send for RpcCursor {}

/// Each method is the registry's operation of the same name (see
/// `mem::rpcss::Registry`), on the calling model thread's cursor.
impl RpcRegistry {
    /// A registry of `capacity` environment slots, its chunks mapped.
    pub fn new(capacity: u32) -> Self {
        RpcRegistry(Registry::new(capacity, ChunkSource::MAPPINGS).expect("map registry"))
    }
    /// Creates an environment and attaches `c` to it.
    pub fn enable(&self, c: &mut RpcCursor) -> i32 {
        self.0.enable(&mut c.0, false, &mut 0, core::ptr::null_mut())
    }
    /// Releases `c`'s environment with every block in it.
    pub fn disable(&self, c: &mut RpcCursor) -> i32 {
        // No spare slot kept: the slot goes back to the shared list.
        let mut spare = u32::MAX;
        self.0.disable(&mut c.0, &mut spare, None)
    }
    /// A block of `size` bytes from `c`'s environment.
    pub fn allocate(&self, c: &mut RpcCursor, size: usize) -> Result<*mut u8, i32> {
        self.0.allocate(&mut c.0, size)
    }
    /// Frees one block of `c`'s environment early.
    pub fn free(&self, c: &mut RpcCursor, p: *mut u8) -> i32 {
        self.0.free(&mut c.0, p)
    }
    /// Attaches `c` to the environment `handle` (0 detaches).
    pub fn set_thread_handle(&self, c: &mut RpcCursor, handle: u64) -> i32 {
        self.0.set_thread_handle(&mut c.0, handle)
    }
    /// The handle of `c`'s environment (0: none).
    pub fn thread_handle(&self, c: &RpcCursor) -> u64 {
        self.0.thread_handle(&c.0)
    }
}

impl RpcCursor {
    /// A cursor attached to no environment.
    pub fn new() -> Self {
        RpcCursor(Cursor::DETACHED)
    }
}

impl Default for RpcCursor {
    fn default() -> Self {
        Self::new()
    }
}
