//! Linux (glibc or musl): every system and C-library call the allocator
//! makes. Failures are reported as the interface in `pal` says (null,
//! false, None); nothing here allocates.

use core::ffi::{c_void, CStr};
use core::ptr;

/// The OS page size assumed for rounding (checked against `sysconf` in
/// the tests).
pub(crate) const PAGE_SIZE: usize = 4096;

/// `errno` value: out of memory.
#[cfg(feature = "override")]
pub(crate) const ENOMEM: i32 = libc::ENOMEM;
/// `errno` value: invalid argument.
#[cfg(feature = "override")]
pub(crate) const EINVAL: i32 = libc::EINVAL;

/// Maps `len` bytes of fresh, zeroed, read-write memory at an address of
/// the kernel's choosing (reserved lazily: `MAP_NORESERVE`). Null on failure.
pub(crate) fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing cannot alias anything this process uses.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Maps `len` bytes (a multiple of [`PAGE_SIZE`]) aligned to `align` (a
/// power of two, at least [`PAGE_SIZE`]). Null on failure.
pub(crate) fn map_aligned(len: usize, align: usize) -> *mut u8 {
    // Most of the time the kernel hands out the address just below the last
    // mapping; try the plain size first and only over-reserve when it is
    // misaligned.
    let p = map(len);
    if p.is_null() || (p as usize) & (align - 1) == 0 {
        return p;
    }
    // SAFETY: `p` is the mapping of `len` bytes made just above.
    unsafe { unmap(p, len) };
    let over = match len.checked_add(align - PAGE_SIZE) {
        Some(over) => over,
        None => return ptr::null_mut(),
    };
    let raw = map(over);
    if raw.is_null() {
        return raw;
    }
    let start = (raw as usize + align - 1) & !(align - 1);
    let head = start - raw as usize;
    let tail = over - head - len;
    // SAFETY: [raw, raw+head) and [start+len, raw+over) are the unused ends
    // of the mapping made just above; nothing refers to them.
    unsafe {
        if head > 0 {
            unmap(raw, head);
        }
        if tail > 0 {
            unmap((start + len) as *mut u8, tail);
        }
    }
    start as *mut u8
}

/// Unmaps `[p, p+len)`; returns whether the kernel did.
///
/// # Safety
/// The range was mapped by [`map`] and nothing will touch it again.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller owns the range and gives it up.
    unsafe { libc::munmap(p.cast(), len) == 0 }
}

/// Resizes the mapping `[p, p+old)` to `new` bytes without moving it;
/// false when the range it would grow into is taken (or spans mappings
/// the kernel cannot join).
///
/// # Safety
/// The range was mapped by [`map`] and is the caller's; when shrinking,
/// nothing touches `[p+new, p+old)` again.
pub(crate) unsafe fn remap_in_place(p: *mut u8, old: usize, new: usize) -> bool {
    // SAFETY: the caller's mapping; without MREMAP_MAYMOVE the kernel
    // either resizes it where it is or changes nothing.
    unsafe { libc::mremap(p.cast(), old, new, 0) != libc::MAP_FAILED }
}

/// Moves the pages of the mapping `[p, p+old)` to `[to, to+new)` (page
/// tables only, no copy), replacing the mapping there; false (nothing
/// moved) when the kernel refuses.
///
/// # Safety
/// `[p, p+old)` and `[to, to+new)` were mapped by [`map`], do not overlap,
/// and are the caller's; nothing touches `[p, p+old)` after a success.
pub(crate) unsafe fn remap_to(p: *mut u8, old: usize, new: usize, to: *mut u8) -> bool {
    // SAFETY: both ranges are the caller's; MREMAP_FIXED replaces only the
    // target range, which the caller gives up.
    let r = unsafe {
        libc::mremap(
            p.cast(),
            old,
            new,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            to.cast::<c_void>(),
        )
    };
    r == to.cast()
}

/// Drops the physical memory behind `[p, p+len)`; the range stays mapped
/// and reads as zero afterwards. Returns whether the kernel did.
///
/// # Safety
/// The range is mapped by [`map`] and holds no live data.
pub(crate) unsafe fn decommit(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller guarantees nothing in the range is live; for a
    // private anonymous mapping MADV_DONTNEED just drops the pages.
    unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) == 0 }
}

/// Asks for transparent huge pages behind `[p, p+len)` (`MADV_HUGEPAGE`);
/// a kernel without them refuses, which changes nothing.
///
/// # Safety
/// The range is mapped by [`map`].
pub(crate) unsafe fn advise_huge_pages(p: *mut u8, len: usize) {
    // SAFETY: advice on the caller's mapping; it changes no contents.
    let _ = unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) };
}

/// A coarse monotonic clock in milliseconds (a vDSO call, no system call).
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC_COARSE always
    // exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Gives the rest of the calling thread's time slice to other threads
/// (`sched_yield`).
pub(crate) fn yield_now() {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}

/// 64 random bits from the kernel, None when `getrandom` is unavailable.
pub(crate) fn random_u64() -> Option<u64> {
    let mut v = 0u64;
    // SAFETY: `v` is a valid 8-byte out-buffer.
    let n = unsafe { libc::getrandom((&mut v as *mut u64).cast(), 8, libc::GRND_NONBLOCK) };
    (n == 8).then_some(v)
}

/// The value of environment variable `name` (NUL-terminated), read without allocating
/// (`getenv`). The bytes stay valid while nothing changes the environment.
pub(crate) fn env_var(name: &[u8]) -> Option<&'static [u8]> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: getenv with a NUL-terminated name; the result is NULL or a
    // NUL-terminated string that stays valid while we read it (nothing in
    // the allocator changes the environment).
    unsafe {
        let v = libc::getenv(name.as_ptr().cast());
        (!v.is_null()).then(|| CStr::from_ptr(v).to_bytes())
    }
}

/// Writes `bytes` to file descriptor `fd` with `write(2)`; returns the
/// bytes written, or None on an error.
pub(crate) fn write(fd: i32, bytes: &[u8]) -> Option<usize> {
    // SAFETY: the buffer is valid for `bytes.len()` bytes.
    let r = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    (r >= 0).then_some(r as usize)
}

/// Stops the process at once (`abort`).
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// Runs `f` and puts the calling thread's `errno` back as it was (a wait
/// on a one-time initialisation may leave `EAGAIN` from a futex).
#[inline]
pub(crate) fn keeping_os_error<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: the calling thread's errno location.
    let code = unsafe { *libc::__errno_location() };
    let r = f();
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = code };
    r
}

/// Sets the calling thread's `errno`.
#[cfg(feature = "override")]
pub(crate) fn set_errno(value: i32) {
    // SAFETY: the calling thread's errno location.
    unsafe { *libc::__errno_location() = value };
}

/// Registers `f` to run at process exit (`atexit`; it may allocate).
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(f) };
}

/// A thread-exit hook: a `pthread_key_t` whose destructor runs, in each
/// thread that gave it a non-null value, when that thread exits (glibc
/// repeats it up to PTHREAD_DESTRUCTOR_ITERATIONS times while values are
/// set again).
pub(crate) struct ThreadExitKey(core::cell::UnsafeCell<libc::pthread_key_t>);

// SAFETY: the key is written once, by `create`, before it is shared (the
// caller orders that, see `create`), and only read afterwards.
unsafe impl Sync for ThreadExitKey {}

impl ThreadExitKey {
    pub(crate) const fn new() -> Self {
        ThreadExitKey(core::cell::UnsafeCell::new(0))
    }

    /// Creates the key with destructor `on_exit`; false if the process is
    /// out of keys.
    ///
    /// # Safety
    /// Called once, before any [`ThreadExitKey::set`], and ordered before
    /// every later use (e.g. inside a `Once`).
    pub(crate) unsafe fn create(&self, on_exit: unsafe extern "C" fn(*mut c_void)) -> bool {
        // SAFETY: the key is written here only (caller's contract).
        unsafe { libc::pthread_key_create(self.0.get(), Some(on_exit)) == 0 }
    }

    /// Gives the calling thread's value of the key (the destructor's
    /// argument); may allocate (glibc callocs its key array past 32 keys).
    ///
    /// # Safety
    /// [`ThreadExitKey::create`] succeeded before.
    pub(crate) unsafe fn set(&self, value: *mut c_void) {
        // SAFETY: a created key (caller's contract), read only.
        unsafe { libc::pthread_setspecific(*self.0.get(), value) };
    }
}

/// Defines module `$name` with `get() -> *mut $ty` and `set(*mut $ty)` for
/// a per-thread pointer that starts as the address of static `$init`: an
/// initial-exec TLS variable defined in assembly, so reading it is one
/// `mov` from `%fs` (two in a shared library, through the GOT), where
/// Rust's `thread_local!` in a `cdylib` goes through a call to
/// `__tls_get_addr`. That is how mimalloc builds its shared library too;
/// the cost is that the library takes 8 bytes of static TLS a slot, which
/// glibc's reserve covers even for a library loaded with `dlopen` after
/// start-up. The TLS symbol is `midl_alloc_$name`, so names must differ.
/// (x86-64 only; `pal::thread_slot!` picks it.)
#[cfg(all(target_arch = "x86_64", not(any(midl_generic_tls, feature = "dlopen-tls"))))]
macro_rules! linux_x86_64_thread_slot {
    ($name:ident: $ty:ty = $init:path) => {
        mod $name {
            use super::*;
            use core::arch::{asm, global_asm};

            // An 8-byte `.tdata` object whose initial image is `$init`'s
            // address (a relocation the dynamic linker applies to the TLS
            // template). Hidden: every reference is from this crate,
            // inlined or not, within one link unit.
            global_asm!(
                concat!(".pushsection .tdata.midl_alloc_", stringify!($name), ",\"awT\",@progbits"),
                ".p2align 3",
                concat!(".globl midl_alloc_", stringify!($name)),
                concat!(".hidden midl_alloc_", stringify!($name)),
                concat!(".type midl_alloc_", stringify!($name), ",@object"),
                concat!(".size midl_alloc_", stringify!($name), ",8"),
                concat!("midl_alloc_", stringify!($name), ":"),
                ".quad {init}",
                ".popsection",
                init = sym $init,
            );

            #[inline(always)]
            pub(crate) fn get() -> *mut $ty {
                let value: *mut $ty;
                // SAFETY: reads this thread's slot: the slot's offset from
                // the thread pointer (a GOT entry, or an immediate once the
                // linker relaxes it in an executable), then the slot.
                // `readonly` and `pure`: no side effect, and the result
                // changes only through `set` (an asm block that may write
                // memory, so never reordered across).
                unsafe {
                    asm!(
                        concat!("movq midl_alloc_", stringify!($name), "@GOTTPOFF(%rip), {0}"),
                        "movq %fs:({0}), {0}",
                        out(reg) value,
                        options(att_syntax, nostack, preserves_flags, readonly, pure),
                    );
                }
                value
            }

            #[inline(always)]
            pub(crate) fn set(value: *mut $ty) {
                // SAFETY: writes this thread's slot, found as in `get`; no
                // other memory is touched.
                unsafe {
                    asm!(
                        concat!("movq midl_alloc_", stringify!($name), "@GOTTPOFF(%rip), {t}"),
                        "movq {v}, %fs:({t})",
                        t = out(reg) _,
                        v = in(reg) value,
                        options(att_syntax, nostack, preserves_flags),
                    );
                }
            }
        }
    };
}
#[cfg(all(target_arch = "x86_64", not(any(midl_generic_tls, feature = "dlopen-tls"))))]
pub(crate) use linux_x86_64_thread_slot;

#[cfg(test)]
#[path = "linux_tests.rs"]
mod tests;
