//! OS memory as the allocator accounts for it: mappings, aligned
//! reservations, returning memory, each counted in the statistics, over
//! the platform layer's raw calls (`pal`). Allocator metadata and blocks
//! both come from here, never from the allocator itself. Every function
//! reports failure as a null pointer. (With the test-only feature
//! `os-faults`, `pal::refused` may fail a request before it is made.)

use crate::base::bits::is_multiple_of;
use crate::base::sync::MODEL_CHECKING;
use crate::ds::stats;
use crate::pal;
use core::ptr;

/// The OS page size assumed for rounding.
pub(crate) const OS_PAGE: usize = pal::PAGE_SIZE;

/// Maps `len` bytes of fresh, zeroed, read-write memory. Null on failure.
pub(crate) fn map(len: usize) -> *mut u8 {
    if len == 0 || len > isize::MAX as usize || pal::refused() {
        return ptr::null_mut();
    }
    let p = pal::map(len);
    if !p.is_null() {
        stats::OS_MAPPED.add(len);
    }
    p
}

/// Maps `len` bytes aligned to `align` (a power of two, multiple of
/// [`OS_PAGE`]). Null on failure.
pub(crate) fn map_aligned(len: usize, align: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two() && align >= OS_PAGE && is_multiple_of(len, OS_PAGE));
    if len == 0 || len > isize::MAX as usize || pal::refused() {
        return ptr::null_mut();
    }
    let p = pal::map_aligned(len, align);
    if !p.is_null() {
        stats::OS_MAPPED.add(len);
    }
    p
}

/// Asks the kernel to back `[p, p+len)` with transparent huge pages
/// (`MADV_HUGEPAGE`), for `MIDL_ALLOC_HUGE_PAGES=1`: a first touch then
/// faults in 2 MiB at once, so a heap's first pages of many size classes
/// cost a fault or two rather than one per 4 KiB, and the TLB covers more.
/// The price is memory: a 2 MiB range is resident as soon as one byte of
/// it is touched (measured on the benchmark's mixed-size churn: peak RSS
/// 225 MiB against 165 MiB without). Purges still give back 4 KiB pieces
/// (the kernel splits the huge page). A kernel without transparent huge
/// pages refuses the advice, which changes nothing.
///
/// # Safety
/// `[p, p+len)` is a mapping made by this module.
pub(crate) unsafe fn advise_huge_pages(p: *mut u8, len: usize) {
    // SAFETY: the caller's mapping.
    unsafe { pal::advise_huge_pages(p, len) }
}

/// Unmaps `[p, p+len)`.
///
/// # Safety
/// The range was mapped by this module and nothing will touch it again.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and gives it up.
    let ok = unsafe { pal::unmap(p, len) };
    debug_assert!(ok, "munmap failed");
    if ok {
        stats::OS_MAPPED.sub(len);
    }
}

/// Resizes the mapping `[p, p+old)` to `new` bytes where it is (see
/// `pal::remap_in_place`); false if it cannot grow there.
///
/// # Safety
/// The range was mapped by this module and is the caller's; when
/// shrinking, nothing touches `[p+new, p+old)` again.
pub(crate) unsafe fn remap_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    if new > old && pal::refused() {
        return false;
    }
    // SAFETY: forwarded.
    let ok = unsafe { pal::remap_in_place(p, old, new) };
    if ok {
        if new >= old {
            stats::OS_MAPPED.add(new - old);
        } else {
            stats::OS_MAPPED.sub(old - new);
        }
    }
    ok
}

/// Moves the pages of `[p, p+old)` onto `[to, to+new)`, a mapping of this
/// module that the moved pages replace (see `pal::remap_to`); false when
/// nothing moved.
///
/// # Safety
/// As for `pal::remap_to`, both ranges mapped by this module.
pub(crate) unsafe fn remap_to(p: *mut u8, old: usize, new: usize, to: *mut u8) -> bool {
    if pal::refused() {
        return false;
    }
    // SAFETY: forwarded.
    let ok = unsafe { pal::remap_to(p, old, new, to) };
    if ok {
        // The target was counted when it was mapped; the old range is gone.
        stats::OS_MAPPED.sub(old);
    }
    ok
}

/// Gives the physical memory behind `[p, p+len)` back to the OS; the range
/// stays mapped and reads as zero afterwards.
///
/// # Safety
/// The range is mapped by this module and holds no live data.
pub(crate) unsafe fn purge(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees nothing in the range is live.
    if unsafe { pal::decommit(p, len) } {
        stats::OS_PURGED.add(len);
    }
}

/// The allocator's clock: coarse, monotonic, in milliseconds (see
/// `pal::now_ms`). Under loom it stands still at 0, so models are
/// deterministic and no timed purge ever runs inside one.
#[inline]
pub(crate) fn now_ms() -> u64 {
    if MODEL_CHECKING {
        0
    } else {
        pal::now_ms()
    }
}

#[cfg(test)]
#[path = "os_tests.rs"]
mod tests;
