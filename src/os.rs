//! OS memory: anonymous mappings, aligned reservations, returning memory.
//!
//! Allocator metadata and blocks both come from here, never from the
//! allocator itself. Every function reports failure as a null pointer.

use crate::stats;
use core::ptr;

/// The OS page size assumed for rounding (checked against `sysconf` in tests).
pub(crate) const OS_PAGE: usize = 4096;

/// Maps `len` bytes of fresh, zeroed, read-write memory. Null on failure.
pub(crate) fn map(len: usize) -> *mut u8 {
    if len == 0 || len > isize::MAX as usize {
        return ptr::null_mut();
    }
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing cannot alias anything this process uses.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    stats::OS_MAPPED.add(len);
    p.cast()
}

/// Maps `len` bytes aligned to `align` (a power of two, multiple of
/// [`OS_PAGE`]). Null on failure.
pub(crate) fn map_aligned(len: usize, align: usize) -> *mut u8 {
    debug_assert!(align.is_power_of_two() && align >= OS_PAGE && len.is_multiple_of(OS_PAGE));
    // Most of the time the kernel hands out the address just below the last
    // mapping; try the plain size first and only over-reserve when it is
    // misaligned.
    let p = map(len);
    if p.is_null() || (p as usize) & (align - 1) == 0 {
        return p;
    }
    // SAFETY: `p` is the mapping of `len` bytes made just above.
    unsafe { unmap(p, len) };
    let Some(over) = len.checked_add(align - OS_PAGE) else {
        return ptr::null_mut();
    };
    let raw = map(over);
    if raw.is_null() {
        return raw;
    }
    let start = (raw as usize + align - 1) & !(align - 1);
    let head = start - raw as usize;
    let tail = over - head - len;
    // SAFETY: [raw, raw+head) and [start+len, raw+over) are the unused ends
    // of the mapping made just above; nothing refers to them.
    unsafe {
        if head > 0 {
            unmap(raw, head);
        }
        if tail > 0 {
            unmap((start + len) as *mut u8, tail);
        }
    }
    start as *mut u8
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
#[cfg(not(loom))]
pub(crate) unsafe fn advise_huge_pages(p: *mut u8, len: usize) {
    // SAFETY: advice on the caller's mapping; it changes no contents.
    let _ = unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) };
}

/// Unmaps `[p, p+len)`.
///
/// # Safety
/// The range was mapped by this module and nothing will touch it again.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and gives it up.
    let r = unsafe { libc::munmap(p.cast(), len) };
    debug_assert_eq!(r, 0, "munmap failed");
    if r == 0 {
        stats::OS_MAPPED.sub(len);
    }
}

/// Gives the physical memory behind `[p, p+len)` back to the OS; the range
/// stays mapped and reads as zero afterwards.
///
/// # Safety
/// The range is mapped by this module and holds no live data.
pub(crate) unsafe fn purge(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees nothing in the range is live; for a
    // private anonymous mapping MADV_DONTNEED just drops the pages.
    let r = unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) };
    if r == 0 {
        stats::OS_PURGED.add(len);
    }
}

/// A coarse monotonic clock in milliseconds (a vDSO call, no system call).
/// Under loom it stands still at 0, so models are deterministic and no
/// timed purge ever runs inside one.
#[cfg(loom)]
pub(crate) fn now_ms() -> u64 {
    0
}

/// A coarse monotonic clock in milliseconds (a vDSO call, no system call).
#[cfg(not(loom))]
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC_COARSE always
    // exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_matches_the_os() {
        // SAFETY: sysconf has no preconditions.
        assert_eq!(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize, OS_PAGE);
    }

    #[test]
    fn aligned_maps_are_aligned_and_zeroed() {
        for _ in 0..8 {
            let len = 4 << 20;
            let p = map_aligned(len, len);
            assert!(!p.is_null());
            assert_eq!(p as usize % len, 0);
            // SAFETY: p maps len bytes.
            unsafe {
                assert_eq!(*p, 0);
                assert_eq!(*p.add(len - 1), 0);
                *p.add(len - 1) = 7;
                purge(p, len);
                assert_eq!(*p.add(len - 1), 0);
                unmap(p, len);
            }
        }
    }

    #[test]
    fn impossible_maps_fail_cleanly() {
        assert!(map(usize::MAX).is_null());
        assert!(map(1 << 60).is_null());
        assert!(map_aligned(1 << 60, 4 << 20).is_null());
    }
}
