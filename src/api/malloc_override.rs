//! The malloc family (cargo feature `override`), for replacing the C
//! library's allocator in a whole program without relinking:
//!
//! ```sh
//! cargo build --release --features override
//! LD_PRELOAD=target/release/libmidl_alloc.so program ...
//! ```
//!
//! The semantics are glibc's (2.36): `malloc(0)` and `calloc(0, n)` return a
//! unique pointer; failures return NULL with `errno = ENOMEM`; `calloc` and
//! `reallocarray` check their multiplication; `realloc(p, 0)` frees `p` and
//! returns NULL; `posix_memalign` wants a power of two that is a multiple of
//! `sizeof(void *)` (else `EINVAL`) and leaves `*memptr` alone on failure;
//! `aligned_alloc` and `memalign` round an alignment that is not a power of
//! two up to one (`EINVAL` past `SIZE_MAX / 2 + 1`); `valloc` aligns to the
//! page, `pvalloc` also rounds the size up to pages; `malloc_usable_size`
//! of NULL is 0.
//!
//! C23's `free_sized` and `free_aligned_sized` free like `free` (the size
//! and alignment are not needed).
//!
//! Introspection answered by midl-alloc: `malloc_trim` gives back what the
//! calling thread can reach (`midl_alloc_collect`) and returns 1 if memory
//! went back to the OS; `malloc_stats` prints midl-alloc's table to
//! standard error; `mallinfo2` (and `mallinfo`, its `int` fields clamped)
//! reports `arena`: bytes committed for slab pages, `uordblks`: bytes in
//! live slab blocks (at their block size), `fordblks`: the difference,
//! `hblks` / `hblkhd`: live large objects and their bytes; the rest 0.
//! Other live threads' latest blocks show up at their next slow path.
//!
//! Limits: alignments above 1 MiB (the large-object limit) fail with
//! `ENOMEM`; `mallopt` is glibc's and tunes glibc's own, now unused, arena.
//!
//! Recursion: the allocator never calls the C library's allocator itself.
//! The one libc call that may allocate while a thread's heap is being made,
//! `pthread_setspecific` (glibc callocs its second-level key array for keys
//! past 32), runs after the new heap is installed, so the nested `calloc`
//! is served by that heap (see `global::thread`). Fork: the allocator holds no
//! locks, so a child forked while other threads allocate finds every shared
//! list consistent and allocates and frees normally; the heaps of the
//! parent's other threads stay in the child unused (their blocks remain
//! valid and freeable).

#![allow(clippy::missing_safety_doc)] // the C library's contracts, documented above

use crate::base::bits::{checked_round_up, is_multiple_of};
use crate::ds::stats::{os_stats, CLASS_ROWS};
use crate::global::entry as alloc;
use crate::global::{stats, thread};
use crate::pal::{self, EINVAL, ENOMEM};
use core::ffi::{c_int, c_void};

const PAGE: usize = pal::PAGE_SIZE;
/// glibc's minimum alignment on x86-64 and AArch64.
const MIN_ALIGN: usize = 16;

#[inline]
fn fail_with(errno: c_int) -> *mut c_void {
    pal::set_errno(errno);
    core::ptr::null_mut()
}

#[inline]
fn or_enomem(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        fail_with(ENOMEM)
    } else {
        p.cast()
    }
}

#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    or_enomem(alloc::malloc(size))
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the caller's contract (NULL or a live block of this allocator).
    unsafe { alloc::free_or_null(p.cast()) }
}

#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => or_enomem(alloc::malloc_zeroed(total, MIN_ALIGN)),
        None => fail_with(ENOMEM),
    }
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if size == 0 {
        // SAFETY: forwarded; glibc frees and returns NULL.
        unsafe { free(p) };
        return core::ptr::null_mut();
    }
    // SAFETY: a live block (caller's contract), all of whose usable bytes
    // are copied when it moves.
    unsafe {
        let old = alloc::usable_size(p.cast());
        or_enomem(alloc::realloc(p.cast(), old, MIN_ALIGN, size))
    }
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded.
        Some(total) => unsafe { realloc(p, total) },
        None => fail_with(ENOMEM),
    }
}

/// `memalign`'s reading of an alignment: at least 16, a power of two
/// (rounded up), or None past `SIZE_MAX / 2 + 1`.
fn memalign_alignment(align: usize) -> Option<usize> {
    align.max(MIN_ALIGN).checked_next_power_of_two()
}

#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    match memalign_alignment(align) {
        Some(a) => or_enomem(alloc::malloc_aligned(size, a)),
        None => fail_with(EINVAL),
    }
}

#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    memalign(align, size)
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(memptr: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !is_multiple_of(align, core::mem::size_of::<usize>()) {
        return EINVAL;
    }
    let p = alloc::malloc_aligned(size, align.max(MIN_ALIGN));
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: `memptr` is valid for a write (caller's contract).
    unsafe { memptr.write(p.cast()) };
    0
}

#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    memalign(PAGE, size)
}

#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match checked_round_up(size.max(1), PAGE) {
        Some(rounded) => memalign(PAGE, rounded),
        None => fail_with(ENOMEM),
    }
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    // SAFETY: a live block (caller's contract).
    unsafe { alloc::usable_size(p.cast()) }
}

/// C23 `free_sized`: `free`.
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: the C library's contract: NULL or a live block.
    unsafe { alloc::free_or_null(p.cast()) }
}

/// C23 `free_aligned_sized`: `free`.
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: the C library's contract: NULL or a live block.
    unsafe { alloc::free_or_null(p.cast()) }
}

/// `int malloc_trim(size_t pad)`: gives back what the calling thread can
/// reach now; 1 if memory went back to the OS, else 0.
#[no_mangle]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    let before = os_stats();
    thread::collect();
    let after = os_stats();
    (after.purged > before.purged || after.mapped < before.mapped) as c_int
}

/// `void malloc_stats(void)`: the statistics table to standard error.
#[no_mangle]
pub extern "C" fn malloc_stats() {
    stats::print(thread::current(), 2);
}

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

/// glibc's `struct mallinfo` (`int` fields).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo {
    arena: c_int,
    ordblks: c_int,
    smblks: c_int,
    hblks: c_int,
    hblkhd: c_int,
    usmblks: c_int,
    fsmblks: c_int,
    uordblks: c_int,
    fordblks: c_int,
    keepcost: c_int,
}

/// `struct mallinfo2 mallinfo2(void)`: see the module's introduction.
#[no_mangle]
pub extern "C" fn mallinfo2() -> Mallinfo2 {
    let s = stats::read(thread::current());
    let arena = s.os.committed.saturating_sub(s.os.large_live + s.os.large_cached);
    let used = s.small_bytes() as usize;
    Mallinfo2 {
        arena,
        hblks: s.classes[CLASS_ROWS - 1].live as usize,
        hblkhd: s.os.large_live,
        uordblks: used,
        fordblks: arena.saturating_sub(used),
        ..Mallinfo2::default()
    }
}

/// `struct mallinfo mallinfo(void)`: [`mallinfo2`], each field clamped to
/// `INT_MAX`.
#[no_mangle]
pub extern "C" fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(c_int::MAX as usize) as c_int;
    Mallinfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}
