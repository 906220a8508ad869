//! The RpcSs calls' blocks: each with a header (its size and a keyed
//! state word) that lets an early free check its pointer; the fast path
//! that bumps through a thread's cursor without the registry, the slow
//! path, and the early free.

use super::*;

impl Registry {
    /// A block of `size` bytes from `cur`'s environment, with the header
    /// that lets [`Registry::free`] check it (the RpcSs calls; the library
    /// calls the two halves itself, see `global::rpcss::allocate_raw`).
    #[allow(dead_code)] // the loom models' only
    #[inline]
    pub(crate) fn allocate(&self, cur: &mut Cursor, size: usize) -> Result<*mut u8, i32> {
        // SAFETY: `cur` is borrowed uniquely for the call; a cursor's slot
        // can only be one of this registry's (the only one `cur` is used
        // with), and `self` is alive.
        match unsafe { Self::allocate_fast(cur, size) } {
            Some(p) => Ok(p),
            None => self.allocate_slow(cur, size),
        }
    }

    /// [`Registry::allocate`]'s fast path, which needs no registry: the
    /// block from `cur`'s chunk if the cursor knows its environment's slot,
    /// the environment is still live and the chunk has the room (None
    /// otherwise, for [`Registry::allocate_slow`]).
    ///
    /// # Safety
    /// `cur` points to a cursor that is either the calling thread's alone,
    /// not otherwise borrowed during the call, or knows no slot (`env`
    /// null: it is then only read). Its slot, if any, is one of a registry
    /// that is still alive.
    #[inline(always)]
    pub(crate) unsafe fn allocate_fast(cur: *mut Cursor, size: usize) -> Option<*mut u8> {
        // SAFETY: the caller's contract: a read of a cursor nobody writes
        // meanwhile.
        let env = unsafe { (*cur).env };
        if env.is_null() || size > CHUNK_BYTES {
            return None;
        }
        // SAFETY: a cursor that knows a slot is the thread's own (the
        // caller's contract), so this is the one reference to it.
        let cur = unsafe { &mut *cur };
        // SAFETY: the caller's contract; slots are never unmapped.
        let env = unsafe { &*env };
        if env.generation.load(Ordering::Acquire) != cur.handle as u32 {
            return None;
        }
        let need = align_up(size.max(1), 16) + HEADER;
        let p = Self::bump_fast(cur, need, 16)?;
        // SAFETY: [p, p+need) was just bumped from `cur`'s chunk of `env`.
        Some(unsafe { Self::stamp(env, p, need) })
    }

    /// [`Registry::allocate`] when its fast path cannot serve: the
    /// environment looked up, the size checked, a chunk added.
    #[inline(never)]
    pub(crate) fn allocate_slow(&self, cur: &mut Cursor, size: usize) -> Result<*mut u8, i32> {
        let env = match self.cursor_env(cur) {
            Some(env) => env,
            None => return Err(RPC_S_INVALID_ARG),
        };
        let need = match checked_round_up(size.max(1), 16).and_then(|n| n.checked_add(HEADER)) {
            Some(need) => need,
            None => return Err(RPC_S_OUT_OF_MEMORY),
        };
        let p = match Self::bump_fast(cur, need, 16) {
            Some(p) => p,
            None => self.bump_chunk(env, cur, need, 16)?,
        };
        // SAFETY: [p, p+need) was just bumped from a chunk of `env`.
        Ok(unsafe { Self::stamp(env, p, need) })
    }

    /// Writes the header of the block whose `need` bytes (header included)
    /// start at `p`, and returns the block.
    ///
    /// # Safety
    /// [p, p+need) is fresh space of a chunk of `env` that the calling
    /// thread alone bumped, `need >= HEADER`.
    #[inline(always)]
    unsafe fn stamp(env: &Env, p: usize, need: usize) -> *mut u8 {
        let key = env.key.load(Ordering::Relaxed);
        // SAFETY: the caller's contract: the header's bytes are ours.
        unsafe {
            (p as *mut Header).write(Header {
                size: need - HEADER,
                state: AtomicUsize::new(key ^ (p + HEADER) ^ LIVE),
            });
        }
        (p + HEADER) as *mut u8
    }

    /// Frees one block of `cur`'s environment before the environment ends.
    pub(crate) fn free(&self, cur: &mut Cursor, p: *mut u8) -> i32 {
        if p.is_null() {
            return RPC_S_OK;
        }
        let env = match self.cursor_env(cur) {
            Some(env) => env,
            None => return RPC_S_INVALID_ARG,
        };
        let addr = p as usize;
        if !is_multiple_of(addr, 16) {
            return RPC_S_INVALID_ARG;
        }
        // The pointer must lie in one of the environment's chunks before
        // anything is read at it. Chunks stay on the list until disable.
        let mut chunk = env.chunks.head();
        let mut found = ptr::null_mut();
        while !chunk.is_null() {
            // SAFETY: chunks on the list are live until disable, and their
            // fields were published by the Release push.
            let end = unsafe { (*chunk).end.with(|e| *e) };
            if addr >= chunk as usize + CHUNK_HEADER + HEADER && addr < end {
                found = chunk;
                break;
            }
            // SAFETY: as above.
            chunk = unsafe { Chunk::next(chunk) };
        }
        if found.is_null() {
            return RPC_S_INVALID_ARG;
        }
        let key = env.key.load(Ordering::Relaxed);
        // SAFETY: `addr - HEADER` lies inside the chunk (checked above); the
        // state word is read atomically whatever the bytes hold.
        let header = unsafe { &*((addr - HEADER) as *const Header) };
        let (live, freed) = (key ^ addr ^ LIVE, key ^ addr ^ FREED);
        let ok = if fault::injected(Fault::SsFreeLoadStore) {
            let seen = header.state.load(Ordering::Acquire) == live;
            if seen {
                header.state.store(freed, Ordering::Release);
            }
            seen
        } else {
            header
                .state
                .compare_exchange(live, freed, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        };
        if !ok {
            return RPC_S_INVALID_ARG;
        }
        // The caller's latest block: take the space back at once.
        if cur.chunk == found && addr + header.size == cur.pos {
            cur.pos = addr - HEADER;
        }
        RPC_S_OK
    }
}
