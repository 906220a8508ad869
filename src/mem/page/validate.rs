//! What a free checks about a pointer before it puts it on a list of the
//! page it lies in: that a block of the page in use starts there (the
//! page's [`Shape`]), and that the block is not free already (its first
//! word, then the lists themselves).

use super::Page;
use crate::base::bits::is_multiple_of;
use crate::base::sync::MODEL_CHECKING;
use crate::ds::counted_stack::ADDRESS_LIMIT;
use crate::ds::report;
use crate::ds::stack::Linked;
use crate::mem::block::Block;
use crate::mem::layout::{SEGMENT_SIZE, SMALL_PAGE_SHIFT};

// `Page::looks_free` tests a link's top 16 bits.
const _: () = assert!(ADDRESS_LIMIT == 1 << 48);

/// A page's block geometry in the form a free checks a pointer with: two
/// 32-bit words beside `key`, so the check reads the descriptor line the
/// free writes anyway, and costs a multiply and one compare.
///
/// For a block size `d` up to 2^16, with
///
/// ```text
/// magic = ceil(2^32 / d),   e = d * magic - 2^32   (0 <= e < d)
/// ```
///
/// an offset `n < 2^16` has `n * magic mod 2^32` equal to `(n / d) * e`
/// when `d` divides `n`, and at least `magic` when it does not (Lemire,
/// Kaser and Kurz, "Faster remainder by direct computation", 2019). So the
/// test `n * magic mod 2^32 < bound`, with `bound = reserved * e` (at most
/// `magic`, as `reserved * d` is at most 2^16), admits exactly the starts
/// of the first `reserved` blocks. For a power of two `d` that `magic`
/// would make `e` 0, so `magic` is one more (`2^32 / d + 1`) and `e = d`:
/// a multiple `n` maps to `n` itself, any other offset to at least `magic`,
/// above 2^16 (for `d` up to 2^15 the sum cannot wrap). Past 2^16 (medium
/// block sizes) only offset 0 of the slice is a multiple and the product
/// does not wrap. The bound is capped at `magic` throughout: the multiples
/// inside the slice all map below 2^16, under the cap. (Checked on every
/// offset and block size by the test below.)
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Shape {
    magic: u32,
    /// 0 while the page is not in use: no pointer passes.
    bound: u32,
}

impl Shape {
    pub(super) const NONE: Shape = Shape { magic: 0, bound: 0 };

    /// The shape of a page of `reserved` blocks of `block_size` bytes.
    pub(super) fn of(block_size: usize, reserved: usize) -> Shape {
        let d = block_size as u64;
        let mut magic = u64::from(u32::MAX) / d + 1;
        let mut e = (d * magic) & u64::from(u32::MAX);
        if e == 0 {
            // A power of two: one more, so that e = d (see above).
            magic += 1;
            e = d;
        }
        let bound = (reserved as u64 * e).min(magic);
        Shape {
            magic: magic as u32,
            bound: bound as u32,
        }
    }

    /// Whether a block starts at offset `off < 2^16` from the page start.
    #[inline(always)]
    fn admits(self, off: u32) -> bool {
        off.wrapping_mul(self.magic) < self.bound
    }

    /// Whether the page is in use.
    pub(super) fn in_use(self) -> bool {
        self.bound != 0
    }
}

/// The span of the page's memory a descriptor slot stands for (see
/// `segment::slot_of`): pages start at a multiple of it.
const SLICE_BYTES: usize = 1 << SMALL_PAGE_SHIFT;

impl Page {
    /// The page's shape (see `key` for who reads and writes it).
    #[inline(always)]
    pub(super) fn shape(&self) -> Shape {
        // SAFETY: as for `key`; `reset` also writes it, when no block of the
        // page is out.
        self.shape.with(|s| unsafe { *s })
    }

    /// Whether `p`, an address in the page's first 64 KiB (the span of its
    /// descriptor slot), is the start of one of its blocks: not inside one,
    /// not past the last, and the page in use. Any thread may ask while it
    /// holds a block of the page; the answer for a pointer that is not one
    /// is false, or (when the page is being set up or retired meanwhile)
    /// either.
    #[inline(always)]
    pub(crate) fn is_block_start(&self, p: *const u8) -> bool {
        self.shape().admits((p as usize & (SLICE_BYTES - 1)) as u32)
    }

    /// [`Page::is_block_start`] for an address anywhere in the page's
    /// `page_bytes` (a later slice of a medium page): the block size read
    /// from the owner's part, which changes only while no block of the page
    /// is out (as `alloc::usable_size` reads the class).
    ///
    /// # Safety
    /// `p` lies in the page's memory, of `page_bytes` bytes.
    #[cold]
    pub(crate) unsafe fn is_block_start_far(&self, p: *const u8, page_bytes: usize) -> bool {
        // SAFETY: a plain read of a field written only by `init` (see above).
        let bs = self.local.with(|l| unsafe { (*l).block_size }) as usize;
        let off = (p as usize).wrapping_sub(self.start as usize);
        self.shape().in_use() && bs != 0 && is_multiple_of(off, bs) && off + bs <= page_bytes
    }

    /// Whether the first word of `p`, a block start of this page, reads as
    /// a free-list link: `next ^ key` for a `next` below the address limit
    /// (null included). A block handed out starts with 0 (see
    /// [`Page::pop`]), which decodes to the key, so it does not, unless its
    /// user stored a value whose top 16 bits equal the key's (bit 63 set,
    /// bit 62 clear, 14 random): [`Page::holds_free`] or
    /// [`Page::link_is_plausible`] then decides. A block freed twice does.
    ///
    /// # Safety
    /// `p` is a block start of this page.
    ///
    /// The test is that the word's top 16 bits equal the key's, so only
    /// those two bytes are loaded: a free that follows a narrow store into
    /// the block's first bytes (a program that writes a byte, then frees)
    /// would otherwise wait for the store to retire, since a CPU cannot
    /// forward a small store to a wider load that overlaps it. (Measured
    /// with `cargo bench --bench compare -- pair_64`, which writes one byte
    /// between allocate and free: 5.6 ns a pair with the word loaded, 3.1
    /// ns with a word written instead of the byte.)
    #[inline(always)]
    pub(crate) unsafe fn looks_free(&self, p: *const u8) -> bool {
        if MODEL_CHECKING {
            // SAFETY: a block is at least a word, readable while its page
            // lives. (Through the cell, which the models track.)
            let word = unsafe { Block::next(p as *mut Block) } as usize;
            return (word ^ self.key()) < ADDRESS_LIMIT;
        }
        let top = if cfg!(target_endian = "little") { 6 } else { 0 };
        // SAFETY: as above; bytes `top..top + 2` of the (8-aligned) word
        // are its bits 48..63, 2-aligned.
        let high = unsafe { p.add(top).cast::<u16>().read() };
        high == (self.key() >> 48) as u16
    }

    /// Whether the first word of the block at `p` decodes to a link a free
    /// list of this page could hold (null, or a block start of the page),
    /// as it does for a block on one of them. For a block handed out, only
    /// a value derived from the page's secret key does (for a random value,
    /// a chance of about one in 2^45: 2^-16 that [`Page::looks_free`] lets
    /// it through, then one of at most 2^19 links out of 2^48).
    ///
    /// # Safety
    /// As for [`Page::looks_free`].
    #[cold]
    pub(crate) unsafe fn link_is_plausible(&self, p: *const u8) -> bool {
        // SAFETY: as above.
        let next = unsafe { Block::next_keyed(p as *mut Block, self.key()) };
        let off = (next as usize).wrapping_sub(self.start as usize);
        next.is_null()
            || if off < SLICE_BYTES {
                self.shape().admits(off as u32)
            } else {
                // A later slice of a medium page (whose block size the
                // shape does not carry to other threads): word-aligned and
                // inside a segment's span.
                off < SEGMENT_SIZE && is_multiple_of(off, 8)
            }
    }

    /// Whether the block at `p` is on one of the page's free lists (the
    /// owner's two, or the remote list as it stands), found by walking
    /// them; stops the process if a list is corrupt. The owner's check of
    /// a free that [`Page::looks_free`] flags.
    ///
    /// # Safety
    /// The caller's thread owns the page; `p` is a block start of it.
    #[cold]
    pub(crate) unsafe fn holds_free(&self, p: *const u8) -> bool {
        let target = p as *mut Block;
        // SAFETY: owner-only access (caller's contract). The remote chain
        // as read by `peek` (Acquire, pairing with the pushes' Release)
        // stays linked as it is until its owner, the caller, takes it.
        unsafe {
            self.local(|l| {
                let bound = l.reserved as usize + 1;
                for head in [l.free, l.local_free] {
                    let mut b = head;
                    let mut steps = 0;
                    while !b.is_null() {
                        if b == target {
                            return true;
                        }
                        steps += 1;
                        if steps > bound {
                            report::corrupt_free_list(b.cast(), Block::next(b) as usize);
                        }
                        b = self.checked_next(l, b);
                    }
                }
                let (mut b, n) = self.thread_free.peek();
                for _ in 0..n {
                    if b.is_null() {
                        break;
                    }
                    if b == target {
                        return true;
                    }
                    b = Block::next_keyed(b, self.key());
                }
                false
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ds::size_class::{block_size, NUM_CLASSES};

    /// The test agrees with `%` and the block count on every offset of a
    /// slice, for every block size, with the block counts of a 64 KiB page,
    /// of the medium pages, and a few more.
    #[test]
    fn shape_admits_exactly_the_block_starts() {
        let mut sizes: Vec<usize> = (0..NUM_CLASSES).map(block_size).collect();
        sizes.extend([65536 + 16, 1 << 17, 1 << 20, 3 << 19, 24576, 40960]);
        for bs in sizes {
            let mut counts = vec![SLICE_BYTES / bs, (SLICE_BYTES / bs).saturating_sub(1), 1];
            for page in [1usize << 19, 1 << 21, 1 << 22] {
                counts.push(page / bs);
            }
            for reserved in counts.into_iter().filter(|&r| r > 0) {
                let shape = Shape::of(bs, reserved);
                for off in 0..SLICE_BYTES {
                    let want = off % bs == 0 && off / bs < reserved;
                    assert_eq!(
                        shape.admits(off as u32),
                        want,
                        "block size {bs}, {reserved} blocks, offset {off}"
                    );
                }
            }
        }
        assert!(!Shape::NONE.admits(0));
        assert!(!Shape::NONE.in_use());
    }
}
