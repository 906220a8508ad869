//! The global layer: the one process-wide instance of the allocator: its
//! arena and each thread's heap (`thread`), the entry points bound to them
//! (`entry`), the RpcSs registry and each thread's attachment (`rpcss`),
//! and process statistics (`stats`). Uses every
//! layer below; not compiled into the loom models, whose instances are
//! their own (`api::loom`).

pub(crate) mod entry;
pub(crate) mod rpcss;
pub(crate) mod stats;
pub(crate) mod thread;

#[cfg(test)]
mod tests;
