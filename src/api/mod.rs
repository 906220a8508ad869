//! The front ends, the top layer: the C exports (`ffi`, `ffi_rpcss`,
//! `ffi_stats`), the
//! Rust global allocator and owned blocks (`global_alloc`), the RpcSs
//! environments from Rust (`environment`), run-time settings from Rust and
//! C (`options`), the `Allocator` trait for both
//! (`allocator`, cargo feature `allocator-api2`, on by default), the malloc family for
//! `LD_PRELOAD` (`malloc_override`, cargo feature `override`), the import
//! slots of the static Windows library (`windows_static`, only with
//! `--cfg midl_static`), the test-only hooks (`testing`, cargo feature
//! `os-faults`), and the handles the loom models drive (`loom`,
//! only with `--cfg loom`).

#[cfg(feature = "allocator-api2")]
pub(crate) mod allocator;
pub(crate) mod environment;
pub(crate) mod ffi;
pub(crate) mod ffi_rpcss;
pub(crate) mod ffi_stats;
pub(crate) mod global_alloc;
#[cfg(feature = "override")]
pub(crate) mod malloc_override;
pub(crate) mod options;
#[cfg(feature = "os-faults")]
pub(crate) mod testing;
#[cfg(all(windows, midl_static))]
pub(crate) mod windows_static;
