//! The checks every free makes in the default build before a block goes
//! back on a list (see docs/HARDENING.md): the pointer lies in a segment of
//! ours (`segment_map`), a block in use starts there (`Page::is_block_start`),
//! and the block is not free already: its first word does not read as a
//! free-list link (`Page::looks_free`: a block handed out starts with 0),
//! or when it does, the owner finds it on no list of its page, and another
//! thread finds the link implausible. A large object's live flag is ended
//! by one swap. The fast path pays for the first three with a few
//! instructions; everything here is off it.
//!
//! A failed check stops the process with a message (`report`): the program
//! has freed memory it does not own, and whatever it does next with the
//! heap is undefined.

use super::*;
use crate::ds::report;

pub(crate) use crate::mem::block::FREE_CHECKS;

impl Heap {
    /// Checks a free of `p` by the owner of its page `page`, whose
    /// descriptor slot `p` maps to (so `p` lies in the page's first 64 KiB).
    ///
    /// # Safety
    /// The caller's thread owns `page`.
    #[cold]
    pub(super) unsafe fn check_owned_free(page: *mut Page, p: *const u8) {
        // SAFETY: owner-only reads of the caller's page.
        unsafe {
            if !(*page).is_block_start(p) {
                not_a_block_start(page, p);
            }
            // (A first word that merely shares the key's top bits skips the
            // walk.)
            if (*page).looks_free(p) && (*page).link_is_plausible(p) && (*page).holds_free(p) {
                report::double_free(p, "the block is on a free list of its page");
            }
        }
    }

    /// Checks a free of `p` by a thread that does not own its page `page`,
    /// whose descriptor slot `p` maps to.
    ///
    /// # Safety
    /// `page` is a descriptor of a live segment.
    #[cold]
    pub(super) unsafe fn check_remote_free(page: *mut Page, p: *const u8) {
        // SAFETY: shared reads of the descriptor (see `Page::is_block_start`)
        // and of the block `p` once it is known to be one.
        unsafe {
            if !(*page).is_block_start(p) {
                no_block_starts_there(p);
            }
            if (*page).looks_free(p) && (*page).link_is_plausible(p) {
                report::double_free(p, "the block holds a free-list link of its page (it is free already)");
            }
        }
    }

    /// Checks a free of `p`, in the small or medium segment `seg` whose
    /// page `page` holds it, where its descriptor slot has no owner: a
    /// later slice of a medium page, or a segment no heap owns. `owned`:
    /// the caller's heap owns the segment.
    ///
    /// # Safety
    /// `seg` is live; if `owned`, the caller's thread owns it.
    #[cold]
    pub(super) unsafe fn check_segment_free(seg: *mut Segment, page: *mut Page, p: *const u8, owned: bool) {
        // SAFETY: as for the two checks above.
        unsafe {
            if !(*page).is_block_start_far(p, 1 << (*seg).page_shift) {
                no_block_starts_there(p);
            }
            let free = (*page).looks_free(p) && (*page).link_is_plausible(p) && (!owned || (*page).holds_free(p));
            if free {
                report::double_free(p, "the block is free already");
            }
        }
    }

    /// Checks a free of `p` in the large object `seg`, ending its life.
    ///
    /// # Safety
    /// `seg` is a mapped large segment.
    #[cold]
    pub(super) unsafe fn check_large_free(seg: *mut Segment, p: *const u8) {
        // SAFETY: forwarded.
        unsafe { Heap::check_large(seg, p, true) }
    }

    /// Checks that `p` is the large object `seg`, live; `end`: ends its
    /// life (one swap, so of two frees racing only one passes).
    ///
    /// # Safety
    /// `seg` is a mapped large segment.
    #[cold]
    unsafe fn check_large(seg: *mut Segment, p: *const u8, end: bool) {
        // SAFETY: the header is readable (the segment map holds it).
        unsafe {
            let start = Segment::large_start(seg);
            if !ptr::eq(p, start) {
                report::invalid_free(
                    p,
                    format_args!(
                        "{} bytes into the large block at {start:p}",
                        (p as usize).wrapping_sub(start as usize)
                    ),
                );
            }
            let live = if end {
                (*seg).end_large()
            } else {
                (*seg).large_is_live()
            };
            if !live {
                report::double_free(p, "the large block was freed already");
            }
        }
    }

    /// Checks that `p` is a block in use, as a free would, without freeing
    /// it (`realloc`): stops the process if it is not.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap.
    pub(crate) unsafe fn check_in_use(heap: *mut Heap, p: *const u8) {
        if !FREE_CHECKS {
            return;
        }
        if !segment_map::contains(p) {
            report::foreign_free(p);
        }
        let slot = slot_of(p);
        // SAFETY: `p` lies in a live segment (the map holds it); the checks
        // read as a free's would.
        unsafe {
            if (*slot).is_owned_by(Heap::owner_id(heap)) {
                Heap::check_owned_free(slot, p);
            } else if !(*slot).owner().is_null() {
                Heap::check_remote_free(slot, p);
            } else {
                let seg = segment_of(p);
                if (*seg).kind == SegmentKind::Large {
                    Heap::check_large(seg, p, false);
                } else {
                    let owned = (*seg).owner() == Heap::owner_id(heap);
                    Heap::check_segment_free(seg, Segment::page_of(seg, p), p, owned);
                }
            }
        }
    }
}

/// Reports a free by the owner of `page` of `p`, which is not a block start
/// of it, saying where `p` lies.
///
/// # Safety
/// The caller's thread owns `page`.
#[cold]
unsafe fn not_a_block_start(page: *mut Page, p: *const u8) -> ! {
    // SAFETY: owner-only reads.
    let (in_use, bs, reserved, start) =
        unsafe { (*page).local(|l| (l.in_use, l.block_size as usize, l.reserved as usize, (*page).start)) };
    let off = (p as usize).wrapping_sub(start as usize);
    if !in_use {
        report::invalid_free(
            p,
            format_args!("no block of its page is in use (the block was freed already and its page emptied)"),
        );
    }
    if off >= reserved * bs {
        report::invalid_free(p, format_args!("past the last {bs}-byte block of its page"));
    }
    report::invalid_free(
        p,
        format_args!(
            "{} bytes into the {bs}-byte block at {:p}",
            off % bs,
            start.wrapping_add(off / bs * bs)
        ),
    )
}

/// Reports a free of `p` where no block of its page starts (the page's
/// geometry seen from a thread that may not own it).
#[cold]
fn no_block_starts_there(p: *const u8) -> ! {
    report::invalid_free(
        p,
        format_args!("no block in use starts there (a pointer inside a block, or into a page with none)"),
    )
}
