//! The process-wide instance: the one arena, and each thread's heap.
//!
//! Each thread's heap pointer lives in a const-initialised, destructor-free
//! thread-local slot (`pal::thread_slot!`), so reading it is one TLS access
//! and never allocates or registers anything. It starts at a shared empty
//! heap whose every class misses, so a thread's first allocation falls into
//! the slow path, which creates the heap and registers a thread-exit hook
//! for it (`pal::ThreadExitKey`). At thread exit the hook abandons the heap;
//! if later destructors allocate again, a new heap is made and the hook
//! runs again (glibc repeats up to PTHREAD_DESTRUCTOR_ITERATIONS).

use super::stats;
use crate::base::sync::plain::AtomicBool;
use crate::base::sync::Ordering;
use crate::ds::config;
use crate::mem::alloc::HeapSource;
use crate::mem::arena::Arena;
use crate::mem::heap::Heap;
use crate::pal::{self, ThreadExitKey};
use core::ffi::c_void;
use core::ptr::addr_of;
use std::sync::Once;

/// Global state shared by every heap of the process.
pub(crate) static ARENA: Arena = Arena::new();

#[repr(transparent)]
struct EmptyHeap(Heap);
// SAFETY: the empty heap is never written: every class misses and the slow
// path replaces it before anything is stored.
unsafe impl Sync for EmptyHeap {}

static EMPTY_HEAP: EmptyHeap = EmptyHeap(Heap::empty_at(
    addr_of!(EMPTY_HEAP.0),
    addr_of!(ARENA),
    Some(current_or_create),
));

#[inline(always)]
fn empty_heap() -> *mut Heap {
    addr_of!(EMPTY_HEAP.0) as *mut Heap
}

// The per-thread heap slot, initialised to the empty heap.
pal::thread_slot!(heap_slot: Heap = EMPTY_HEAP);

static KEY_ONCE: Once = Once::new();
static KEY: ThreadExitKey = ThreadExitKey::new();
/// Whether KEY was created (a flag, ordered by KEY_ONCE, not a protocol).
static KEY_OK: AtomicBool = AtomicBool::new(false);

/// The process-wide instance as the entry points (`mem::alloc`) see it.
pub(crate) struct ThreadHeap;

impl HeapSource for ThreadHeap {
    #[inline(always)]
    fn current() -> *mut Heap {
        current()
    }

    #[inline(always)]
    fn current_or_create() -> *mut Heap {
        current_or_create()
    }
}

/// The calling thread's heap (the empty heap if it has none yet).
#[inline(always)]
pub(crate) fn current() -> *mut Heap {
    heap_slot::get()
}

/// The calling thread's heap, created if needed. Null if the OS has no
/// memory for it.
#[cold]
pub(crate) fn current_or_create() -> *mut Heap {
    let heap = current();
    if heap != empty_heap() {
        return heap;
    }
    // A thread that waits here while another runs the closure may have its
    // error code changed by the wait (see `pal::keeping_os_error`).
    pal::keeping_os_error(|| {
        KEY_ONCE.call_once(|| {
            // SAFETY: KEY is created once, here, before any use (call_once
            // orders it before every later call_once return).
            let ok = unsafe { KEY.create(on_thread_exit) };
            KEY_OK.store(ok, Ordering::Relaxed);
            config::load();
        })
    });
    // SAFETY: ARENA is a static.
    let heap = unsafe { Heap::create(addr_of!(ARENA), config::purge_delay_ms(), config::secret()) };
    if heap.is_null() {
        return heap;
    }
    // Installed first: the libc calls below may allocate (glibc's
    // pthread_setspecific callocs for keys past 32, atexit past 32 entries),
    // and under a malloc override that allocation comes back here, where it
    // must find this heap rather than make another.
    heap_slot::set(heap);
    // Without a key (the process ran out of keys) the heap is never
    // abandoned: its blocks stay valid and freeable, its pages are not reused.
    if KEY_OK.load(Ordering::Relaxed) {
        // SAFETY: KEY was created by call_once above; registering a non-null
        // value makes the destructor run for this thread.
        unsafe { KEY.set(heap.cast()) };
    }
    register_exit_hooks();
    heap
}

/// Registers the exit-time statistics printer if the settings ask for it
/// (`MIDL_ALLOC_STATS=1`, or set at run time; once). Called with the calling thread's heap
/// installed, since registering may allocate.
fn register_exit_hooks() {
    if config::take_stats_at_exit() {
        pal::at_exit(print_stats_at_exit);
    }
}

extern "C" fn print_stats_at_exit() {
    if config::stats_at_exit() {
        stats::print(current(), 2);
    }
}

/// Sets whether the statistics table is printed at exit, registering the
/// printer if it is not yet (the registration may allocate, so the calling
/// thread's heap is made first).
pub(crate) fn set_stats_at_exit(on: bool) {
    config::set_stats_at_exit(on);
    if on {
        let _ = current_or_create();
        register_exit_hooks();
    }
}

/// The thread-exit hook: abandons the exiting thread's heap.
///
/// # Safety
/// Called by the OS at thread exit with the value given to `KEY.set`.
unsafe extern "C" fn on_thread_exit(arg: *mut c_void) {
    let heap = arg.cast::<Heap>();
    if heap.is_null() {
        return;
    }
    let _quiet = crate::pal::Quiet::new();
    // Anything this thread frees from now on goes down the remote path;
    // anything it allocates makes a fresh heap (and re-arms the key).
    heap_slot::set(empty_heap());
    // SAFETY: `heap` is this thread's heap, registered by
    // current_or_create, and no longer reachable from the thread-local.
    unsafe { Heap::abandon(heap) };
}

/// Gives back everything the calling thread can reach now (see
/// `Heap::collect`), creating its heap if it has none (so abandoned
/// segments are adopted even by a thread that never allocated). Does
/// nothing if no heap can be made.
pub(crate) fn collect() {
    let _quiet = crate::pal::Quiet::new();
    let heap = current_or_create();
    if !heap.is_null() {
        // SAFETY: the calling thread's own live heap.
        unsafe { Heap::collect(heap, crate::mem::os::now_ms()) };
    }
}
