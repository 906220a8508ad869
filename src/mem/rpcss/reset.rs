//! Reusing an owned environment: every block ended at once, the slot and
//! one chunk kept, so a loop of calls that each fill one environment takes
//! no slot, no chunk and no read-modify-write per call (the Rust API's
//! `Environment::reset`).

use super::*;

impl Registry {
    /// Ends every block of the owned environment `handle` and starts it
    /// again in the same slot under a new handle, which it returns: the
    /// disable and enable of [`Registry::disable_handle`] and
    /// [`Registry::enable`] without giving the slot back or taking one,
    /// and keeping one shared-size chunk (`cur`'s if it has one), into
    /// which `cur` (the caller's cursor into `handle`, or any other, made
    /// afresh) bumps. Only the owner calls it, so the generation is stored, not
    /// swapped: nothing else may change an owned environment's generation
    /// (`disable_as` refuses non-owners), and, as for disable, no thread
    /// may use the environment meanwhile.
    ///
    /// A slot whose generation would wrap is retired instead (see
    /// [`Registry::disable_as`]) and the environment starts again in
    /// another: a handle is never reused.
    #[inline]
    pub(crate) fn reset_owned(&self, handle: u64, cur: &mut Cursor) -> Result<u64, i32> {
        let env = if cur.handle == handle {
            self.cursor_env(cur)
        } else {
            self.lookup(handle)
        };
        let env = match env {
            Some(env) if env.owned.load(Ordering::Relaxed) != 0 => env,
            _ => return Err(RPC_S_INVALID_ARG),
        };
        if handle as u32 == u32::MAX {
            return self.reset_elsewhere(handle, cur);
        }
        let dead = (handle as u32).wrapping_add(1);
        // Dead first: the old handle (and any guess of the new one) is
        // rejected while the chunks change hands.
        env.generation.store(dead, Ordering::Relaxed);
        let chunk = env.chunks.take_all_unshared();
        // SAFETY: the list's chunks are ours now (taken above).
        let keep = if !chunk.is_null() && chunk == cur.chunk && unsafe { Chunk::next(chunk) }.is_null() {
            // The usual call: one chunk, the one `cur` bumps (shared-size,
            // as a cursor's always is), kept.
            chunk
        } else {
            // SAFETY: as above.
            unsafe { self.free_chunks(chunk, true) }
        };
        let new = (handle & !0xFFFF_FFFF) | dead.wrapping_add(1) as u64;
        // SAFETY: the slot is dead, so nobody else reaches it until it is
        // published, and its list empty (taken above); the kept chunk is
        // ours, its header still written.
        unsafe { self.publish(env, new, cur, keep) };
        Ok(new)
    }

    /// [`Registry::reset_owned`] of an environment whose slot's generation
    /// would wrap: the slot is retired and the environment starts again in
    /// another.
    #[cold]
    #[inline(never)]
    fn reset_elsewhere(&self, handle: u64, cur: &mut Cursor) -> Result<u64, i32> {
        let mut no_spare = 0;
        let status = self.disable_as(handle, true, &mut no_spare, None);
        debug_assert!(status == RPC_S_OK && no_spare == 0);
        match self.enable(cur, true, &mut no_spare, ptr::null_mut()) {
            RPC_S_OK => Ok(cur.handle),
            status => Err(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves the live environment `handle` to the generation `g` (odd),
    /// as if it had been reset that many times; returns its new handle.
    fn age(reg: &Registry, handle: u64, g: u32) -> u64 {
        let env = reg.lookup(handle).unwrap();
        env.generation.store(g, Ordering::Relaxed);
        (handle & !0xFFFF_FFFF) | g as u64
    }

    #[test]
    fn a_slot_whose_generation_would_wrap_is_retired_by_reset() {
        let reg = Registry::new(4, ChunkSource::MAPPINGS).unwrap();
        let (mut cur, mut spare) = (Cursor::DETACHED, 0);
        assert_eq!(reg.enable(&mut cur, true, &mut spare, ptr::null_mut()), RPC_S_OK);
        let h = age(&reg, cur.handle, u32::MAX - 2);
        let h = reg.reset_owned(h, &mut cur).unwrap();
        assert_eq!(h as u32, u32::MAX, "reset in place below the wrap");
        let moved = reg.reset_owned(h, &mut cur).unwrap();
        assert_ne!(moved >> 32, h >> 32, "the wrapping slot is left");
        assert!(reg.lookup(h).is_none());
        assert!(reg.lookup((h & !0xFFFF_FFFF) | 1).is_none());
        // The retired slot is never handed out again.
        for _ in 0..8 {
            let (mut c, mut s) = (Cursor::DETACHED, 0);
            assert_eq!(reg.enable(&mut c, false, &mut s, ptr::null_mut()), RPC_S_OK);
            assert_ne!(c.handle >> 32, h >> 32);
            assert_eq!(reg.disable(&mut c, &mut s, None), RPC_S_OK);
            reg.release_slot(s - 1);
        }
        assert_eq!(reg.disable_handle(moved, &mut spare, None), RPC_S_OK);
    }

    #[test]
    fn a_slot_whose_generation_would_wrap_is_retired_by_disable() {
        let reg = Registry::new(4, ChunkSource::MAPPINGS).unwrap();
        let (mut cur, mut spare) = (Cursor::DETACHED, 0);
        assert_eq!(reg.enable(&mut cur, false, &mut spare, ptr::null_mut()), RPC_S_OK);
        cur.handle = age(&reg, cur.handle, u32::MAX);
        let slot = cur.handle >> 32;
        assert_eq!(reg.disable(&mut cur, &mut spare, None), RPC_S_OK);
        assert_eq!(spare, 0, "not kept as the thread's spare");
        for _ in 0..8 {
            let (mut c, mut s) = (Cursor::DETACHED, 0);
            assert_eq!(reg.enable(&mut c, false, &mut s, ptr::null_mut()), RPC_S_OK);
            assert_ne!(c.handle >> 32, slot);
            assert_eq!(reg.disable(&mut c, &mut s, None), RPC_S_OK);
            reg.release_slot(s - 1);
        }
    }
}
