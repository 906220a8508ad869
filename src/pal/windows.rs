//! Windows (x86-64; built by rustc 1.63 with MinGW-w64, tested under Wine
//! 8.0): every kernel32, bcrypt and C-runtime call the allocator makes,
//! declared here (the crate has no dependency on Windows). The interface is
//! Linux's (see `pal`), with these differences, each a property of the
//! Windows memory API:
//!
//! * [`map`] reserves and commits (`VirtualAlloc`): commit charge is
//!   taken for the whole range, physical memory only on first touch.
//! * [`unmap`] accepts any part of one or more mappings, as `munmap` does:
//!   it decommits the part, and releases each reservation (`MEM_RELEASE`)
//!   once none of it is committed. So the layers above keep trimming and
//!   splitting ranges as on Linux, and the address space of a reservation
//!   returns to the OS when its last part is unmapped.
//! * [`map_aligned`] over-reserves and commits only the aligned part; the
//!   ends stay reserved (address space, no commit charge) until the part
//!   is unmapped. (Windows cannot trim a reservation, and mimalloc's
//!   release-and-retry at the aligned address races other threads'
//!   reservations.)
//! * [`decommit`] (purging) decommits and commits again: the physical
//!   memory goes back, the range stays accessible and reads as zero, as
//!   `MADV_DONTNEED` gives on Linux.
//! * [`remap_in_place`] and [`remap_to`] always refuse (no `mremap`): the
//!   large-object tier then copies.
//! * [`advise_huge_pages`] does nothing (large pages need a privilege and
//!   a commit of their own).
//! * The thread-exit hook is a fiber-local-storage callback (`FlsAlloc`),
//!   which Windows runs when a thread that set a value exits, in an
//!   executable and in a DLL alike, linked statically or not.

use core::ffi::c_void;
use core::ptr;

/// The OS page size assumed for rounding.
pub(crate) const PAGE_SIZE: usize = 4096;

const MEM_COMMIT: u32 = 0x1000;
const MEM_RESERVE: u32 = 0x2000;
const MEM_DECOMMIT: u32 = 0x4000;
const MEM_RELEASE: u32 = 0x8000;
const MEM_FREE: u32 = 0x10000;
const PAGE_READWRITE: u32 = 0x04;
const BCRYPT_USE_SYSTEM_PREFERRED_RNG: u32 = 0x2;
const STD_OUTPUT_HANDLE: u32 = -11i32 as u32;
const STD_ERROR_HANDLE: u32 = -12i32 as u32;
const TLS_OUT_OF_INDEXES: u32 = 0xFFFF_FFFF;
/// Where reservations start: every one at a multiple of this (x86-64).
const ALLOCATION_GRANULARITY: usize = 64 << 10;
/// TLS indexes kept in the TEB itself, and where (x86-64).
const TEB_TLS_SLOTS: u32 = 64;
const TEB_TLS_SLOTS_OFFSET: usize = 0x1480;
const INVALID_HANDLE: isize = -1;

/// `MEMORY_BASIC_INFORMATION` (x86-64 layout).
#[repr(C)]
struct MemoryInfo {
    base: *mut c_void,
    allocation_base: *mut c_void,
    allocation_protect: u32,
    partition_id: u16,
    region_size: usize,
    state: u32,
    protect: u32,
    kind: u32,
}

#[link(name = "kernel32")]
extern "system" {
    fn VirtualAlloc(addr: *mut c_void, size: usize, kind: u32, protect: u32) -> *mut c_void;
    fn VirtualFree(addr: *mut c_void, size: usize, kind: u32) -> i32;
    fn VirtualQuery(addr: *const c_void, info: *mut MemoryInfo, len: usize) -> usize;
    fn GetTickCount64() -> u64;
    fn SwitchToThread() -> i32;
    fn GetStdHandle(which: u32) -> isize;
    fn WriteFile(file: isize, buf: *const u8, len: u32, written: *mut u32, overlapped: *mut c_void) -> i32;
    fn FlsAlloc(callback: Option<unsafe extern "system" fn(*mut c_void)>) -> u32;
    fn FlsSetValue(index: u32, value: *mut c_void) -> i32;
    fn TlsAlloc() -> u32;
    fn TlsGetValue(index: u32) -> *mut c_void;
    fn TlsSetValue(index: u32, value: *mut c_void) -> i32;
    fn GetLastError() -> u32;
    fn SetLastError(code: u32);
}

/// Runs `f` (OS calls) and puts the thread's last-error code back as it
/// was: a server calls `GetLastError` after a failing call whose cleanup
/// allocates or frees, and some calls reset the code on success
/// (`TlsGetValue` always does; under Wine others may), which
/// `tests/windows/thread_exit.c` saw at random when a heap's maintenance
/// happened to run in its window. Also for the callers' waits on a
/// one-time initialisation (`std::sync::Once`, whose waiting thread reads
/// its thread handle through `TlsGetValue`): the same test saw the code
/// reset when its first threads raced to create their heaps.
#[inline]
pub(crate) fn keeping_os_error<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: reads and writes only the calling thread's last-error code.
    let code = unsafe { GetLastError() };
    let r = f();
    // SAFETY: as above.
    unsafe { SetLastError(code) };
    r
}

#[link(name = "bcrypt")]
extern "system" {
    fn BCryptGenRandom(alg: *mut c_void, buf: *mut u8, len: u32, flags: u32) -> i32;
}

// The C runtime MinGW links (msvcrt or the UCRT; MSVC's UCRT too).
extern "C" {
    fn getenv(name: *const u8) -> *const u8;
    fn strlen(s: *const u8) -> usize;
    fn atexit(f: extern "C" fn()) -> i32;
    fn _get_osfhandle(fd: i32) -> isize;
}

/// Reserves and commits `len` bytes of fresh, zeroed, read-write memory
/// at an address of the OS's choosing (64 KiB aligned). Null on failure.
pub(crate) fn map(len: usize) -> *mut u8 {
    // SAFETY: a fresh reservation at an address of the OS's choosing cannot
    // alias anything this process uses.
    keeping_os_error(|| unsafe { VirtualAlloc(ptr::null_mut(), len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE).cast() })
}

/// Maps `len` bytes (a multiple of [`PAGE_SIZE`]) aligned to `align` (a
/// power of two); null on failure. Up to the allocation granularity
/// (64 KiB) every reservation is aligned; beyond it the reservation is
/// `align` larger and only the aligned part is committed, the rest being
/// released with it (see [`unmap`]).
pub(crate) fn map_aligned(len: usize, align: usize) -> *mut u8 {
    keeping_os_error(|| map_aligned_raw(len, align))
}

fn map_aligned_raw(len: usize, align: usize) -> *mut u8 {
    if align <= ALLOCATION_GRANULARITY {
        return map(len);
    }
    let over = match len.checked_add(align) {
        Some(over) => over,
        None => return ptr::null_mut(),
    };
    // SAFETY: a fresh reservation, as in `map`, with nothing committed.
    let raw = unsafe { VirtualAlloc(ptr::null_mut(), over, MEM_RESERVE, PAGE_READWRITE) };
    if raw.is_null() {
        return ptr::null_mut();
    }
    let start = (raw as usize + align - 1) & !(align - 1);
    // SAFETY: `[start, start+len)` lies inside the reservation just made.
    let q = unsafe { VirtualAlloc(start as *mut c_void, len, MEM_COMMIT, PAGE_READWRITE) };
    if q.is_null() {
        // SAFETY: the reservation made above, not handed out.
        unsafe { VirtualFree(raw, 0, MEM_RELEASE) };
        return ptr::null_mut();
    }
    q.cast()
}

/// Unmaps `[p, p+len)`, any part of one or more mappings made here: the
/// part is decommitted (touching it faults from now on) and every
/// reservation it leaves with nothing committed is released. Returns
/// whether the OS did all of it.
///
/// # Safety
/// The range was mapped by [`map`] or [`map_aligned`] and nothing will
/// touch it again.
pub(crate) unsafe fn unmap(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller gives the range up, part by part.
    keeping_os_error(|| unsafe {
        each_part(p, len, |at, n, base| {
            let ok = VirtualFree(at as *mut c_void, n, MEM_DECOMMIT) != 0;
            // Nothing committed is left of the reservation: nothing of it
            // is in use (every use of a mapping is committed).
            ok && (scan_reservation(base).1 || VirtualFree(base as *mut c_void, 0, MEM_RELEASE) != 0)
        })
    })
}

/// Calls `f(start, len, base)` for each part of `[p, p+len)` that lies in
/// one reservation (at `base`): Windows' memory calls work within one
/// reservation only, and the layers above may join neighbouring mappings
/// into one range. True if the range is all reserved and `f` succeeded on
/// every part.
///
/// # Safety
/// The range lies in reservations made by this module; `f` is called
/// before the next part is looked up, so it may release its reservation.
unsafe fn each_part(p: *mut u8, len: usize, mut f: impl FnMut(usize, usize, usize) -> bool) -> bool {
    let end = p as usize + len;
    let mut at = p as usize;
    let mut ok = true;
    while at < end {
        // SAFETY: queries only.
        let info = match unsafe { query(at) } {
            Some(info) if info.state != MEM_FREE => info,
            _ => return false,
        };
        let base = info.allocation_base as usize;
        // SAFETY: `base` is the base of a reservation (just queried).
        let (reservation_end, _) = unsafe { scan_reservation(base) };
        let part_end = end.min(reservation_end);
        ok &= f(at, part_end - at, base);
        at = part_end;
    }
    ok
}

/// The region holding `at`, None if the query fails.
///
/// # Safety
/// None beyond `at` being an address (the OS checks it).
unsafe fn query(at: usize) -> Option<MemoryInfo> {
    let mut info = MemoryInfo {
        base: ptr::null_mut(),
        allocation_base: ptr::null_mut(),
        allocation_protect: 0,
        partition_id: 0,
        region_size: 0,
        state: 0,
        protect: 0,
        kind: 0,
    };
    let size = core::mem::size_of::<MemoryInfo>();
    // SAFETY: `info` is a valid out-buffer of `size` bytes.
    let n = unsafe { VirtualQuery(at as *const c_void, &mut info, size) };
    (n == size).then(|| info)
}

/// Walks the regions of the reservation at `base`: the address just past
/// it, and whether any of it is committed.
///
/// # Safety
/// `base` is the base of a reservation.
unsafe fn scan_reservation(base: usize) -> (usize, bool) {
    let mut at = base;
    let mut committed = false;
    loop {
        // SAFETY: queries only.
        match unsafe { query(at) } {
            Some(info) if info.allocation_base as usize == base && info.state != MEM_FREE && info.region_size > 0 => {
                committed |= info.state == MEM_COMMIT;
                at = info.base as usize + info.region_size;
            }
            _ => return (at, committed),
        }
    }
}

/// Resizing a mapping where it is: never possible on Windows.
///
/// # Safety
/// None (nothing is done); the signature is the interface's.
pub(crate) unsafe fn remap_in_place(_p: *mut u8, _old: usize, _new: usize) -> bool {
    false
}

/// Moving a mapping's pages: never possible on Windows.
///
/// # Safety
/// None (nothing is done); the signature is the interface's.
pub(crate) unsafe fn remap_to(_p: *mut u8, _old: usize, _new: usize, _to: *mut u8) -> bool {
    false
}

/// Drops the physical memory behind `[p, p+len)`; the range stays
/// accessible and reads as zero afterwards (decommitted, then committed
/// again: the pages are demand-zero). Returns whether the OS did.
///
/// # Safety
/// The range is mapped by [`map`] or [`map_aligned`] and holds no live data.
pub(crate) unsafe fn decommit(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller guarantees nothing in the range is live; each part
    // is committed again before anyone can touch it.
    keeping_os_error(|| unsafe {
        each_part(p, len, |at, n, _| {
            VirtualFree(at as *mut c_void, n, MEM_DECOMMIT) != 0
                && !VirtualAlloc(at as *mut c_void, n, MEM_COMMIT, PAGE_READWRITE).is_null()
        })
    })
}

/// Large pages need a privilege: no advice to give.
///
/// # Safety
/// None (nothing is done); the signature is the interface's.
pub(crate) unsafe fn advise_huge_pages(_p: *mut u8, _len: usize) {}

/// A coarse monotonic clock in milliseconds (`GetTickCount64`, the tick
/// of 10-16 ms).
pub(crate) fn now_ms() -> u64 {
    // SAFETY: no preconditions.
    unsafe { GetTickCount64() }
}

/// Gives the rest of the calling thread's time slice to another ready
/// thread (`SwitchToThread`).
pub(crate) fn yield_now() {
    // SAFETY: no preconditions.
    keeping_os_error(|| unsafe { SwitchToThread() });
}

/// 64 random bits from the system RNG (`BCryptGenRandom`), None on failure.
pub(crate) fn random_u64() -> Option<u64> {
    let mut v = [0u8; 8];
    // SAFETY: `v` is a valid 8-byte out-buffer; no algorithm handle with
    // the system-preferred flag.
    let status = unsafe { BCryptGenRandom(ptr::null_mut(), v.as_mut_ptr(), 8, BCRYPT_USE_SYSTEM_PREFERRED_RNG) };
    (status == 0).then(|| u64::from_ne_bytes(v))
}

/// The value of environment variable `name` (NUL-terminated), read
/// without allocating (the C runtime's `getenv`).
pub(crate) fn env_var(name: &[u8]) -> Option<&'static [u8]> {
    debug_assert_eq!(name.last(), Some(&0));
    // SAFETY: `name` is NUL-terminated; the result is NULL or a
    // NUL-terminated string in the C runtime's environment block, which
    // nothing in the allocator changes.
    unsafe {
        let v = getenv(name.as_ptr());
        if v.is_null() {
            None
        } else {
            Some(core::slice::from_raw_parts(v, strlen(v)))
        }
    }
}

/// Writes `bytes` to C file descriptor `fd` (1 and 2 are the standard
/// output and error handles); returns the bytes written, or None.
pub(crate) fn write(fd: i32, bytes: &[u8]) -> Option<usize> {
    // SAFETY: GetStdHandle and _get_osfhandle only look up handles; the
    // buffer is valid for the length passed (clamped to u32).
    unsafe {
        let handle = match fd {
            1 => GetStdHandle(STD_OUTPUT_HANDLE),
            2 => GetStdHandle(STD_ERROR_HANDLE),
            _ if fd < 0 => return None,
            _ => _get_osfhandle(fd),
        };
        if handle == INVALID_HANDLE || handle == 0 {
            return None;
        }
        let len = bytes.len().min(u32::MAX as usize) as u32;
        let mut written = 0u32;
        let ok = WriteFile(handle, bytes.as_ptr(), len, &mut written, ptr::null_mut());
        (ok != 0).then(|| written as usize)
    }
}

/// Stops the process at once.
pub(crate) fn abort() -> ! {
    std::process::abort()
}

/// Registers `f` to run at process exit (or, in a DLL, when it unloads).
pub(crate) fn at_exit(f: extern "C" fn()) {
    // SAFETY: registering a plain extern "C" function.
    unsafe { atexit(f) };
}

/// A thread-exit hook: a fiber-local-storage index whose callback runs, in
/// each thread that gave it a non-null value, when that thread exits.
pub(crate) struct ThreadExitKey(core::cell::UnsafeCell<u32>);

// SAFETY: the index is written once, by `create`, before it is shared (the
// caller orders that, see `create`), and only read afterwards.
unsafe impl Sync for ThreadExitKey {}

/// Most keys the process makes (the heap's and the RpcSs spares'; one
/// spare): each has its own FLS callback below, since a callback is given
/// only the value.
const MAX_KEYS: usize = 3;

/// The destructors `create` registered, one per key, called through that
/// key's `fls_callback::<K>` (FLS callbacks use the system calling
/// convention; the interface's destructor is extern "C": the same on
/// x86-64, but not the same type).
static mut ON_EXIT: [Option<unsafe extern "C" fn(*mut c_void)>; MAX_KEYS] = [None; MAX_KEYS];
/// Keys made so far.
static KEYS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

unsafe extern "system" fn fls_callback<const K: usize>(value: *mut c_void) {
    // SAFETY: ON_EXIT[K] was set before key K's index existed (see
    // `create`), and the callback runs only for values set after that.
    unsafe {
        if let Some(f) = ON_EXIT[K] {
            f(value);
        }
    }
}

impl ThreadExitKey {
    pub(crate) const fn new() -> Self {
        ThreadExitKey(core::cell::UnsafeCell::new(0))
    }

    /// Creates the index with callback `on_exit`; false if the process is
    /// out of indexes (or this module of keys).
    ///
    /// # Safety
    /// Called once, before any [`ThreadExitKey::set`], and ordered before
    /// every later use (e.g. inside a `Once`).
    pub(crate) unsafe fn create(&self, on_exit: unsafe extern "C" fn(*mut c_void)) -> bool {
        let k = KEYS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let callback: unsafe extern "system" fn(*mut c_void) = match k {
            0 => fls_callback::<0>,
            1 => fls_callback::<1>,
            2 => fls_callback::<2>,
            _ => return false,
        };
        // SAFETY: slot `k` is this key's alone (the counter), written here
        // once, before the callback can run.
        unsafe {
            ON_EXIT[k] = Some(on_exit);
            let index = keeping_os_error(|| FlsAlloc(Some(callback)));
            *self.0.get() = index;
            index != TLS_OUT_OF_INDEXES
        }
    }

    /// Gives the calling thread's value of the index (the callback's
    /// argument).
    ///
    /// # Safety
    /// [`ThreadExitKey::create`] succeeded before.
    pub(crate) unsafe fn set(&self, value: *mut c_void) {
        // SAFETY: a created index (caller's contract), read only.
        keeping_os_error(|| unsafe { FlsSetValue(*self.0.get(), value) });
    }
}

/// A thread-local-storage index for the per-thread slots, allocated on
/// first use: `TLS_OUT_OF_INDEXES` until then. Rust's `thread_local!` is
/// not used: on this target it allocates its value through the global
/// allocator, which may be this allocator.
pub(crate) struct TlsIndex(core::sync::atomic::AtomicU32);

impl TlsIndex {
    pub(crate) const fn new() -> Self {
        TlsIndex(core::sync::atomic::AtomicU32::new(TLS_OUT_OF_INDEXES))
    }

    /// This thread's value, null when none was set (or no index exists).
    /// An index below 64 is read straight from the thread's TEB
    /// (`TlsSlots`, at `gs:0x1480` on x86-64, the layout Windows documents
    /// and Wine keeps), as mimalloc does: one load instead of a call to
    /// `TlsGetValue`, which also resets the thread's last-error code, so a
    /// caller's `GetLastError` would not survive an allocation.
    #[inline(always)]
    pub(crate) fn get(&self) -> *mut c_void {
        let index = self.0.load(core::sync::atomic::Ordering::Acquire);
        if index < TEB_TLS_SLOTS {
            let value: *mut c_void;
            // SAFETY: reads this thread's TLS slot `index` in its TEB (gs
            // holds the TEB's address on x86-64 Windows); the slot is ours
            // (allocated by `set`). `pure, readonly`: the value changes
            // only through `set`, a call the compiler cannot move this
            // across.
            unsafe {
                core::arch::asm!(
                    "mov {v}, qword ptr gs:[{off}]",
                    v = lateout(reg) value,
                    off = in(reg) TEB_TLS_SLOTS_OFFSET + index as usize * 8,
                    options(nostack, readonly, pure, preserves_flags),
                );
            }
            return value;
        }
        if index == TLS_OUT_OF_INDEXES {
            return ptr::null_mut();
        }
        // SAFETY: an index allocated by `set`.
        keeping_os_error(|| unsafe { TlsGetValue(index) })
    }

    /// Sets this thread's value, allocating the index first if none exists
    /// (aborting if the process is out of indexes: no heap can be kept).
    pub(crate) fn set(&self, value: *mut c_void) {
        keeping_os_error(|| self.set_raw(value))
    }

    fn set_raw(&self, value: *mut c_void) {
        use core::sync::atomic::Ordering::{AcqRel, Acquire};
        let mut index = self.0.load(Acquire);
        if index == TLS_OUT_OF_INDEXES {
            // SAFETY: no preconditions.
            let fresh = unsafe { TlsAlloc() };
            if fresh == TLS_OUT_OF_INDEXES {
                abort();
            }
            index = match self.0.compare_exchange(TLS_OUT_OF_INDEXES, fresh, AcqRel, Acquire) {
                Ok(_) => fresh,
                // Another thread won; its index serves (one index leaks).
                Err(theirs) => theirs,
            };
        }
        // SAFETY: an allocated index.
        unsafe { TlsSetValue(index, value) };
    }
}

/// Defines module `$name` with `get() -> *mut $ty` and `set(*mut $ty)` for
/// a per-thread pointer that starts as the address of static `$init`: a
/// Windows TLS index whose null value stands for `$init`.
macro_rules! windows_thread_slot {
    ($name:ident: $ty:ty = $init:path) => {
        mod $name {
            use super::*;
            use core::ptr::addr_of;

            static INDEX: $crate::pal::TlsIndex = $crate::pal::TlsIndex::new();

            #[inline(always)]
            pub(crate) fn get() -> *mut $ty {
                let v = INDEX.get();
                if v.is_null() {
                    addr_of!($init) as *const $ty as *mut $ty
                } else {
                    v.cast()
                }
            }

            #[inline(always)]
            pub(crate) fn set(value: *mut $ty) {
                INDEX.set(value.cast())
            }
        }
    };
}
pub(crate) use windows_thread_slot;
