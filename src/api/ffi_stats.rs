//! The statistics' C exports: a versioned, size-prefixed struct of the
//! scalar figures, the per-class rows apart (so the row count can grow
//! without breaking a program), JSON, and the table.

use crate::ds::stats::{ClassStats, CLASS_ROWS};
use crate::ds::stats_json::{write_json, Truncating, STATS_VERSION};
use crate::global::{stats, thread};
use core::mem::size_of;
use std::os::raw::c_char;

/// `struct midl_alloc_stats` (see [`crate::Stats`]). The caller sets
/// `size` to the size of the struct it knows; the library fills what both
/// know and sets `size` to that and `version` to its own. Fields are only
/// ever added at the end.
///
/// ```
/// let mut s: midl_alloc::midl_alloc_stats = unsafe { std::mem::zeroed() };
/// s.size = std::mem::size_of_val(&s) as u32;
/// // SAFETY: `s` is writable and its size set.
/// assert_eq!(unsafe { midl_alloc::midl_alloc_get_stats(&mut s) }, 0);
/// assert_eq!(s.version, 2);
/// ```
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct midl_alloc_stats {
    /// In: `sizeof(struct midl_alloc_stats)`; out: bytes filled.
    pub size: u32,
    /// Out: the library's `MIDL_ALLOC_STATS_VERSION`.
    pub version: u32,
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
    /// [`crate::OsStats::large_reused`].
    pub large_reused: u64,
    /// [`crate::OsStats::large_resized`].
    pub large_resized: u64,
    /// [`crate::OsStats::large_cached`].
    pub large_cached: u64,
    /// [`crate::OsStats::large_live`].
    pub large_live: u64,
    /// [`crate::Stats::allocated_bytes`].
    pub allocated_bytes: u64,
    /// [`crate::ThreadStats::allocated_bytes`] of the calling thread.
    pub thread_allocated_bytes: u64,
    /// [`crate::ThreadStats::freed_bytes`] of the calling thread.
    pub thread_freed_bytes: u64,
    /// Rows `midl_alloc_get_class_stats` has.
    pub class_rows: u32,
    /// Zero (padding).
    pub reserved_: u32,
}

/// The first two fields, which every version has.
const STATS_HEADER: usize = 8;

/// `int midl_alloc_get_stats(struct midl_alloc_stats *out)`: fills `out`
/// up to `out->size` bytes (the calling thread's pending counts included);
/// returns 0, or -1 when `out` is NULL or `out->size` is below 8.
///
/// # Safety
/// `out` is NULL or valid for reading its `size` and writing `size` bytes.
///
/// ```
/// // A caller that knows only the first fields gets only those.
/// let mut s: midl_alloc::midl_alloc_stats = unsafe { std::mem::zeroed() };
/// s.size = 16;
/// // SAFETY: `s` is writable and larger than 16 bytes.
/// assert_eq!(unsafe { midl_alloc::midl_alloc_get_stats(&mut s) }, 0);
/// assert_eq!((s.size, s.os_committed), (16, 0));
/// ```
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_get_stats(out: *mut midl_alloc_stats) -> i32 {
    if out.is_null() {
        return -1;
    }
    // SAFETY: the caller's contract: the size field is readable.
    let asked = unsafe { out.cast::<u32>().read_unaligned() } as usize;
    if asked < STATS_HEADER {
        return -1;
    }
    let s = stats::read(thread::current());
    let full = midl_alloc_stats {
        size: 0,
        version: STATS_VERSION,
        os_reserved: s.os.mapped as u64,
        os_committed: s.os.committed as u64,
        os_returned: s.os.purged as u64,
        segments_abandoned: s.os.segments_abandoned as u64,
        segments_adopted: s.os.segments_adopted as u64,
        large_reused: s.os.large_reused as u64,
        large_resized: s.os.large_resized as u64,
        large_cached: s.os.large_cached as u64,
        large_live: s.os.large_live as u64,
        allocated_bytes: s.allocated_bytes(),
        thread_allocated_bytes: s.thread.allocated_bytes,
        thread_freed_bytes: s.thread.freed_bytes,
        class_rows: CLASS_ROWS as u32,
        reserved_: 0,
    };
    let n = asked.min(size_of::<midl_alloc_stats>());
    let full = midl_alloc_stats { size: n as u32, ..full };
    // SAFETY: `n` bytes of `full`, into the caller's `asked >= n` bytes.
    unsafe { core::ptr::copy_nonoverlapping((&full as *const midl_alloc_stats).cast::<u8>(), out.cast::<u8>(), n) };
    0
}

/// `size_t midl_alloc_get_class_stats(struct midl_alloc_class_stats *rows,
/// size_t capacity)`: fills up to `capacity` rows (one per size class in
/// order, then large objects, `block_size` 0) and returns how many rows
/// there are (`rows` may be NULL with `capacity` 0, to ask).
///
/// # Safety
/// `rows` is valid for writing `capacity` rows (or `capacity` is 0).
///
/// ```
/// // SAFETY: NULL with capacity 0 only asks how many rows there are.
/// let rows = unsafe { midl_alloc::midl_alloc_get_class_stats(std::ptr::null_mut(), 0) };
/// let mut v = vec![midl_alloc::ClassStats::default(); rows];
/// // SAFETY: `v` has room for `rows` rows.
/// unsafe { midl_alloc::midl_alloc_get_class_stats(v.as_mut_ptr(), rows) };
/// assert_eq!(v[rows - 1].block_size, 0); // the large-object row
/// ```
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_get_class_stats(rows: *mut ClassStats, capacity: usize) -> usize {
    if capacity != 0 && !rows.is_null() {
        let s = stats::read(thread::current());
        let n = capacity.min(CLASS_ROWS);
        // SAFETY: the caller's contract: `capacity >= n` rows writable.
        unsafe { core::ptr::copy_nonoverlapping(s.classes.as_ptr(), rows, n) };
    }
    CLASS_ROWS
}

/// `size_t midl_alloc_stats_json(char *buf, size_t len)`: the statistics
/// as one JSON object (shape: docs/DESIGN.md, "Statistics"), written as
/// `snprintf` would: at most `len - 1` bytes and a NUL; returns the
/// length of the whole text (call again with more room when it is `>=
/// len`). Allocates nothing.
///
/// # Safety
/// `buf` is valid for writing `len` bytes (or `len` is 0).
///
/// ```
/// // SAFETY: NULL with length 0 only measures.
/// let len = unsafe { midl_alloc::midl_alloc_stats_json(std::ptr::null_mut(), 0) };
/// let mut buf = vec![0u8; len + 4096];
/// // SAFETY: `buf` has `buf.len()` writable bytes.
/// let n = unsafe { midl_alloc::midl_alloc_stats_json(buf.as_mut_ptr().cast(), buf.len()) };
/// assert!(n < buf.len() && buf[..n].starts_with(b"{\"version\":2,"));
/// ```
#[no_mangle]
pub unsafe extern "C" fn midl_alloc_stats_json(buf: *mut c_char, len: usize) -> usize {
    let mut empty = [0u8; 0];
    let out: &mut [u8] = if buf.is_null() || len == 0 {
        &mut empty
    } else {
        // SAFETY: the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
    };
    let mut w = Truncating::new(out);
    let _ = write_json(&mut w, &stats::read(thread::current()));
    w.total
}

/// `void midl_alloc_print_stats(int fd)`: writes the statistics as a table
/// to file descriptor `fd`, without allocating.
///
/// ```
/// midl_alloc::midl_alloc_print_stats(2);
/// ```
#[no_mangle]
pub extern "C" fn midl_alloc_print_stats(fd: i32) {
    stats::print(thread::current(), fd);
}
