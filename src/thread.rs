//! Thread lifecycle: each thread's heap pointer lives in a const-initialised,
//! destructor-free thread-local slot (see [`slot`]), so reading it is one TLS
//! access and never allocates or registers anything. It starts at a shared empty heap whose
//! every class misses, so a thread's first allocation falls into the slow
//! path, which creates the heap and registers a `pthread_key_create`
//! destructor for it. At thread exit the destructor abandons the heap; if
//! later destructors allocate again, a new heap is made and the key's
//! destructor runs again (glibc repeats up to PTHREAD_DESTRUCTOR_ITERATIONS).

use crate::config;
use crate::heap::{Arena, Heap};
use crate::sync::{AtomicU32, Ordering};
use core::ptr::{self, addr_of};
use std::sync::Once;

/// Global state shared by every heap of the process.
pub(crate) static ARENA: Arena = Arena::new();

#[repr(transparent)]
struct EmptyHeap(Heap);
// SAFETY: the empty heap is never written: every class misses and the slow
// path replaces it before anything is stored.
unsafe impl Sync for EmptyHeap {}

static EMPTY_HEAP: EmptyHeap = EmptyHeap(Heap::empty_at(addr_of!(EMPTY_HEAP.0), addr_of!(ARENA)));

#[inline(always)]
fn empty_heap() -> *mut Heap {
    addr_of!(EMPTY_HEAP.0).cast_mut()
}

/// The per-thread heap slot, initialised to the empty heap.
///
/// On x86-64 Linux it is a TLS variable of the initial-exec model, defined
/// in assembly: one `mov` from `%fs` (two in a shared library, through the
/// GOT), where Rust's `thread_local!` in a `cdylib` goes through a call to
/// `__tls_get_addr`. That is how mimalloc builds its shared library too; the
/// cost is that the library takes 8 bytes of static TLS, which glibc's
/// reserve covers even for a library loaded with `dlopen` after start-up.
/// Elsewhere (and under loom) it is a `thread_local!`.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
mod slot {
    use super::{Heap, EMPTY_HEAP};
    use core::arch::{asm, global_asm};

    // An 8-byte `.tdata` object whose initial image is the empty heap's
    // address (a relocation the dynamic linker applies to the TLS template).
    // Hidden: every reference is from this crate, inlined or not, within
    // one link unit.
    global_asm!(
        ".pushsection .tdata.midl_alloc_heap_slot,\"awT\",@progbits",
        ".p2align 3",
        ".globl midl_alloc_heap_slot",
        ".hidden midl_alloc_heap_slot",
        ".type midl_alloc_heap_slot,@object",
        ".size midl_alloc_heap_slot,8",
        "midl_alloc_heap_slot:",
        ".quad {empty}",
        ".popsection",
        empty = sym EMPTY_HEAP,
    );

    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        let heap: *mut Heap;
        // SAFETY: reads this thread's slot: the slot's offset from the
        // thread pointer (a GOT entry, or an immediate once the linker
        // relaxes it in an executable), then the slot. `readonly` and `pure`:
        // no side effect, and the result changes only through `set` (an asm
        // block that may write memory, so never reordered across).
        unsafe {
            asm!(
                "movq midl_alloc_heap_slot@GOTTPOFF(%rip), {0}",
                "movq %fs:({0}), {0}",
                out(reg) heap,
                options(att_syntax, nostack, preserves_flags, readonly, pure),
            );
        }
        heap
    }

    #[inline(always)]
    pub(super) fn set(heap: *mut Heap) {
        // SAFETY: writes this thread's slot, found as in `get`; no other
        // memory is touched.
        unsafe {
            asm!(
                "movq midl_alloc_heap_slot@GOTTPOFF(%rip), {t}",
                "movq {h}, %fs:({t})",
                t = out(reg) _,
                h = in(reg) heap,
                options(att_syntax, nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
mod slot {
    use super::{Heap, EMPTY_HEAP};
    use core::ptr::addr_of;

    thread_local! {
        static HEAP: Cell<*mut Heap> = const { Cell::new(addr_of!(EMPTY_HEAP.0).cast_mut()) };
    }

    #[inline(always)]
    pub(super) fn get() -> *mut Heap {
        slot::get()
    }

    #[inline(always)]
    pub(super) fn set(heap: *mut Heap) {
        HEAP.set(heap)
    }
}

static KEY_ONCE: Once = Once::new();
static mut KEY: libc::pthread_key_t = 0;
/// Whether KEY was created (a flag, ordered by KEY_ONCE, not a protocol).
static KEY_OK: AtomicU32 = AtomicU32::new(0);

/// The calling thread's heap (the empty heap if it has none yet).
#[inline(always)]
pub(crate) fn current() -> *mut Heap {
    slot::get()
}

/// The calling thread's heap, created if needed. Null if the OS has no
/// memory for it.
#[cold]
pub(crate) fn current_or_create() -> *mut Heap {
    let heap = current();
    if heap != empty_heap() {
        return heap;
    }
    KEY_ONCE.call_once(|| {
        // SAFETY: KEY is written once, here, before any reader (call_once
        // orders it before every later call_once return).
        let r = unsafe { libc::pthread_key_create(ptr::addr_of_mut!(KEY), Some(on_thread_exit)) };
        KEY_OK.store(u32::from(r == 0), Ordering::Relaxed);
        config::load();
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
    slot::set(heap);
    // Without a key (the process ran out of keys) the heap is never
    // abandoned: its blocks stay valid and freeable, its pages are not reused.
    if KEY_OK.load(Ordering::Relaxed) == 1 {
        // SAFETY: KEY was created by call_once above; registering a non-null
        // value makes the destructor run for this thread.
        unsafe { libc::pthread_setspecific(KEY, heap.cast()) };
    }
    config::register_exit_hooks();
    heap
}

extern "C" fn on_thread_exit(arg: *mut libc::c_void) {
    let heap = arg.cast::<Heap>();
    if heap.is_null() {
        return;
    }
    // Anything this thread frees from now on goes down the remote path;
    // anything it allocates makes a fresh heap (and re-arms the key).
    slot::set(empty_heap());
    // SAFETY: `heap` is this thread's heap, registered by
    // current_or_create, and no longer reachable from the thread-local.
    unsafe { Heap::abandon(heap) };
}
