//! midl-alloc: a size-class slab allocator for RPC servers.
//!
//! It backs `MIDL_user_allocate` / `MIDL_user_free` (the functions MIDL
//! stubs allocate every unmarshalled parameter through) with per-thread
//! heaps of slab pages and lock-free remote frees, and serves Rust as a
//! `#[global_allocator]` ([`MidlAlloc`]).
//!
//! The source is layered, each layer using only those below it (see
//! `docs/ARCHITECTURE.md`; `scripts/check-layers.py` enforces it):
//! `base` (atomics facade, faults, bits) < `pal` (the OS) < `ds` (size
//! classes, lock-free stacks, statistics, settings, messages) < `mem` (the
//! allocator core) < `global` (the process-wide instance) < `api` (the
//! front ends). This file is the public API.

#![deny(unsafe_op_in_unsafe_fn)]
#![cfg_attr(all(feature = "nightly", not(loom)), feature(allocator_api))]
#![warn(missing_docs)]
// Under loom only the layers up to `mem` and the loom handles are built
// (the process-wide instance needs `static` atomics, which loom's are not),
// so what serves the front ends alone is unused there.
#![cfg_attr(loom, allow(dead_code, unused_imports, unused_macros))]

mod base;
mod ds;
mod mem;
mod pal;

#[cfg(not(loom))]
mod api;
#[cfg(not(loom))]
mod global;

#[cfg(loom)]
#[path = "api/loom.rs"]
pub mod loom_api;

/// The allocator-api2 crate, whose `Allocator` trait [`MidlAlloc`] and
/// `&`[`environment::Environment`] implement, so its collections and
/// hashbrown's take them (with the `nightly` feature they implement core's
/// unstable trait too, for std's collections).
#[cfg(all(not(loom), feature = "allocator-api2"))]
pub use allocator_api2;

/// The RpcSs memory management package from Rust (see [`environment::Environment`]).
#[cfg(not(loom))]
pub mod environment {
    pub use crate::api::environment::*;
}

/// Test-only hooks (cargo feature `os-faults`): the OS refuses the n-th
/// request for memory.
#[cfg(all(not(loom), feature = "os-faults"))]
#[doc(hidden)]
pub mod testing {
    pub use crate::api::testing::*;
}

#[cfg(not(loom))]
pub use api::ffi::*;
#[cfg(not(loom))]
pub use api::ffi_rpcss::*;
#[cfg(not(loom))]
pub use api::ffi_stats::*;
#[cfg(not(loom))]
pub use api::global_alloc::{usable_size, AllocError, Allocation, MidlAlloc};
#[cfg(not(loom))]
pub use api::options::*;
pub use ds::stats::{os_stats, ClassStats, OsStats, Stats, ThreadStats, CLASS_ROWS};

/// Reads the allocator's statistics, after moving the calling thread's
/// pending counts to them (see [`Stats`] for what other threads' counts
/// include).
///
/// ```
/// let block = midl_alloc::Allocation::new(100)?;
/// let s = midl_alloc::stats();
/// assert!(s.thread.allocated_bytes >= 100);
/// let (allocated, freed, live) = s.totals();
/// assert!(allocated >= freed && live >= 1);
/// # drop(block); Ok::<(), midl_alloc::AllocError>(())
/// ```
#[cfg(not(loom))]
pub fn stats() -> Stats {
    global::stats::read(global::thread::current())
}

/// Gives back to the OS, now, everything the calling thread can reach: its
/// own retired memory and every segment left by exited threads (adopted,
/// and the blocks freed into them since counted in [`stats`]). Other live
/// threads' memory goes back at their own maintenance, within the purge
/// delay.
///
/// ```
/// let blocks: Vec<_> = (0..1000).map(|_| midl_alloc::Allocation::new(4096).unwrap()).collect();
/// drop(blocks);
/// let before = midl_alloc::os_stats().purged;
/// midl_alloc::collect(); // the freed pages go back now, not after the purge delay
/// assert!(midl_alloc::os_stats().purged >= before);
/// ```
#[cfg(not(loom))]
pub fn collect() {
    global::thread::collect();
}

/// [`stats`] as one JSON object (its shape: docs/DESIGN.md, "Statistics").
///
/// ```
/// let json = midl_alloc::stats_json();
/// assert!(json.starts_with("{\"version\":2,"));
/// ```
#[cfg(not(loom))]
pub fn stats_json() -> String {
    let mut s = String::new();
    let _ = ds::stats_json::write_json(&mut s, &stats());
    s
}

/// Writes [`stats`] as a table to file descriptor `fd` (2: standard error),
/// without allocating.
///
/// ```
/// midl_alloc::print_stats(2); // the table, to standard error
/// ```
#[cfg(not(loom))]
pub fn print_stats(fd: i32) {
    global::stats::print(global::thread::current(), fd);
}

/// Largest request served from slab pages; larger ones are mapped directly.
///
/// ```
/// let big = midl_alloc::Allocation::new(midl_alloc::SMALL_MAX + 1)?; // a large object
/// assert!(big.capacity() > midl_alloc::SMALL_MAX);
/// # Ok::<(), midl_alloc::AllocError>(())
/// ```
pub const SMALL_MAX: usize = ds::size_class::SMALL_MAX;
