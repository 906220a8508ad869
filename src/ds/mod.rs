//! The data-structure layer: size classes, the lock-free stacks every
//! protocol is built from, statistics counters, settings and the
//! allocation-free message output. Uses `base` and `pal` only.

pub(crate) mod config;
pub(crate) mod counted_stack;
pub(crate) mod report;
pub(crate) mod size_class;
pub(crate) mod spans;
pub(crate) mod stack;
pub(crate) mod stats;
pub(crate) mod stats_json;
