//! The RpcSs memory management package: allocation environments whose
//! blocks are all released at once when the environment is disabled, and
//! which several threads can share.
//!
//! * An environment owns a lock-free list of chunks (the remote-free list's
//!   `AtomicStack`: one CAS to add a chunk). Each attached thread bumps
//!   blocks out of a chunk of its own, so threads sharing an environment
//!   never contend on the allocation path and no lock is taken.
//! * Disabling takes the whole chunk list with one swap and frees the
//!   chunks: a bulk release, no walk over blocks.
//! * Every block has a 16-byte header: its size and an atomic state word
//!   keyed with the environment's secret and the block's address. An early
//!   free checks the pointer lies in one of the environment's chunks, then
//!   flips the state with a CAS, so a foreign pointer, an interior pointer
//!   or a second free of the same block is reported, never followed. The
//!   caller's most recent block is reused at once (the bump is rolled back).
//! * Handles are (slot, generation) pairs into a registry of environment
//!   slots that is never unmapped: a stale handle (environment disabled) or
//!   a made-up one is rejected with a status, without touching freed memory.
//!
//! Limits: a thread must not use an environment while another thread
//! disables it (the documented Enable/Disable pairing); a double free is
//! detected unless the block's memory was already reused.

mod blocks;
mod bump;
mod headed;
mod reset;

use super::os;
use crate::base::bits::{align_up, checked_round_up, is_multiple_of, mix64, round_up};
use crate::base::fault::{self, Fault};
use crate::base::sync::{AtomicU32, AtomicU64, AtomicUsize, Ordering, UnsafeCell, MODEL_CHECKING};
use crate::ds::stack::{AtomicStack, Linked};
use core::mem::size_of;
use core::ptr;

/// `RPC_STATUS`: success.
pub const RPC_S_OK: i32 = 0;
/// `RPC_STATUS`: out of memory (also `RPC_X_NO_MEMORY`).
pub const RPC_S_OUT_OF_MEMORY: i32 = 14;
/// `RPC_STATUS`: no environment, a stale or unknown handle, or a pointer
/// that is not a live block of the environment.
pub const RPC_S_INVALID_ARG: i32 = 87;

/// Bytes of a shared chunk (blocks above a quarter of it get a chunk each).
pub(crate) const CHUNK_BYTES: usize = 16 * 1024;
/// Block header: size, then the state word.
const HEADER: usize = 16;
const LIVE: usize = 0x4C49_5645; // "LIVE"
const FREED: usize = 0x4652_4545; // "FREE"

/// The header of a chunk, at its start.
#[repr(C)]
struct Chunk {
    next: UnsafeCell<*mut Chunk>,
    /// One past the chunk's last byte.
    end: UnsafeCell<usize>,
}

const CHUNK_HEADER: usize = round_up(size_of::<Chunk>(), 16);

impl Linked for Chunk {
    unsafe fn next(this: *mut Self) -> *mut Self {
        // SAFETY: a chunk on an environment's list, acquired by the caller.
        unsafe { (*this).next.with(|p| *p) }
    }

    unsafe fn set_next(this: *mut Self, next: *mut Self) {
        // SAFETY: the caller owns the chunk.
        unsafe { (*this).next.with_mut(|p| *p = next) }
    }
}

/// The block header.
#[repr(C)]
struct Header {
    size: usize,
    state: AtomicUsize,
}

const _: () = assert!(MODEL_CHECKING || size_of::<Header>() == HEADER);

/// One environment slot of the registry.
struct Env {
    /// Odd while an environment lives in the slot; bumped by enable and
    /// disable, so old handles stop matching.
    generation: AtomicU32,
    /// Link in the registry's free-slot list (index + 1, 0 = end).
    next_free: AtomicU32,
    /// The environment's secret, mixed into block state words.
    key: AtomicUsize,
    /// 1 while the environment belongs to a Rust `Environment` value, which
    /// alone may disable it (its collections borrow it; see
    /// [`Registry::disable`]).
    owned: AtomicU32,
    chunks: AtomicStack<Chunk>,
}

/// Where an environment's chunks come from and go back to: the
/// allocator's own heaps in the library (`global::rpcss`), fresh mappings
/// in the loom models ([`ChunkSource::MAPPINGS`]).
#[derive(Clone, Copy)]
pub(crate) struct ChunkSource {
    /// `bytes` bytes aligned to 16, or null.
    pub(crate) alloc: fn(bytes: usize) -> *mut u8,
    /// Gives back a chunk `alloc(bytes)` returned, which nothing uses again.
    pub(crate) free: unsafe fn(p: *mut u8, bytes: usize),
}

impl ChunkSource {
    /// Chunks mapped from the OS one by one.
    #[allow(dead_code)] // the loom models' only
    pub(crate) const MAPPINGS: ChunkSource = ChunkSource {
        alloc: |bytes| os::map(round_up(bytes, os::OS_PAGE)),
        free: unmap_chunk,
    };
}

/// [`ChunkSource::MAPPINGS`]' free.
///
/// # Safety
/// `p` is a chunk of `bytes` bytes that `MAPPINGS.alloc` returned, unused.
unsafe fn unmap_chunk(p: *mut u8, bytes: usize) {
    // SAFETY: caller's contract.
    unsafe { os::unmap(p, round_up(bytes, os::OS_PAGE)) }
}

/// Environment slots: a fixed table mapped once and never unmapped, a
/// tagged lock-free free list (the tag defeats ABA) and a bump index.
pub(crate) struct Registry {
    slots: *mut Env,
    chunks: ChunkSource,
    capacity: u32,
    /// (tag << 32) | (index + 1) of the first free slot, 0 = empty.
    free_head: AtomicU64,
    next_unused: AtomicU32,
    /// Mixed with each environment's handle into its key.
    seed: u64,
}

// SAFETY: all shared state is atomic; the slot table is never unmapped.
unsafe impl Sync for Registry {}
// SAFETY: as above.
unsafe impl Send for Registry {}

/// A thread's attachment to an environment: the handle and the chunk it
/// bumps blocks out of. Thread-local in the library (see `ffi`).
#[derive(Clone, Copy)]
pub(crate) struct Cursor {
    pub(crate) handle: u64,
    /// The slot `handle` names, once looked up (null until then): slots are
    /// never unmapped, so the next check is one load of its generation.
    env: *const Env,
    chunk: *mut Chunk,
    pos: usize,
    end: usize,
}

impl Cursor {
    pub(crate) const DETACHED: Cursor = Cursor::new(0);

    /// A cursor into the environment `handle` (0: none) with no chunk yet.
    pub(crate) const fn new(handle: u64) -> Cursor {
        Cursor {
            handle,
            env: ptr::null(),
            chunk: ptr::null_mut(),
            pos: 0,
            end: 0,
        }
    }
}

impl Registry {
    /// A registry of `capacity` slots, mapped now, whose environments take
    /// their chunks from `chunks`. None if the OS refuses.
    pub(crate) fn new(capacity: u32, chunks: ChunkSource) -> Option<Registry> {
        let bytes = round_up(capacity as usize * size_of::<Env>(), os::OS_PAGE);
        let slots = os::map(bytes).cast::<Env>();
        if slots.is_null() {
            return None;
        }
        // Fresh mappings are zero, which is an empty slot for the standard
        // atomics; loom's must be constructed.
        if MODEL_CHECKING {
            for i in 0..capacity as usize {
                // SAFETY: `slots` maps `capacity` Envs; each is written once here.
                unsafe {
                    slots.add(i).write(Env {
                        generation: AtomicU32::new(0),
                        next_free: AtomicU32::new(0),
                        key: AtomicUsize::new(0),
                        owned: AtomicU32::new(0),
                        chunks: AtomicStack::new(),
                    })
                };
            }
        }
        Some(Registry {
            slots,
            chunks,
            capacity,
            free_head: AtomicU64::new(0),
            next_unused: AtomicU32::new(0),
            seed: mix64(slots as u64 ^ (os::now_ms() << 40)),
        })
    }

    fn slot(&self, i: u32) -> &Env {
        debug_assert!(i < self.capacity);
        // SAFETY: slots below capacity are initialised and never unmapped.
        unsafe { &*self.slots.add(i as usize) }
    }

    fn acquire_slot(&self) -> Option<u32> {
        let mut head = self.free_head.load(Ordering::Acquire);
        while head as u32 != 0 {
            let i = head as u32 - 1;
            let next = self.slot(i).next_free.load(Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | next as u64;
            match self
                .free_head
                .compare_exchange_weak(head, new, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(i),
                Err(h) => head = h,
            }
        }
        let i = self.next_unused.fetch_add(1, Ordering::Relaxed);
        if i < self.capacity {
            Some(i)
        } else {
            self.next_unused.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }

    fn release_slot(&self, i: u32) {
        let mut head = self.free_head.load(Ordering::Relaxed);
        loop {
            self.slot(i).next_free.store(head as u32, Ordering::Relaxed);
            let new = ((head >> 32).wrapping_add(1) << 32) | (i as u64 + 1);
            match self
                .free_head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// `cur`'s environment if it is live: through the slot the cursor
    /// remembers (one load), else looked up and remembered.
    #[inline]
    fn cursor_env(&self, cur: &mut Cursor) -> Option<&Env> {
        if !cur.env.is_null() {
            // SAFETY: a slot of this registry (looked up from `cur.handle`
            // before), and slots are never unmapped.
            let env = unsafe { &*cur.env };
            return (env.generation.load(Ordering::Acquire) == cur.handle as u32).then_some(env);
        }
        let env = self.lookup(cur.handle)?;
        cur.env = env;
        Some(env)
    }

    /// The live environment `handle` names, if any.
    fn lookup(&self, handle: u64) -> Option<&Env> {
        let index = (handle >> 32) as u32;
        let generation = handle as u32;
        if index == 0 || index > self.capacity || generation & 1 == 0 {
            return None;
        }
        let env = self.slot(index - 1);
        (env.generation.load(Ordering::Acquire) == generation).then_some(env)
    }

    /// Disables the environment `handle` from any thread, as its owner (the
    /// Rust API's drop): cursors attached to it just stop matching. The
    /// spares as for [`Registry::disable`].
    pub(crate) fn disable_handle(&self, handle: u64, spare: &mut u32, spare_chunk: Option<&mut *mut u8>) -> i32 {
        self.disable_as(handle, true, spare, spare_chunk)
    }

    /// Creates an environment and attaches `cur` to it; an `owned` one can
    /// be disabled only through [`Registry::disable_handle`]. `spare` is
    /// the calling thread's spare slot (index + 1, 0 for none), which a
    /// disable left it rather than give the slot back to the shared list:
    /// a thread that enables and disables in turn takes no
    /// read-modify-write on the list.
    ///
    /// `first`, if not null, is a chunk of `CHUNK_BYTES` from the chunk
    /// source (the thread's spare) that becomes the environment's first,
    /// with `cur` bumping out of it: installed before the environment is
    /// published, it takes no read-modify-write either.
    pub(crate) fn enable(&self, cur: &mut Cursor, owned: bool, spare: &mut u32, first: *mut u8) -> i32 {
        let i = if *spare != 0 {
            core::mem::replace(spare, 0) - 1
        } else {
            match self.acquire_slot() {
                Some(i) => i,
                None => return RPC_S_OUT_OF_MEMORY,
            }
        };
        let env = self.slot(i);
        // The slot is ours alone until the generation is published: a load
        // and a store, no read-modify-write.
        let generation = env.generation.load(Ordering::Relaxed).wrapping_add(1);
        let handle = ((i as u64 + 1) << 32) | generation as u64;
        env.owned.store(owned as u32, Ordering::Relaxed);
        let chunk = first.cast::<Chunk>();
        if !chunk.is_null() {
            // SAFETY: a chunk of CHUNK_BYTES the caller gives us, ours.
            unsafe {
                chunk.write(Chunk {
                    next: UnsafeCell::new(ptr::null_mut()),
                    end: UnsafeCell::new(first as usize + CHUNK_BYTES),
                })
            };
        }
        // SAFETY: the slot is ours until published (above), its list empty
        // (disable emptied it); the chunk is ours, its header written.
        unsafe { self.publish(env, handle, cur, chunk) };
        RPC_S_OK
    }

    /// Makes the slot `env` the live environment `handle` (an odd
    /// generation), with `cur` attached and bumping out of `first` if it is
    /// not null: the key, the cursor and the first chunk set up, then the
    /// generation published (Release), so nobody sees the environment
    /// before they are.
    ///
    /// # Safety
    /// Nobody else can reach the slot until the generation is published,
    /// and its chunk list is empty; `first` is null or a chunk of
    /// `CHUNK_BYTES` from the chunk source, the caller's, its header
    /// written.
    #[inline(always)]
    unsafe fn publish(&self, env: &Env, handle: u64, cur: &mut Cursor, first: *mut Chunk) {
        env.key.store(mix64(self.seed ^ handle) as usize, Ordering::Relaxed);
        *cur = Cursor::new(handle);
        cur.env = env;
        if !first.is_null() {
            // SAFETY: the caller's contract.
            unsafe { env.chunks.set_unshared(first) };
            cur.chunk = first;
            cur.pos = first as usize + CHUNK_HEADER;
            cur.end = first as usize + CHUNK_BYTES;
        }
        debug_assert!(handle & 1 == 1);
        env.generation.store(handle as u32, Ordering::Release);
    }

    /// Frees the chunks from `chunk` on (a chain taken from a dead
    /// environment's list), but for the first of `CHUNK_BYTES` if
    /// `keep_one`, which it returns (null if none is kept).
    ///
    /// # Safety
    /// The chain is the caller's: nothing else uses its chunks any more.
    unsafe fn free_chunks(&self, mut chunk: *mut Chunk, keep_one: bool) -> *mut Chunk {
        let mut keep: *mut Chunk = ptr::null_mut();
        while !chunk.is_null() {
            // SAFETY: the caller's contract, so each is kept or freed once.
            unsafe {
                let next = Chunk::next(chunk);
                let bytes = (*chunk).end.with(|e| *e) - chunk as usize;
                if keep_one && keep.is_null() && bytes == CHUNK_BYTES {
                    keep = chunk;
                } else {
                    (self.chunks.free)(chunk.cast(), bytes);
                }
                chunk = next;
            }
        }
        keep
    }

    /// Releases every block of `cur`'s environment at once and detaches.
    /// An environment a Rust `Environment` owns is refused (and `cur` stays
    /// attached): collections may still hold its blocks, and only dropping
    /// the owner, which outlives them, may end it.
    ///
    /// `spare` is the calling thread's spare slot (see
    /// [`Registry::enable`]); `spare_chunk`, if given and null, receives a
    /// chunk of `CHUNK_BYTES` of the environment instead of its going back
    /// to the chunk source, for the thread's next enable to take.
    pub(crate) fn disable(&self, cur: &mut Cursor, spare: &mut u32, spare_chunk: Option<&mut *mut u8>) -> i32 {
        let handle = cur.handle;
        let status = self.disable_as(handle, false, spare, spare_chunk);
        if status != RPC_S_INVALID_ARG || self.lookup(handle).is_none() {
            *cur = Cursor::DETACHED;
        }
        status
    }

    /// Disables `handle` (see [`Registry::disable`]); its slot becomes the
    /// thread's `spare` if it has none, else goes back to the shared list,
    /// unless its generation is the last before the wrap; a chunk goes to
    /// an empty `spare_chunk`.
    fn disable_as(&self, handle: u64, owner: bool, spare: &mut u32, spare_chunk: Option<&mut *mut u8>) -> i32 {
        let env = match self.lookup(handle) {
            Some(env) => env,
            None => return RPC_S_INVALID_ARG,
        };
        if !owner && env.owned.load(Ordering::Relaxed) != 0 {
            return RPC_S_INVALID_ARG;
        }
        // Only one disable can win; a second (or a stale handle) fails.
        if env
            .generation
            .compare_exchange(
                handle as u32,
                (handle as u32).wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return RPC_S_INVALID_ARG;
        }
        // The winner of the generation is the environment's last user (no
        // thread may allocate in it while it is disabled): nothing pushes.
        let chunks = env.chunks.take_all_unshared();
        let keep_one = matches!(spare_chunk, Some(ref c) if c.is_null());
        // SAFETY: the chunks were acquired by take_all; nothing uses them
        // any more (the environment is gone).
        let kept = unsafe { self.free_chunks(chunks, keep_one) };
        if let Some(c) = spare_chunk.filter(|_| keep_one) {
            *c = kept.cast();
        }
        let i = (handle >> 32) as u32 - 1;
        if handle as u32 == u32::MAX {
            // Its next generation would wrap to one a stale cursor may
            // still hold: the slot is retired, one per 2^31 environments.
        } else if *spare == 0 {
            *spare = i + 1;
        } else {
            self.release_slot(i);
        }
        RPC_S_OK
    }

    /// Gives a thread's spare slot back to the shared list (at its exit).
    pub(crate) fn release_spare(&self, spare: &mut u32) {
        if *spare != 0 {
            self.release_slot(core::mem::replace(spare, 0) - 1);
        }
    }

    /// Attaches `cur` to the environment `handle` (0 detaches).
    pub(crate) fn set_thread_handle(&self, cur: &mut Cursor, handle: u64) -> i32 {
        if handle == 0 {
            *cur = Cursor::DETACHED;
            return RPC_S_OK;
        }
        if self.lookup(handle).is_none() {
            return RPC_S_INVALID_ARG;
        }
        if cur.handle != handle {
            *cur = Cursor::new(handle);
        }
        RPC_S_OK
    }

    /// The handle of `cur`'s environment, 0 if it has none (or it ended).
    pub(crate) fn thread_handle(&self, cur: &Cursor) -> u64 {
        if self.lookup(cur.handle).is_some() {
            cur.handle
        } else {
            0
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let bytes = round_up(self.capacity as usize * size_of::<Env>(), os::OS_PAGE);
        // SAFETY: the table was mapped by `new` and nothing refers to it once
        // the registry is gone (the library's registry is a static).
        unsafe { os::unmap(self.slots.cast(), bytes) };
    }
}
