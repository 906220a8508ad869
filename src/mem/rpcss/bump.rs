//! Bumping blocks out of an environment's chunks: the inlined fast path
//! within a thread's current chunk and the slow path that adds a chunk.

use super::*;

impl Registry {
    /// `need` bytes (a multiple of 16) at an address aligned to `align` (a
    /// power of two, at least 16) from `cur`'s chunk, if it has the room:
    /// the fast path, inlined, with no check of the environment (the
    /// callers make sure `cur`'s is live).
    #[inline(always)]
    pub(super) fn bump_fast(cur: &mut Cursor, need: usize, align: usize) -> Option<usize> {
        // `pos <= end`, both inside the chunk, and `align <= CHUNK_BYTES`
        // (or all 0 with no chunk, where the padding makes `p > end`): no
        // overflow. `pos` is always a multiple of 16 (chunks start so, and
        // every `need` is one), so the usual alignment needs no padding.
        debug_assert!(is_multiple_of(cur.pos, 16));
        if align <= 16 {
            let p = cur.pos;
            if cur.end - p >= need {
                cur.pos = p + need;
                return Some(p);
            }
            return None;
        }
        let p = align_up(cur.pos, align);
        if p <= cur.end && cur.end - p >= need {
            cur.pos = p + need;
            Some(p)
        } else {
            None
        }
    }

    /// [`Registry::bump_fast`]'s slow path: a new shared chunk, or (above a
    /// quarter of a chunk) a chunk of the block's own, for `env`.
    #[inline(never)]
    pub(super) fn bump_chunk(&self, env: &Env, cur: &mut Cursor, need: usize, align: usize) -> Result<usize, i32> {
        let dedicated = need > CHUNK_BYTES / 4 || align > CHUNK_BYTES / 4;
        let bytes = if dedicated {
            need.checked_add(CHUNK_HEADER + align - 16)
        } else {
            Some(CHUNK_BYTES)
        };
        let bytes = match bytes {
            Some(bytes) if bytes <= isize::MAX as usize => bytes,
            _ => return Err(RPC_S_OUT_OF_MEMORY),
        };
        let mem = (self.chunks.alloc)(bytes);
        if mem.is_null() {
            return Err(RPC_S_OUT_OF_MEMORY);
        }
        let chunk = mem.cast::<Chunk>();
        // SAFETY: a fresh chunk of `bytes` bytes, ours until pushed.
        unsafe {
            chunk.write(Chunk {
                next: UnsafeCell::new(ptr::null_mut()),
                end: UnsafeCell::new(mem as usize + bytes),
            });
            env.chunks.push(chunk);
        }
        // In a shared chunk `align <= CHUNK_BYTES / 4` and `need` fits after
        // the padding; a dedicated one has room for the padding.
        let p = align_up(mem as usize + CHUNK_HEADER, align);
        if !dedicated {
            *cur = Cursor {
                handle: cur.handle,
                env,
                chunk,
                pos: p + need,
                end: mem as usize + bytes,
            };
        }
        Ok(p)
    }
}
