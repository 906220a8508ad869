//! midl-alloc: a size-class slab allocator for RPC servers.
//!
//! It backs `MIDL_user_allocate` / `MIDL_user_free` (the functions MIDL
//! stubs allocate every unmarshalled parameter through) with per-thread
//! heaps of slab pages and lock-free remote frees, and serves Rust as a
//! `#[global_allocator]` ([`MidlAlloc`]).
//!
//! Layers, bottom up: `sync` (atomics facade, loom-switchable), `os`
//! (mappings), `size_class`, `remote` (lock-free remote-free list), `page`,
//! `segment`, `heap` (per-thread heap and the arena's shared lists),
//! `large`, `thread` (thread-local heap and thread exit), `alloc` (entry
//! dispatch), `rpcss` (RpcSs allocation environments) and `environment`
//! (their thread-attached front end), and the front ends `ffi` (C exports)
//! and `global` (`GlobalAlloc`, [`Allocation`]). `stats` counts OS memory;
//! `fault` holds the deliberate faults of the loom expected-failure tests.

#![deny(unsafe_op_in_unsafe_fn)]

mod check;
mod fault;
mod heap;
mod large;
mod os;
mod page;
mod remote;
mod report;
mod rpcss;
mod segment;
mod size_class;
mod stats;
mod sync;

#[cfg(not(loom))]
mod alloc;
#[cfg(not(loom))]
mod config;
#[cfg(not(loom))]
pub mod environment;
#[cfg(not(loom))]
mod ffi;
#[cfg(not(loom))]
mod global;
#[cfg(all(feature = "override", not(loom)))]
mod malloc_override;
#[cfg(not(loom))]
mod thread;

#[cfg(loom)]
pub mod loom_api;

#[cfg(not(loom))]
pub use ffi::*;
#[cfg(not(loom))]
pub use global::{usable_size, AllocError, Allocation, MidlAlloc};
pub use stats::{os_stats, ClassStats, OsStats, Stats, CLASS_ROWS};

/// Reads the allocator's statistics, after moving the calling thread's
/// pending counts to them (see [`Stats`] for what other threads' counts
/// include).
#[cfg(not(loom))]
pub fn stats() -> Stats {
    // SAFETY: the calling thread's own heap.
    unsafe { heap::Heap::flush_counts(thread::current()) };
    stats::snapshot()
}

/// Writes [`stats`] as a table to file descriptor `fd` (2: standard error),
/// without allocating.
#[cfg(not(loom))]
pub fn print_stats(fd: i32) {
    stats::print(&stats(), fd);
}

/// Largest request served from slab pages; larger ones are mapped directly.
pub const SMALL_MAX: usize = size_class::SMALL_MAX;
