//! Fatal errors and text output that never allocate: messages are
//! formatted into a stack buffer and written to a file descriptor with
//! `write(2)`, so they work inside the allocator, with its locks and lists
//! in any state, and under an allocator override.

use crate::base::sync::MODEL_CHECKING;
use crate::pal;
use core::fmt::{self, Write};

/// A fixed stack buffer that `core::fmt` writes into (truncating), flushed
/// to a file descriptor when full or dropped.
pub(crate) struct FdWriter {
    fd: i32,
    buf: [u8; 512],
    len: usize,
}

impl FdWriter {
    pub(crate) const fn new(fd: i32) -> Self {
        FdWriter {
            fd,
            buf: [0; 512],
            len: 0,
        }
    }

    pub(crate) fn flush(&mut self) {
        let mut done = 0;
        while done < self.len {
            match pal::write(self.fd, &self.buf[done..self.len]) {
                Some(n) if n > 0 => done += n,
                _ => break,
            }
        }
        self.len = 0;
    }
}

impl Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(self.buf.len()) {
            if self.len + chunk.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

impl Drop for FdWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Writes `args` to standard error without allocating.
pub(crate) fn eprint(args: fmt::Arguments<'_>) {
    let mut w = FdWriter::new(2);
    let _ = w.write_fmt(args);
}

/// Reports a fatal misuse or corruption and stops the process: the
/// allocator's state can no longer be trusted, and going on would turn the
/// bug into silent memory corruption. Under loom it panics instead, so a
/// model can observe it.
#[cold]
#[inline(never)]
pub(crate) fn fatal(args: fmt::Arguments<'_>) -> ! {
    if MODEL_CHECKING {
        panic!("midl-alloc: {args}");
    }
    eprint(format_args!("midl-alloc: {args}\n"));
    pal::abort()
}

/// A free-list link that does not decode to a block of its own page: the
/// block at `block` was written to after it was freed (or freed twice and
/// overwritten), and following the link would hand out foreign memory.
#[cold]
#[inline(never)]
pub(crate) fn corrupt_free_list(block: *const u8, link: usize) -> ! {
    fatal(format_args!(
        "corrupted free list: free block {block:p} holds link word {link:#x}, which does not lead to a block of \
         its page (a block was written after it was freed, or freed twice)"
    ))
}

/// A free of `p`, which no live segment or large object of this allocator
/// holds: it never came from it (a stack, global or another allocator's
/// address), or its memory was given back since it was freed.
#[cold]
#[inline(never)]
pub(crate) fn foreign_free(p: *const u8) -> ! {
    fatal(format_args!(
        "invalid free of {p:p}: not a block of midl-alloc (no memory it manages holds that address: a pointer \
         to the stack, a global or another allocator's memory, or a block freed earlier whose memory went back \
         to the OS)"
    ))
}

/// A free of `p`, inside memory this allocator manages but not where one
/// of its blocks in use starts; `why` says what is there.
#[cold]
#[inline(never)]
pub(crate) fn invalid_free(p: *const u8, why: fmt::Arguments<'_>) -> ! {
    fatal(format_args!("invalid free of {p:p}: {why}"))
}

/// A second free of the block at `p` (found on a free list of its page, or
/// its large object already freed).
#[cold]
#[inline(never)]
pub(crate) fn double_free(p: *const u8, why: &str) -> ! {
    fatal(format_args!("double free of {p:p}: {why}"))
}
