//! The C exports of the allocator proper, MIDL_user_allocate and
//! MIDL_user_free first (declared in `include/midl_alloc.h`; the RpcSs ones
//! are in `ffi_rpcss`).
//!
//! None of them unwinds or aborts on bad sizes: failures are a NULL return.

#![allow(non_snake_case)]

use crate::ds::stats::{ClassStats, CLASS_ROWS};
use crate::global::entry as alloc;
use crate::global::{stats, thread};
use core::ffi::c_void;

/// `void *MIDL_user_allocate(size_t cBytes)`: a block of at least `size`
/// bytes, 16-byte aligned (8-byte below 16 bytes); a distinct block for 0;
/// NULL when the memory cannot be supplied.
#[no_mangle]
pub extern "C" fn MIDL_user_allocate(size: usize) -> *mut c_void {
    alloc::malloc(size).cast()
}

/// `void MIDL_user_free(void *pBuffer)`: frees a block from
/// [`MIDL_user_allocate`] on any thread; NULL does nothing.
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator, not used again.
#[no_mangle]
pub unsafe extern "C" fn MIDL_user_free(p: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { alloc::free_or_null(p.cast()) }
}

/// Lower-case alias of [`MIDL_user_allocate`] (rpcndr.h's spelling).
#[no_mangle]
pub extern "C" fn midl_user_allocate(size: usize) -> *mut c_void {
    MIDL_user_allocate(size)
}

/// Lower-case alias of [`MIDL_user_free`].
///
/// # Safety
/// As for [`MIDL_user_free`].
#[no_mangle]
pub unsafe extern "C" fn midl_user_free(p: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { MIDL_user_free(p) }
}

/// `uint32_t midl_alloc_version(void)`: the library's version, `major <<
/// 16 | minor << 8 | patch`, as the header's `MIDL_ALLOC_VERSION` encodes
/// the header's (a program can check it runs against the library it was
/// compiled for).
#[no_mangle]
pub extern "C" fn midl_alloc_version() -> u32 {
    const fn number(s: &str) -> u32 {
        let digits = s.as_bytes();
        let (mut i, mut n) = (0, 0);
        while i < digits.len() {
            n = n * 10 + (digits[i] - b'0') as u32;
            i += 1;
        }
        n
    }
    const VERSION: u32 = number(env!("CARGO_PKG_VERSION_MAJOR")) << 16
        | number(env!("CARGO_PKG_VERSION_MINOR")) << 8
        | number(env!("CARGO_PKG_VERSION_PATCH"));
    VERSION
}

/// `size_t midl_alloc_usable_size(const void *p)`: bytes usable in a live
/// block (0 for NULL).
///
/// # Safety
/// `p` is NULL or a live block returned by this allocator.
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_usable_size(p: *const c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: the caller's contract.
    unsafe { alloc::usable_size(p.cast()) }
}

/// `struct midl_alloc_stats` (see [`crate::Stats`]).
#[repr(C)]
pub struct midl_alloc_stats {
    /// Bytes mapped from the OS now ([`crate::OsStats::mapped`]).
    pub os_reserved: u64,
    /// Bytes of that which may be backed ([`crate::OsStats::committed`]).
    pub os_committed: u64,
    /// Bytes given back to the OS since start ([`crate::OsStats::purged`]).
    pub os_returned: u64,
    /// Segments left behind by exiting threads, since start.
    pub segments_abandoned: u64,
    /// Abandoned segments taken over by a live thread, since start.
    pub segments_adopted: u64,
    /// Rows filled in `classes` (`MIDL_ALLOC_CLASS_ROWS`).
    pub class_count: u32,
    /// Zero (padding).
    pub reserved_: u32,
    /// One row per size class, then the large-object row.
    pub classes: [ClassStats; CLASS_ROWS],
}

const _: () = assert!(CLASS_ROWS == 465, "MIDL_ALLOC_CLASS_ROWS in include/midl_alloc.h");

/// `int midl_alloc_get_stats(struct midl_alloc_stats *out)`: fills `out`
/// with the statistics (the calling thread's pending counts included);
/// returns 0, or -1 when `out` is NULL.
///
/// # Safety
/// `out` is NULL or valid for writing one `struct midl_alloc_stats`.
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_get_stats(out: *mut midl_alloc_stats) -> i32 {
    if out.is_null() {
        return -1;
    }
    let s = stats::read(thread::current());
    // SAFETY: `out` is valid for writes (caller's contract).
    unsafe {
        out.write(midl_alloc_stats {
            os_reserved: s.os.mapped as u64,
            os_committed: s.os.committed as u64,
            os_returned: s.os.purged as u64,
            segments_abandoned: s.os.segments_abandoned as u64,
            segments_adopted: s.os.segments_adopted as u64,
            class_count: CLASS_ROWS as u32,
            reserved_: 0,
            classes: s.classes,
        })
    };
    0
}

/// `void midl_alloc_collect(void)`: gives back to the OS, now, what the
/// calling thread can reach: its own retired memory, and every segment
/// left by exited threads (adopted, their blocks freed since counted).
/// Other live threads' memory goes back at their own maintenance.
#[no_mangle]
pub extern "C" fn midl_alloc_collect() {
    thread::collect();
}

/// `void midl_alloc_print_stats(int fd)`: writes the statistics as a table
/// to file descriptor `fd`, without allocating.
#[no_mangle]
pub extern "C" fn midl_alloc_print_stats(fd: i32) {
    stats::print(thread::current(), fd);
}
