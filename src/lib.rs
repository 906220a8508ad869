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

mod fault;
mod heap;
mod large;
mod os;
mod page;
mod remote;
mod rpcss;
mod segment;
mod size_class;
mod stats;
mod sync;

#[cfg(not(loom))]
mod alloc;
#[cfg(not(loom))]
pub mod environment;
#[cfg(not(loom))]
mod ffi;
#[cfg(not(loom))]
mod global;
#[cfg(not(loom))]
mod thread;

#[cfg(loom)]
pub mod loom_api;

#[cfg(not(loom))]
pub use ffi::*;
#[cfg(not(loom))]
pub use global::{usable_size, AllocError, Allocation, MidlAlloc};
pub use stats::{os_stats, OsStats};

/// Largest request served from slab pages; larger ones are mapped directly.
pub const SMALL_MAX: usize = size_class::SMALL_MAX;
