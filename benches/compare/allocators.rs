//! One interface, every allocator compared: midl-alloc, mimalloc and the
//! system allocator (glibc), then jemalloc, snmalloc and rpmalloc (built
//! from source by their -sys crates, with prefixed symbols) and tcmalloc
//! (Debian's libtcmalloc-minimal4, opened with `dlopen`: linked, its
//! `malloc` would replace glibc's for the whole benchmark).

use super::*;

pub(crate) trait Allocator: Copy + Send + Sync + 'static {
    const NAME: &'static str;
    fn alloc(self, size: usize) -> *mut u8;
    /// # Safety
    /// `p` came from `alloc` of the same allocator and is not used again.
    unsafe fn free(self, p: *mut u8);
    /// What a thread of the benchmark calls before it ends (rpmalloc's
    /// heaps are handed back only on request; the others need nothing).
    fn thread_exit(self) {}
}

/// `std::thread::spawn` for a thread that uses `a`: the thread ends with
/// `a.thread_exit()`.
pub(crate) fn spawn<A: Allocator, T: Send + 'static>(
    a: A,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        let r = f();
        a.thread_exit();
        r
    })
}

#[derive(Clone, Copy)]
pub(crate) struct Midl;
#[derive(Clone, Copy)]
pub(crate) struct Mimalloc;
#[derive(Clone, Copy)]
pub(crate) struct System;

impl Allocator for Midl {
    const NAME: &'static str = "midl-alloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        midl_alloc::MIDL_user_allocate(size).cast()
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { midl_alloc::MIDL_user_free(p.cast()) }
    }
}

impl Allocator for Mimalloc {
    const NAME: &'static str = "mimalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: mi_malloc has no preconditions.
        unsafe { libmimalloc_sys::mi_malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }
}

impl Allocator for System {
    const NAME: &'static str = "system";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { libc::malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { libc::free(p.cast()) }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Jemalloc;
#[derive(Clone, Copy)]
pub(crate) struct Snmalloc;
#[derive(Clone, Copy)]
pub(crate) struct Tcmalloc;

impl Allocator for Jemalloc {
    const NAME: &'static str = "jemalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: malloc has no preconditions.
        unsafe { tikv_jemalloc_sys::malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { tikv_jemalloc_sys::free(p.cast()) }
    }
}

impl Allocator for Snmalloc {
    const NAME: &'static str = "snmalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: sn_malloc has no preconditions.
        unsafe { snmalloc_sys::sn_malloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { snmalloc_sys::sn_free(p.cast()) }
    }
}

/// tcmalloc's entry points, from the library opened once.
struct TcFns {
    malloc: unsafe extern "C" fn(usize) -> *mut libc::c_void,
    free: unsafe extern "C" fn(*mut libc::c_void),
}

/// Where Debian's libtcmalloc-minimal4 puts the library.
const TCMALLOC_LIB: &str = "libtcmalloc_minimal.so.4";

fn tcmalloc() -> &'static TcFns {
    static FNS: std::sync::OnceLock<TcFns> = std::sync::OnceLock::new();
    FNS.get_or_init(|| {
        let name = std::ffi::CString::new(TCMALLOC_LIB).unwrap();
        // SAFETY: dlopen/dlsym with NUL-terminated names. RTLD_LOCAL keeps
        // its `malloc` out of the process's symbol lookup, RTLD_DEEPBIND
        // makes the library's own calls bind to itself.
        unsafe {
            let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_DEEPBIND);
            assert!(
                !h.is_null(),
                "cannot open {TCMALLOC_LIB} (apt-get install libtcmalloc-minimal4): {:?}",
                std::ffi::CStr::from_ptr(libc::dlerror())
            );
            let sym = |n: &std::ffi::CStr| {
                let f = libc::dlsym(h, n.as_ptr());
                assert!(!f.is_null(), "{TCMALLOC_LIB} has no {n:?}");
                f
            };
            TcFns {
                malloc: std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn(usize) -> *mut libc::c_void>(
                    sym(c"tc_malloc"),
                ),
                free: std::mem::transmute::<*mut libc::c_void, unsafe extern "C" fn(*mut libc::c_void)>(sym(
                    c"tc_free",
                )),
            }
        }
    })
}

impl Allocator for Tcmalloc {
    const NAME: &'static str = "tcmalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: tc_malloc has no preconditions.
        unsafe { (tcmalloc().malloc)(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { (tcmalloc().free)(p.cast()) }
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Rpmalloc;

// rpmalloc-sys declares it without the argument rpmalloc 1.4.2 added.
extern "C" {
    fn rpmalloc_thread_finalize(release_caches: libc::c_int);
}

impl Allocator for Rpmalloc {
    const NAME: &'static str = "rpmalloc";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        // SAFETY: rpmalloc-sys is built with ENABLE_PRELOAD, so a thread's
        // first call initialises the allocator and the thread's heap.
        unsafe { rpmalloc_sys::rpmalloc(size).cast() }
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        // SAFETY: caller's contract.
        unsafe { rpmalloc_sys::rpfree(p.cast()) }
    }
    fn thread_exit(self) {
        // SAFETY: the thread makes no rpmalloc call after this one (a later
        // one would initialise a new heap). 1: its caches go to the global
        // cache, as rpmalloc's own thread destructor does.
        unsafe { rpmalloc_thread_finalize(1) }
    }
}

/// How many allocators are compared.
pub(crate) const N: usize = 7;

/// The allocators, in the order of every table and array (midl-alloc first,
/// the ratios' numerator).
pub(crate) const NAMES: [&str; N] = [
    Midl::NAME,
    Mimalloc::NAME,
    System::NAME,
    Jemalloc::NAME,
    Snmalloc::NAME,
    Tcmalloc::NAME,
    Rpmalloc::NAME,
];

/// No allocator: the same calls into functions that do nothing but hand
/// back one static buffer. The marshalling rows time it with the three
/// allocators, so what each allocator adds to a call (its time less this)
/// can be compared apart from the work every allocator's run shares (the
/// call loop, the calls themselves, the parameter list).
#[derive(Clone, Copy)]
pub(crate) struct CallsOnly;

/// The buffer [`CallsOnly`] hands out; large enough for any parameter of
/// the marshalling path, which writes it.
pub(crate) struct CallsOnlyBuffer(std::cell::UnsafeCell<[u8; 8192]>);
// SAFETY: only the benchmark's thread writes it (bytes, no invariant).
unsafe impl Sync for CallsOnlyBuffer {}
pub(crate) static CALLS_ONLY_BUFFER: CallsOnlyBuffer = CallsOnlyBuffer(std::cell::UnsafeCell::new([0; 8192]));

#[inline(never)]
pub(crate) extern "C" fn calls_only_alloc(size: usize) -> *mut u8 {
    assert!(size <= 8192);
    CALLS_ONLY_BUFFER.0.get().cast()
}

#[inline(never)]
pub(crate) extern "C" fn calls_only_free(p: *mut u8) {
    black_box(p);
}

impl Allocator for CallsOnly {
    const NAME: &'static str = "calls only";
    #[inline]
    fn alloc(self, size: usize) -> *mut u8 {
        calls_only_alloc(size)
    }
    #[inline]
    unsafe fn free(self, p: *mut u8) {
        calls_only_free(p)
    }
}

/// xorshift64*: deterministic, identical for every allocator.
pub(crate) struct Rng(pub(crate) u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// The NDR engine's wrapper: rounds to 8 and appends a 24-byte trailer.
pub(crate) fn ndr(size: usize) -> usize {
    size.next_multiple_of(8) + 24
}

pub(crate) fn alloc_checked<A: Allocator>(a: A, size: usize) -> *mut u8 {
    let p = a.alloc(size);
    assert!(!p.is_null(), "{} failed to allocate {size} bytes", A::NAME);
    p
}
