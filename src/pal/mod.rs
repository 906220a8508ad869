//! The platform layer: every call into the operating system or the C
//! library, one module per OS behind the one interface re-exported here.
//! Nothing above this layer names `libc`; the accounting of OS memory
//! (statistics, alignment, the segment address limit) lives above it, in
//! `mem::os`, as mimalloc's `os.c` sits over its `prim/` files.
//!
//! The interface (each function's contract is in the OS module):
//!
//! * memory: [`map`], [`map_aligned`], [`unmap`], [`decommit`], [`advise_huge_pages`],
//!   [`remap_in_place`], [`remap_to`], [`PAGE_SIZE`];
//! * time and randomness: [`now_ms`] (coarse, monotonic), [`random_u64`];
//! * scheduling: [`yield_now`];
//! * process: [`env_var`], [`write`], [`abort`], [`at_exit`],
//!   [`keeping_os_error`] (the thread's error code put back after `f`),
//!   [`set_errno`] with [`ENOMEM`] / [`EINVAL`];
//! * threads: [`ThreadExitKey`] (a destructor at thread exit) and
//!   [`thread_slot!`](crate::pal::thread_slot) (a per-thread pointer, as
//!   cheap as the target allows);
//! * tools: `valgrind` (client requests that tell memcheck about blocks,
//!   cargo feature `valgrind`); `refuse` (tests only, feature `os-faults`:
//!   the n-th request for memory fails).

#[cfg(not(windows))]
mod linux;
#[cfg(not(windows))]
use linux as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as os;

/// The test-only hook that refuses the n-th request for memory (cargo
/// feature `os-faults`).
#[cfg(feature = "os-faults")]
pub(crate) mod refuse;

/// Whether the test-only hook refuses this request for memory (always
/// false without the feature `os-faults`).
#[inline(always)]
pub(crate) fn refused() -> bool {
    #[cfg(feature = "os-faults")]
    return refuse::refused();
    #[cfg(not(feature = "os-faults"))]
    false
}

/// Valgrind client requests (cargo feature `valgrind`).
#[cfg(feature = "valgrind")]
pub(crate) mod valgrind;
#[cfg(all(feature = "valgrind", not(target_arch = "x86_64")))]
compile_error!("the valgrind feature's client requests are written for x86-64");

/// Memcheck's reports off for as long as it lives (feature `valgrind`;
/// nothing otherwise), for the allocator's work outside its entry points:
/// thread exit, `collect`, reading the statistics. Its page state holds
/// values loaded from freed blocks' links, which memcheck counts as
/// undefined.
pub(crate) struct Quiet(());

impl Quiet {
    #[inline(always)]
    pub(crate) fn new() -> Quiet {
        #[cfg(feature = "valgrind")]
        valgrind::quiet(true);
        Quiet(())
    }
}

impl Drop for Quiet {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(feature = "valgrind")]
        valgrind::quiet(false);
    }
}

pub(crate) use os::{
    abort, advise_huge_pages, at_exit, decommit, env_var, keeping_os_error, map, map_aligned, now_ms, random_u64,
    remap_in_place, remap_to, unmap, write, yield_now, ThreadExitKey, PAGE_SIZE,
};
#[cfg(all(feature = "override", not(windows)))]
pub(crate) use os::{set_errno, EINVAL, ENOMEM};
#[cfg(windows)]
pub(crate) use os::{windows_thread_slot, TlsIndex};

#[cfg(all(feature = "override", windows))]
compile_error!(
    "the malloc override is Linux-only: Windows programs link MIDL_user_allocate from the DLL or static library"
);

/// `thread_slot!(name: Type = STATIC)` defines module `name` with
/// `get() -> *mut Type` and `set(*mut Type)`: a destructor-free per-thread
/// pointer whose first value, in every thread, is the address of `STATIC`
/// (of type `Type`, or a `repr(transparent)` wrapper of it).
/// On x86-64 Linux an initial-exec TLS variable defined in assembly (see
/// `linux`); on Windows a TLS index (see `windows`); elsewhere, or with
/// `--cfg midl_generic_tls` or the cargo feature `dlopen-tls`, a const
/// `thread_local!`, which in a shared library takes the general-dynamic
/// TLS model: the library then loads with `dlopen` whatever the static TLS
/// space left (the initial-exec slot marks it `STATIC_TLS`).
#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(any(midl_generic_tls, feature = "dlopen-tls"))
))]
macro_rules! thread_slot {
    ($($t:tt)*) => {
        $crate::pal::linux_x86_64_thread_slot! { $($t)* }
    };
}

#[cfg(windows)]
macro_rules! thread_slot {
    ($($t:tt)*) => {
        $crate::pal::windows_thread_slot! { $($t)* }
    };
}

#[cfg(not(any(
    windows,
    all(
        target_arch = "x86_64",
        target_os = "linux",
        not(any(midl_generic_tls, feature = "dlopen-tls"))
    )
)))]
macro_rules! thread_slot {
    ($name:ident: $ty:ty = $init:path) => {
        mod $name {
            use super::*;
            use core::cell::Cell;
            use core::ptr::addr_of;

            std::thread_local! {
                static SLOT: Cell<*mut $ty> = const { Cell::new(addr_of!($init).cast::<$ty>().cast_mut()) };
            }

            #[inline(always)]
            pub(crate) fn get() -> *mut $ty {
                SLOT.get()
            }

            #[inline(always)]
            pub(crate) fn set(value: *mut $ty) {
                SLOT.set(value)
            }
        }
    };
}

#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    not(any(midl_generic_tls, feature = "dlopen-tls"))
))]
pub(crate) use linux::linux_x86_64_thread_slot;
pub(crate) use thread_slot;
