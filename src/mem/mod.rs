//! The allocator core: blocks, pages, segments, per-thread heaps, the
//! arena they share, large objects, checked mode, RpcSs environments, and
//! the allocation entry points. Uses `base`, `pal` (through `os` only) and
//! `ds`. Files in dependency order, lowest first:
//!
//! * `os` (OS memory, accounted), `layout` (segment geometry, owner id),
//!   `block` (free-list link encoding);
//! * `segment_map` (which address ranges are ours), `page` (a slab
//!   page), `page_queue`, `segment`, `check`, `large`,
//!   `span_cache` (the large-object tier's shared free ranges);
//! * `retain` (the retained cap's floor, learned process-wide),
//!   `arena` (shared lists), `heap` (per-thread heaps), `rpcss`
//!   (allocation environments), `alloc` (entry points).

pub(crate) mod alloc;
pub(crate) mod arena;
pub(crate) mod block;
pub(crate) mod check;
pub(crate) mod heap;
pub(crate) mod large;
pub(crate) mod layout;
pub(crate) mod os;
pub(crate) mod page;
pub(crate) mod page_queue;
pub(crate) mod retain;
pub(crate) mod rpcss;
pub(crate) mod segment;
pub(crate) mod segment_map;
pub(crate) mod span_cache;
