//! The `Allocator` front end's blocks of an environment: no header (the
//! caller gives the size back), any power-of-two alignment, the latest
//! block taken back or resized in place; nothing is read at a block's
//! address.

use super::*;

impl Registry {
    /// A block of `size` bytes (rounded up to 16) aligned to `align` (a power
    /// of two), without a header: the `Allocator` front end's, whose caller
    /// gives the size back and frees only through
    /// [`Registry::release_block`]. Not for [`Registry::free`].
    ///
    /// # Safety
    /// `cur`'s environment is live and stays so during the call (its owner
    /// holds it), so the fast path need not look it up.
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    #[inline(always)]
    pub(crate) unsafe fn allocate_block(&self, cur: &mut Cursor, size: usize, align: usize) -> Result<*mut u8, i32> {
        // SAFETY: the caller's contract.
        match unsafe { Self::bump_block(cur, size, align) } {
            Some(p) => Ok(p),
            None => self.allocate_block_slow(cur, size, align.max(16)),
        }
    }

    /// [`Registry::allocate_block`]'s fast path, which needs no registry:
    /// the block from `cur`'s chunk if it has the room.
    ///
    /// # Safety
    /// As for [`Registry::allocate_block`].
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    #[inline(always)]
    pub(crate) unsafe fn bump_block(cur: &mut Cursor, size: usize, align: usize) -> Option<*mut u8> {
        let align = align.max(16);
        if size <= CHUNK_BYTES && align <= CHUNK_BYTES {
            Self::bump_fast(cur, align_up(size.max(1), 16), align).map(|p| p as *mut u8)
        } else {
            None
        }
    }

    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    #[inline(never)]
    fn allocate_block_slow(&self, cur: &mut Cursor, size: usize, align: usize) -> Result<*mut u8, i32> {
        let env = match self.cursor_env(cur) {
            Some(env) => env,
            None => return Err(RPC_S_INVALID_ARG),
        };
        let need = match checked_round_up(size.max(1), 16) {
            Some(need) => need,
            None => return Err(RPC_S_OUT_OF_MEMORY),
        };
        match Self::bump_fast(cur, need, align) {
            Some(p) => Ok(p as *mut u8),
            None => self.bump_chunk(env, cur, need, align).map(|p| p as *mut u8),
        }
    }

    /// Gives back a block of `size` bytes from [`Registry::allocate_block`]
    /// at once if it is `cur`'s latest (else it goes at disable). Only
    /// compares addresses: nothing is read at `p`.
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    pub(crate) fn release_block(&self, cur: &mut Cursor, p: *mut u8, size: usize) {
        let (addr, need) = (p as usize, align_up(size.max(1), 16));
        if !cur.chunk.is_null() && addr >= cur.chunk as usize + CHUNK_HEADER && addr + need == cur.pos {
            cur.pos = addr;
        }
    }

    /// Resizes `cur`'s latest block (from [`Registry::allocate_block`]) in
    /// place to `new_size` bytes if it is the latest and the chunk has the
    /// room; false leaves it as it was.
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    pub(crate) fn resize_block(&self, cur: &mut Cursor, p: *mut u8, old_size: usize, new_size: usize) -> bool {
        let addr = p as usize;
        let (old, new) = match (
            checked_round_up(old_size.max(1), 16),
            checked_round_up(new_size.max(1), 16),
        ) {
            (Some(old), Some(new)) => (old, new),
            _ => return false,
        };
        if cur.chunk.is_null() || addr < cur.chunk as usize + CHUNK_HEADER || addr + old != cur.pos {
            return false;
        }
        if cur.end - addr < new {
            return false;
        }
        cur.pos = addr + new;
        true
    }
}
