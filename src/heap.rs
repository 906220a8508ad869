//! Per-thread heaps.
//!
//! A heap owns segments; their pages serve one size class each. The heap
//! keeps, per class, the page it currently allocates from (`pages`, never
//! null: a sentinel page with an empty free list stands in, so the fast
//! path has no null check) and a queue of pages with free space; pages found
//! full move to one `full` list until a free makes room in them.
//!
//! Only the owning thread touches a heap. Other threads free into its pages
//! through the pages' remote-free lists. When the thread exits, its heap
//! collects what it can, retires empty pages, and abandons segments that
//! still hold live blocks to the arena; a heap that needs a page later adopts
//! them whole.

use crate::os;
use crate::page::{Page, Role, PURGE_BLOCK_MIN};
use crate::remote::{AtomicStack, Linked};
use crate::segment::{segment_of, slot_of, Segment, SegmentKind, SEGMENT_SIZE};
use crate::size_class::{block_size, class_of, direct_slots_of, DIRECT_SLOTS, NUM_CLASSES, SMALL_PAGE_BLOCK_MAX};
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use crate::{check, fault, stats};
use core::mem::size_of;
use core::ptr::{self, addr_of_mut};

/// Default delay before retired pages and cached empty segments go back to
/// the OS.
pub(crate) const DEFAULT_PURGE_DELAY_MS: u64 = 100;
/// Empty segments a heap keeps for reuse before unmapping more.
const SEGMENT_CACHE_MAX: usize = 2;
/// Full pages examined for remote frees before a fresh page is taken.
const FULL_SCAN: usize = 8;
/// How many pages with room `find_page` compares before taking the fullest.
const CANDIDATES: usize = 4;
/// Fresh block memory carved between passes of `Heap::purge_free_blocks`
/// besides the one in every maintenance: a heap that carves new memory
/// while big blocks it freed are still backed gives those back first, so
/// the freed blocks of one class and the new blocks of another are not
/// both resident for a whole maintenance interval. Measured on the
/// benchmark's mixed-size churn, whose first milliseconds free blocks
/// written through and carve blocks written at their start: without it,
/// peak RSS rose about 6 MiB over the fill before the first maintenance.
const PURGE_AFTER_CARVED: usize = 1 << 20;
/// Refills of the current page from its own frees (`Heap::try_reuse`) are
/// granted in rounds; between rounds the refill path looks at the clock
/// and goes through `find_page` (which runs maintenance) once maintenance
/// is due. Each pass through `find_page` grants [`QUICK_REFILLS_MIN`];
/// each round that finds maintenance not due yet doubles the grant, up to
/// [`QUICK_REFILLS_MAX`]. So light allocation, a few refills a second,
/// runs maintenance within a few refills of it being due (the benchmark's
/// remote-burst workload: with a fixed 64 refills and no clock, memory
/// another thread freed sometimes stayed for all of its 300 ms of light
/// allocation), while a tight loop that refills on every pair (a page with
/// one free block) reads the clock once per 1024 refills (a fixed 8 cost
/// such a loop 75%).
const QUICK_REFILLS_MIN: u32 = 8;
const QUICK_REFILLS_MAX: u32 = 1024;
/// Empty segments the arena's shared pool keeps (beyond them, unmapped).
const EMPTY_POOL_MAX: usize = 8;
/// Freed large objects a heap keeps for reuse (until the purge delay).
const LARGE_CACHE_SLOTS: usize = 8;
/// Most bytes of large objects a heap keeps cached.
const LARGE_CACHE_BYTES: usize = 16 << 20;
/// Heaps of exited threads the arena keeps for new threads (beyond them,
/// unmapped): a burst of threads does not leave its heaps resident for good.
const HEAP_POOL_MAX: usize = 64;
/// Most bytes of retired pages a heap keeps backed while they wait out the
/// purge delay; past it they all go back to the OS at once, so a thread that
/// frees a burst and then idles does not sit on it.
const RETAIN_MAX: usize = 8 << 20;

/// Process-wide state shared by all heaps: segments abandoned by exited
/// threads (with live blocks, or empty and kept for reuse), and the memory
/// of heaps whose threads exited, for the next thread to reuse.
pub(crate) struct Arena {
    pub(crate) abandoned: AtomicStack<Segment>,
    /// Memory of heaps whose threads exited (at most HEAP_POOL_MAX).
    pub(crate) heaps: AtomicStack<Heap>,
    heaps_len: AtomicUsize,
    /// Empty segments any heap may take (bounded by EMPTY_POOL_MAX), so
    /// threads reuse each other's memory instead of faulting in fresh pages.
    empty: AtomicStack<Segment>,
    empty_len: AtomicUsize,
}

impl Arena {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Arena {
            abandoned: AtomicStack::new(),
            heaps: AtomicStack::new(),
            heaps_len: AtomicUsize::new(0),
            empty: AtomicStack::new(),
            empty_len: AtomicUsize::new(0),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Arena {
            abandoned: AtomicStack::new(),
            heaps: AtomicStack::new(),
            heaps_len: AtomicUsize::new(0),
            empty: AtomicStack::new(),
            empty_len: AtomicUsize::new(0),
        }
    }
}

impl Arena {
    /// Unmaps every abandoned segment and pooled heap; returns how many
    /// segments still had blocks in use (leaked blocks). For loom models,
    /// which need each execution to end with nothing mapped.
    ///
    /// # Safety
    /// No heap of this arena is live and no block of it is used again.
    #[cfg(loom)]
    pub(crate) unsafe fn release_all(&self) -> usize {
        let mut leaked = 0;
        // SAFETY: everything on the lists is owned by the lists, acquired by
        // take_all; nothing else refers to it (caller's contract).
        unsafe {
            let mut seg = self.abandoned.take_all();
            while !seg.is_null() {
                let next = Segment::next(seg);
                let mut in_use = false;
                for i in 1..(*seg).page_count as usize {
                    let page = Segment::page(seg, i);
                    (*page).collect();
                    in_use |= (*page).local(|l| l.in_use && l.used() > 0);
                }
                leaked += in_use as usize;
                forget_decommitted(seg);
                os::unmap(seg.cast(), (*seg).map_size);
                seg = next;
            }
            let mut seg = self.empty.take_all();
            while !seg.is_null() {
                let next = Segment::next(seg);
                forget_decommitted(seg);
                os::unmap(seg.cast(), (*seg).map_size);
                seg = next;
            }
            let mut heap = self.heaps.take_all();
            while !heap.is_null() {
                let next = Heap::next(heap);
                os::unmap(heap.cast(), HEAP_MAP_SIZE);
                heap = next;
            }
        }
        leaked
    }
}

#[derive(Clone, Copy)]
struct PageQueue {
    first: *mut Page,
    last: *mut Page,
}

const EMPTY_QUEUE: PageQueue = PageQueue {
    first: ptr::null_mut(),
    last: ptr::null_mut(),
};

#[repr(C)]
pub(crate) struct Heap {
    /// Current page per `(size + 7) >> 3` for sizes up to 1 KiB: the fast
    /// path goes from the size to the page without a class lookup
    /// (mimalloc's `pages_free_direct`). Mirrors `pages`.
    direct: [*mut Page; DIRECT_SLOTS],
    /// Current page per class.
    pages: [*mut Page; NUM_CLASSES],
    queues: [PageQueue; NUM_CLASSES],
    full: PageQueue,
    /// Bit `c`: class `c` may have a current page or pages on its queue
    /// (set by `find_page` and adoption, cleared when the heap is
    /// abandoned), so the walks over classes visit only those a thread used
    /// (a thread of a Larson-style churn uses a few dozen of 448).
    classes_used: [u64; CLASS_WORDS],
    /// Owned small and medium segments, linked through `SegmentLocal`.
    segments: *mut Segment,
    /// A segment of each kind likely to have a free page.
    seg_hint: [*mut Segment; 2],
    /// Empty segments kept for reuse, linked through `SegmentLocal::next`.
    cache: *mut Segment,
    cache_len: usize,
    arena: *const Arena,
    /// False only for the shared empty heap (never written).
    live: bool,
    /// Freed large objects kept for reuse, and their mapped bytes.
    large_cache: [*mut Segment; LARGE_CACHE_SLOTS],
    large_cached_bytes: usize,
    /// Link in the arena's pool of free heaps.
    pool_next: UnsafeCell<*mut Heap>,
    purge_delay_ms: u64,
    next_maintenance_ms: u64,
    /// How many more times `alloc_slow` may take the short cut (the
    /// current page's own frees) before going through `find_page`, which
    /// runs maintenance when due and resets it.
    quick_left: u32,
    /// The size of the last grant of refills.
    quick_grant: u32,
    /// Key the free lists of this heap's new pages are encoded with.
    key: usize,
    /// Large objects allocated and freed by this heap since its counts were
    /// last moved to the statistics (plain counters: the large path is too
    /// quick for shared atomics).
    large_allocs: u64,
    large_frees: u64,
    /// Bytes carved into fresh blocks since `purge_free_blocks` last ran.
    carved: usize,
    /// Pages listed in their segments' `sparse_mask`, waiting for
    /// `purge_sparse`.
    sparse_pages: usize,
    /// Bytes of retired, still-backed pages in owned and cached segments
    /// (approximate between purges; exact after `purge_retained`).
    retained: usize,
    /// The sentinel the `pages` slots point at when a class has no page.
    empty: Page,
}

/// Words of `Heap::classes_used`.
const CLASS_WORDS: usize = NUM_CLASSES.div_ceil(64);

/// Adds `class` to `Heap::classes_used` (read back by [`classes_in`]).
fn mark_class(words: &mut [u64; CLASS_WORDS], class: usize) {
    words[class / 64] |= 1 << (class % 64);
}

/// The classes set in a copy of `Heap::classes_used`, in order.
fn classes_in(words: [u64; CLASS_WORDS]) -> impl Iterator<Item = usize> {
    words.into_iter().enumerate().flat_map(|(w, mut bits)| {
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(w * 64 + b)
        })
    })
}

/// A free-list key from a process secret and a heap address (splitmix64's
/// finaliser, so neighbouring heaps get unrelated keys), shaped as
/// `page::Block` needs.
fn free_list_key(secret: u64, addr: usize) -> usize {
    let mut z = secret ^ (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    crate::page::shape_key((z ^ (z >> 31)) as usize)
}

/// How often the slow path runs `maintain`: a quarter of the purge delay,
/// so memory due goes back at most a quarter late and big free blocks are
/// purged while a churn is under way.
fn maintenance_interval(purge_delay_ms: u64) -> u64 {
    (purge_delay_ms / 4).max(1)
}

/// Bytes mapped for one heap.
const HEAP_MAP_SIZE: usize = size_of::<Heap>().next_multiple_of(os::OS_PAGE);

impl Heap {
    /// The value of a heap that owns nothing and whose every class misses:
    /// the starting point of a thread's heap pointer, and the shape `create`
    /// writes. `this` is the heap's own address (for the sentinel links).
    #[cfg(not(loom))]
    pub(crate) const fn empty_at(this: *const Heap, arena: *const Arena) -> Heap {
        // SAFETY (no unsafe here): only the address of the field is taken.
        let sentinel = this.cast::<u8>().wrapping_add(core::mem::offset_of!(Heap, empty)) as *mut Page;
        Heap {
            direct: [sentinel; DIRECT_SLOTS],
            pages: [sentinel; NUM_CLASSES],
            queues: [EMPTY_QUEUE; NUM_CLASSES],
            full: EMPTY_QUEUE,
            classes_used: [0; CLASS_WORDS],
            segments: ptr::null_mut(),
            seg_hint: [ptr::null_mut(); 2],
            cache: ptr::null_mut(),
            cache_len: 0,
            arena,
            live: false,
            large_cache: [ptr::null_mut(); LARGE_CACHE_SLOTS],
            large_cached_bytes: 0,
            pool_next: UnsafeCell::new(ptr::null_mut()),
            purge_delay_ms: DEFAULT_PURGE_DELAY_MS,
            next_maintenance_ms: 0,
            quick_left: 0,
            quick_grant: 0,
            key: 0,
            large_allocs: 0,
            large_frees: 0,
            carved: 0,
            sparse_pages: 0,
            retained: 0,
            empty: Page::new(ptr::null_mut(), ptr::null_mut()),
        }
    }

    /// Initialises a heap in memory from the arena's pool, or mapped fresh.
    /// Its free-list key is derived from `secret` and its address. Null when
    /// the OS has no memory.
    ///
    /// # Safety
    /// `arena` is live and outlives the heap.
    pub(crate) unsafe fn create(arena: *const Arena, purge_delay_ms: u64, secret: u64) -> *mut Heap {
        // SAFETY: the arena is live (caller's contract).
        let mut heap = unsafe { Heap::from_pool(arena) };
        if heap.is_null() {
            heap = os::map(HEAP_MAP_SIZE).cast::<Heap>();
        }
        if heap.is_null() {
            return heap;
        }
        // SAFETY: `heap` is HEAP_MAP_SIZE >= size_of::<Heap>() bytes, page
        // aligned, that nothing else refers to (fresh, or taken from the pool).
        unsafe { Heap::init_in_place(heap, arena, purge_delay_ms, secret) };
        heap
    }

    /// Writes a new heap's every field where it lives. Not `heap.write(Heap
    /// { .. })`: that builds the ~20 KiB value on the stack first (a 27 KiB
    /// frame, and on a new thread, whose stack glibc gave back to the OS
    /// when the thread before it exited, five page faults on the stack
    /// probes alone: in the Larson benchmark, 18% of all page faults).
    ///
    /// # Safety
    /// `heap` is `size_of::<Heap>()` writable bytes, aligned, that nothing
    /// else refers to; `arena` is live and outlives the heap.
    unsafe fn init_in_place(heap: *mut Heap, arena: *const Arena, purge_delay_ms: u64, secret: u64) {
        // Every field, by name (a compile error here when a field is added
        // and not written below).
        #[allow(dead_code)]
        fn every_field(h: &Heap) {
            let Heap {
                direct: _,
                pages: _,
                queues: _,
                full: _,
                classes_used: _,
                segments: _,
                seg_hint: _,
                cache: _,
                cache_len: _,
                arena: _,
                live: _,
                large_cache: _,
                large_cached_bytes: _,
                pool_next: _,
                purge_delay_ms: _,
                next_maintenance_ms: _,
                quick_left: _,
                quick_grant: _,
                key: _,
                large_allocs: _,
                large_frees: _,
                carved: _,
                sparse_pages: _,
                retained: _,
                empty: _,
            } = h;
        }
        macro_rules! set {
            ($field:ident, $value:expr) => {
                addr_of_mut!((*heap).$field).write($value)
            };
        }
        // SAFETY: every write is to a field of the caller's `heap`, which
        // nothing else refers to; the table loops stay inside their arrays.
        unsafe {
            // A debug build poisons the memory first, so a field missed
            // below reads as garbage in every test, not as the zero of a
            // fresh mapping.
            #[cfg(debug_assertions)]
            ptr::write_bytes(heap.cast::<u8>(), 0xa5, size_of::<Heap>());
            let sentinel = addr_of_mut!((*heap).empty);
            set!(empty, Page::new(ptr::null_mut(), ptr::null_mut()));
            let direct = addr_of_mut!((*heap).direct).cast::<*mut Page>();
            for i in 0..DIRECT_SLOTS {
                direct.add(i).write(sentinel);
            }
            let pages = addr_of_mut!((*heap).pages).cast::<*mut Page>();
            let queues = addr_of_mut!((*heap).queues).cast::<PageQueue>();
            for i in 0..NUM_CLASSES {
                pages.add(i).write(sentinel);
                queues.add(i).write(EMPTY_QUEUE);
            }
            set!(full, EMPTY_QUEUE);
            set!(classes_used, [0; CLASS_WORDS]);
            set!(segments, ptr::null_mut());
            set!(seg_hint, [ptr::null_mut(); 2]);
            set!(cache, ptr::null_mut());
            set!(cache_len, 0);
            set!(arena, arena);
            set!(live, true);
            set!(large_cache, [ptr::null_mut(); LARGE_CACHE_SLOTS]);
            set!(large_cached_bytes, 0);
            set!(pool_next, UnsafeCell::new(ptr::null_mut()));
            set!(purge_delay_ms, purge_delay_ms.max(1));
            set!(next_maintenance_ms, os::now_ms() + maintenance_interval(purge_delay_ms));
            set!(quick_left, 0);
            set!(quick_grant, 0);
            set!(key, free_list_key(secret, heap as usize));
            set!(large_allocs, 0);
            set!(large_frees, 0);
            set!(carved, 0);
            set!(sparse_pages, 0);
            set!(retained, 0);
        }
    }

    /// Takes a heap's memory from the arena's pool: the whole pool at once
    /// (no single-node pop, so no ABA), the rest pushed back.
    ///
    /// # Safety
    /// `arena` is live.
    unsafe fn from_pool(arena: *const Arena) -> *mut Heap {
        // SAFETY: nodes of the pool are free heaps, acquired by take_all.
        unsafe {
            let first = (*arena).heaps.take_all();
            if first.is_null() {
                return first;
            }
            (*arena).heaps.push_list(Heap::next(first));
            (*arena).heaps_len.fetch_sub(1, Ordering::Relaxed);
            first
        }
    }

    /// The current page for `size` (at most 1 KiB), from the direct table.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (or a never-written empty heap)
    /// and `slot` is `direct_slot(size)` of a size up to 1 KiB.
    #[inline(always)]
    pub(crate) unsafe fn direct_page(heap: *mut Heap, slot: usize) -> *mut Page {
        // SAFETY: the slot is in range (caller's contract).
        unsafe { *(*heap).direct.get_unchecked(slot) }
    }

    /// The current page of `class`.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (or a never-written empty heap)
    /// and `class < NUM_CLASSES`.
    #[inline(always)]
    pub(crate) unsafe fn class_page(heap: *mut Heap, class: usize) -> *mut Page {
        // SAFETY: the class is in range (caller's contract).
        unsafe { *(*heap).pages.get_unchecked(class) }
    }

    /// The first step of every miss: when `page`, the current page of a
    /// class, has an empty `free` list but the owner's own frees on
    /// `local_free` (most recently used memory first), or else blocks other
    /// threads freed, takes those as the new list and pops, up to
    /// `quick_left` times between passes through `find_page`; null
    /// otherwise (see [`Page::reuse_freed`]). A miss that only needs this
    /// refill costs about 20 instructions, not a pass through `find_page`.
    ///
    /// The exported allocation paths up to 1 KiB call it out of line
    /// (`alloc::malloc_miss`), so a hit runs straight through without a
    /// taken branch; they hand over the page the fast path just read, so
    /// the refill's stores have their address at once. Measured on C pair
    /// loops through the shared library: jumping over an inline refill on
    /// every hit cost 8% at 16-64 bytes, and looking the page up again in
    /// the out-of-line refill doubled the time of a 1 KiB loop (the frees'
    /// loads run ahead of the refill's stores). Above 1 KiB
    /// (`alloc::malloc_medium`, already out of line) it stays inline:
    /// out of line it cost 15% on 4 KB pairs.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (or a never-written empty heap,
    /// whose `quick_left` is 0) and `page` its current page of a class.
    #[inline(always)]
    pub(crate) unsafe fn try_reuse(heap: *mut Heap, page: *mut Page) -> *mut u8 {
        // SAFETY: the current page is owned by the calling thread; the
        // empty heap is only read.
        unsafe {
            if (*heap).quick_left == 0 || !(*page).reuse_freed() {
                return ptr::null_mut();
            }
            (*heap).quick_left -= 1;
            (*page).pop()
        }
    }

    /// [`Heap::try_reuse`] after a grant of more refills, when it had none
    /// left and maintenance is not due yet; null otherwise (the caller then
    /// goes through `find_page`, which runs maintenance).
    ///
    /// # Safety
    /// As for [`Heap::try_reuse`].
    #[inline]
    pub(crate) unsafe fn try_reuse_renewed(heap: *mut Heap, page: *mut Page) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            if Heap::renew_quick_refills(heap) {
                Heap::try_reuse(heap, page)
            } else {
                ptr::null_mut()
            }
        }
    }

    /// When [`Heap::try_reuse`] has no refills left: grants more unless
    /// maintenance is due, and returns whether it did.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (or the never-written empty
    /// heap, whose `next_maintenance_ms` is 0: never renewed, only read).
    #[inline]
    unsafe fn renew_quick_refills(heap: *mut Heap) -> bool {
        // SAFETY: the heap is the caller's; the empty heap is not written.
        unsafe {
            if (*heap).quick_left != 0 || os::now_ms() >= (*heap).next_maintenance_ms {
                return false;
            }
            let grant = ((*heap).quick_grant * 2).clamp(QUICK_REFILLS_MIN, QUICK_REFILLS_MAX);
            (*heap).quick_grant = grant;
            (*heap).quick_left = grant;
            true
        }
    }

    /// Moves `page`, a page of `class` on its queue, to the queue's front
    /// and makes it the current page.
    ///
    /// # Safety
    /// As for `set_current`, with `page` not the sentinel.
    unsafe fn make_current(heap: *mut Heap, class: usize, page: *mut Page) {
        // SAFETY: forwarded.
        unsafe {
            let q = addr_of_mut!((*heap).queues[class]);
            queue_remove(q, page);
            queue_push_front(q, page);
            (*page).set_role(Role::Current);
            Heap::set_current(heap, class, page);
        }
    }

    /// Makes `page` the current page of `class` (in both tables).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `page`
    /// is its sentinel or a page of `class` on its queue; `class < NUM_CLASSES`.
    unsafe fn set_current(heap: *mut Heap, class: usize, page: *mut Page) {
        // SAFETY: the heap is owned by the calling thread.
        unsafe {
            (*heap).pages[class] = page;
            for i in direct_slots_of(class) {
                (*heap).direct[i] = page;
            }
        }
    }

    /// Allocates a block of `class` on the fast path; null on a miss.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (or a never-written empty heap)
    /// and `class < NUM_CLASSES`.
    #[inline(always)]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn try_alloc(heap: *mut Heap, class: usize) -> *mut u8 {
        // SAFETY: `pages` slots always point at a page of this heap or at its
        // sentinel, both owned by the calling thread; class is in range.
        unsafe { (*Heap::class_page(heap, class)).pop() }
    }

    /// Whether the block about to be popped from `class`'s current page is
    /// zero but for its first word (for `alloc_zeroed`).
    ///
    /// # Safety
    /// As for `try_alloc`.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn next_is_zero(heap: *mut Heap, class: usize) -> bool {
        // SAFETY: as for try_alloc.
        unsafe { (*(*heap).pages[class]).local(|l| l.free_is_zero && !l.free.is_null()) }
    }

    /// Frees `p` from the calling thread, whose heap is `heap` (which may
    /// be an empty heap).
    ///
    /// # Safety
    /// `p` was returned by this allocator and is live; `heap` is the calling
    /// thread's heap.
    #[inline(always)]
    pub(crate) unsafe fn free(heap: *mut Heap, p: *mut u8) {
        let slot = slot_of(p);
        // SAFETY: `p` lies in a live segment (caller's contract), whose
        // header holds `slot`. A slot owned by our heap is the descriptor
        // of `p`'s page, and the page is ours (see `segment`).
        unsafe {
            if (*slot).is_owned_by(heap) {
                if (*slot).push_local(p) {
                    // (The slow path finds the page again from `p`, so the
                    // fast path keeps the page address in its addressing.)
                    #[cfg(not(loom))]
                    free_slot_slow(p, heap);
                    #[cfg(loom)]
                    Heap::free_local_slow(heap, slot);
                }
            } else {
                #[cfg(not(loom))]
                free_other(p, heap);
                #[cfg(loom)]
                Heap::free_other(p, heap);
            }
        }
    }

    /// Frees a block the fast path cannot: one of another heap (or of
    /// none), a large object, or a block of our own beyond the first 64 KiB
    /// of a medium page. (`p` first: it stays in the register it came in.)
    ///
    /// # Safety
    /// As for [`Heap::free`], and `heap` does not own the slot of `p`.
    #[cold]
    unsafe fn free_other(p: *mut u8, heap: *mut Heap) {
        let slot = slot_of(p);
        // SAFETY: `p` lies in a live segment (caller's contract). A slot
        // with an owner heads `p`'s page (see `segment`); the owner is not
        // us (the caller checked), so the block goes to the page's remote
        // list, as `free_remote` would push it, without reading the
        // segment header (whose line the owner writes when its pages come
        // and go).
        unsafe {
            if !(*slot).owner().is_null() {
                (*slot).push_remote(p);
                return;
            }
        }
        let seg = segment_of(p);
        // SAFETY: `p` lies in a live segment (caller's contract). When the
        // segment's owner is our heap, so is every page of it.
        unsafe {
            if (*seg).owner() == heap {
                let page = Segment::page_of(seg, p);
                if (*page).push_local(p) {
                    Heap::free_local_slow(heap, page);
                }
            } else if (*seg).kind == SegmentKind::Large {
                Heap::free_large(heap, seg);
            } else {
                Heap::free_remote(seg, p);
            }
        }
    }

    /// Frees a block of a segment another heap owns (or none does), or a
    /// large object.
    ///
    /// # Safety
    /// `p` is a live block in `seg`, not used afterwards.
    #[inline(never)]
    pub(crate) unsafe fn free_remote(seg: *mut Segment, p: *mut u8) {
        // SAFETY: a large object owns its mapping. Otherwise the block keeps
        // its page in use (`used` counts it) until the owner collects it, so
        // the descriptor is live; the push hands the block to the owner.
        unsafe {
            if (*seg).kind == SegmentKind::Large {
                stats::record_large(0, 1);
                crate::large::free(seg);
                return;
            }
            let page = Segment::page_of(seg, p);
            (*page).push_remote(p);
        }
    }

    /// Allocates a large object, reusing a mapping this heap cached when one
    /// fits. Returns the block (null on failure) and whether it is known to
    /// be zeroed (fresh from the OS).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap).
    pub(crate) unsafe fn alloc_large(heap: *mut Heap, size: usize, align: usize) -> (*mut u8, bool) {
        let Some(need) = crate::large::map_size_for(size, align) else {
            return (ptr::null_mut(), false);
        };
        // SAFETY: the heap is the caller's; cached segments are unused
        // mappings owned by it.
        unsafe {
            if (*heap).live && (*heap).large_cached_bytes > 0 {
                for i in 0..LARGE_CACHE_SLOTS {
                    let seg = (*heap).large_cache[i];
                    if !seg.is_null() && (*seg).map_size >= need && (*seg).map_size - need <= need / 2 {
                        (*heap).large_cache[i] = ptr::null_mut();
                        (*heap).large_cached_bytes -= (*seg).map_size;
                        (*heap).large_allocs += 1;
                        return (crate::large::reuse(seg, size, align), false);
                    }
                }
            }
        }
        let p = crate::large::alloc(size, align);
        if !p.is_null() {
            // SAFETY: the heap is the caller's (possibly the never-written
            // empty heap, which is only read).
            if unsafe { (*heap).live } {
                // SAFETY: a live heap, owned by the calling thread.
                unsafe { (*heap).large_allocs += 1 };
            } else {
                stats::record_large(1, 0);
            }
        }
        (p, true)
    }

    /// Frees a large object: kept in the heap's cache for reuse (until the
    /// purge delay passes) when there is room, else unmapped.
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap); `seg`
    /// is the header of a dead large object nobody uses again.
    #[cold]
    unsafe fn free_large(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: the object is dead and its mapping ours; the heap is the
        // calling thread's.
        unsafe {
            if (*heap).live {
                (*heap).large_frees += 1;
            } else {
                stats::record_large(0, 1);
            }
            let size = (*seg).map_size;
            if (*heap).live && (*heap).large_cached_bytes + size <= LARGE_CACHE_BYTES {
                if let Some(slot) = (*heap).large_cache.iter().position(|s| s.is_null()) {
                    // Unstamped: the next maintenance stamps it (no clock
                    // read on the free path), so it waits out the delay
                    // plus at most one maintenance interval.
                    Segment::local(seg, |l| l.emptied_at = 0);
                    (*heap).large_cache[slot] = seg;
                    (*heap).large_cached_bytes += size;
                    return;
                }
            }
            crate::large::free(seg);
        }
    }

    /// Moves the heap's large-object counts to the statistics.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn flush_large_counts(heap: *mut Heap) {
        // SAFETY: the heap is the caller's.
        unsafe {
            let (a, f) = (
                core::mem::take(&mut (*heap).large_allocs),
                core::mem::take(&mut (*heap).large_frees),
            );
            if a != 0 || f != 0 {
                stats::record_large(a, f);
            }
        }
    }

    /// Unmaps cached large objects older than `delay` (all with `delay` 0
    /// and `now` u64::MAX). A cached object's age counts from the first
    /// call that sees it (`free_large` does not read the clock).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn trim_large_cache(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: cached mappings are the heap's.
        unsafe {
            for i in 0..LARGE_CACHE_SLOTS {
                let seg = (*heap).large_cache[i];
                if seg.is_null() {
                    continue;
                }
                let at = Segment::local(seg, |l| {
                    if l.emptied_at == 0 {
                        l.emptied_at = now.max(1);
                    }
                    l.emptied_at
                });
                if now.saturating_sub(at) >= delay {
                    (*heap).large_cache[i] = ptr::null_mut();
                    (*heap).large_cached_bytes -= (*seg).map_size;
                    crate::large::free(seg);
                }
            }
        }
    }

    /// The owner freed a block and the page became unused, sits on the
    /// full list, or became sparse (fewer than half its blocks in use, see
    /// `Page::take_sparse_watch`: listed for `purge_sparse`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages.
    #[cold]
    pub(crate) unsafe fn free_local_slow(heap: *mut Heap, page: *mut Page) {
        // SAFETY: `page` belongs to `heap`, owned by the calling thread.
        unsafe {
            let (class, used, in_full) = (*page).local(|l| (l.class as usize, l.used(), l.in_full));
            let used = if fault::injected(fault::Fault::RetireIgnoresRemote) {
                used.saturating_sub(1)
            } else {
                used
            };
            if in_full {
                queue_remove(addr_of_mut!((*heap).full), page);
                (*page).set_role(Role::Queued);
                queue_push_front(addr_of_mut!((*heap).queues[class]), page);
            }
            if used == 0 && (*heap).pages[class] != page {
                queue_remove(addr_of_mut!((*heap).queues[class]), page);
                if Heap::retire_page(heap, page, os::now_ms()) {
                    Heap::release_segment(heap, segment_of(page.cast()), os::now_ms(), SEGMENT_CACHE_MAX);
                }
            } else {
                Heap::note_sparse(heap, page);
            }
        }
    }

    /// The slow path of `alloc`: find or make a page with a free block.
    ///
    /// # Safety
    /// As for `alloc`.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn alloc_slow(heap: *mut Heap, class: usize) -> *mut u8 {
        // SAFETY: forwarded; the page returned has a free block.
        unsafe {
            // The fast path also comes here when the current page's head
            // block fails its check: pop it again, reporting.
            let current = (*heap).pages[class];
            if (*current).has_free() {
                return (*current).pop_checked();
            }
            let page = Heap::find_page(heap, class);
            if page.is_null() {
                return ptr::null_mut();
            }
            (*page).pop_checked()
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES`.
    unsafe fn find_page(heap: *mut Heap, class: usize) -> *mut Page {
        // SAFETY: all pages and segments reached here are owned by `heap`,
        // which the calling thread owns.
        unsafe {
            mark_class(&mut (*heap).classes_used, class);
            let now = os::now_ms();
            if now >= (*heap).next_maintenance_ms && (*heap).next_maintenance_ms != 0 {
                Heap::maintain(heap, now);
            }
            (*heap).quick_left = QUICK_REFILLS_MIN;
            (*heap).quick_grant = QUICK_REFILLS_MIN;
            let sentinel = addr_of_mut!((*heap).empty);
            let old = (*heap).pages[class];
            if old != sentinel {
                count(old);
                (*old).set_role(Role::Queued);
            }
            Heap::set_current(heap, class, sentinel);
            let q = addr_of_mut!((*heap).queues[class]);
            // 1. The page just in use, if its own or other threads' frees gave
            // it blocks again.
            if old != sentinel {
                (*old).collect();
                if (*old).has_free() {
                    Heap::make_current(heap, class, old);
                    return old;
                }
            }
            loop {
                // 2. Pages of this class with room: of the first CANDIDATES,
                // the one with the most blocks in use, so emptier pages drain
                // and can be retired (and their memory serve any class)
                // rather than each class keeping the pages of its own peak;
                // unused ones are retired. Measured on the benchmark's
                // mixed-size churn: about 5 MiB lower peak than taking the
                // first page with room.
                let mut best: *mut Page = ptr::null_mut();
                let mut best_used = 0;
                let mut seen = 0;
                let mut page = (*q).first;
                while !page.is_null() && seen < CANDIDATES {
                    let next = (*page).local(|l| l.next);
                    (*page).collect();
                    let (has_room, used) = (*page).local(|l| (l.has_room(), l.used()));
                    if !has_room {
                        queue_remove(q, page);
                        (*page).set_role(Role::Full);
                        queue_push_back(addr_of_mut!((*heap).full), page);
                        page = next;
                        continue;
                    }
                    seen += 1;
                    // (Remote frees reach a page here: a page only other
                    // threads free into goes sparse here, not on a free.)
                    Heap::note_sparse(heap, page);
                    if best.is_null() || used > best_used {
                        if !best.is_null() && best_used == 0 {
                            Heap::retire_unused(heap, q, best, now);
                        }
                        (best, best_used) = (page, used);
                    } else if used == 0 {
                        Heap::retire_unused(heap, q, page, now);
                    }
                    page = next;
                }
                if !best.is_null() {
                    if !(*best).has_free() {
                        Heap::carve(heap, best);
                    }
                    Heap::make_current(heap, class, best);
                    return best;
                }
                // 3. a few full pages may have been freed into by others.
                Heap::scan_full(heap, FULL_SCAN, now);
                if !(*q).first.is_null() {
                    continue;
                }
                // 4. segments abandoned by exited threads.
                if Heap::adopt(heap, now) {
                    continue;
                }
                // 5. a fresh page.
                let page = Heap::new_page(heap, class, now);
                if page.is_null() {
                    return page;
                }
                queue_push_front(q, page);
                Heap::carve(heap, page);
                (*page).set_role(Role::Current);
                Heap::set_current(heap, class, page);
                return page;
            }
        }
    }

    /// Carves the next run of `page` (see `Page::extend`), first giving
    /// back the big blocks freed since the last pass, and the free OS pages
    /// of the pages that became sparse, once [`PURGE_AFTER_CARVED`] fresh
    /// bytes were carved.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages.
    unsafe fn carve(heap: *mut Heap, page: *mut Page) {
        // SAFETY: forwarded from the caller.
        unsafe {
            if (*heap).carved >= PURGE_AFTER_CARVED {
                Heap::purge_free_blocks(heap);
                Heap::purge_sparse(heap, page);
            }
            (*heap).carved += (*page).extend();
        }
    }

    /// Examines up to `limit` pages of the full list (all when `limit` is
    /// `usize::MAX`): pages freed into go back to their class queue, unused
    /// ones are retired.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn scan_full(heap: *mut Heap, limit: usize, now: u64) {
        // SAFETY: pages on the full list belong to `heap`.
        unsafe {
            let full = addr_of_mut!((*heap).full);
            let mut page = (*full).first;
            let mut n = 0;
            while !page.is_null() && n < limit {
                n += 1;
                let next = (*page).local(|l| l.next);
                if (*page).collect() > 0 || (*page).local(|l| !l.free.is_null()) {
                    queue_remove(full, page);
                    (*page).set_role(Role::Queued);
                    let (class, used) = (*page).local(|l| (l.class as usize, l.used()));
                    if used == 0 {
                        if Heap::retire_page(heap, page, now) {
                            Heap::release_segment(heap, segment_of(page.cast()), now, SEGMENT_CACHE_MAX);
                        }
                    } else {
                        queue_push_back(addr_of_mut!((*heap).queues[class]), page);
                        Heap::note_sparse(heap, page);
                    }
                } else if limit != usize::MAX {
                    // Still full: look at others first next time.
                    queue_remove(full, page);
                    queue_push_back(full, page);
                }
                page = next;
            }
        }
    }

    /// Takes a free page from an owned segment (or a new one) and sets it up
    /// for `class`.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `class < NUM_CLASSES`.
    unsafe fn new_page(heap: *mut Heap, class: usize, now: u64) -> *mut Page {
        let bs = block_size(class);
        let kind = if bs <= SMALL_PAGE_BLOCK_MAX {
            SegmentKind::Small
        } else {
            SegmentKind::Medium
        };
        // SAFETY: segments reached belong to `heap`.
        unsafe {
            let seg = Heap::segment_with_free_page(heap, kind, now);
            if seg.is_null() {
                return ptr::null_mut();
            }
            let i = Segment::local(seg, |l| {
                let i = l.free_mask.trailing_zeros() as usize;
                l.free_mask &= !(1u64 << i);
                l.used_pages += 1;
                i
            });
            let page = Segment::page(seg, i);
            let size = 1usize << (*seg).page_shift;
            let retained = (*page).local(|l| l.retained());
            (*heap).retained = (*heap).retained.saturating_sub(retained);
            check::page_set_up(seg, i, bs);
            if (*page).init(class, bs, size, (*heap).key) {
                stats::OS_DECOMMITTED.add(-(size as i64));
                Segment::local(seg, |l| l.decommitted -= size as u32);
            }
            page
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `kind` is small or medium.
    unsafe fn segment_with_free_page(heap: *mut Heap, kind: SegmentKind, now: u64) -> *mut Segment {
        // SAFETY: segments on the heap's lists belong to it.
        unsafe {
            let k = kind as usize;
            let hint = (*heap).seg_hint[k];
            if !hint.is_null() && Segment::local(hint, |l| l.free_mask != 0) {
                return hint;
            }
            let mut seg = (*heap).segments;
            while !seg.is_null() {
                let (free, next) = Segment::local(seg, |l| (l.free_mask, l.next));
                if (*seg).kind == kind && free != 0 {
                    (*heap).seg_hint[k] = seg;
                    return seg;
                }
                seg = next;
            }
            // Reuse a cached empty segment of this kind, else map one.
            let mut prev: *mut Segment = ptr::null_mut();
            let mut c = (*heap).cache;
            while !c.is_null() {
                let next = Segment::local(c, |l| l.next);
                if (*c).kind == kind {
                    if prev.is_null() {
                        (*heap).cache = next;
                    } else {
                        Segment::local(prev, |l| l.next = next);
                    }
                    (*heap).cache_len -= 1;
                    Heap::link_segment(heap, c);
                    (*heap).seg_hint[k] = c;
                    return c;
                }
                prev = c;
                c = next;
            }
            let _ = now;
            let pooled = Heap::take_empty(heap, kind);
            if !pooled.is_null() {
                (*heap).retained += Heap::segment_retained(pooled);
                Heap::link_segment(heap, pooled);
                (*heap).seg_hint[k] = pooled;
                return pooled;
            }
            let base = os::map_aligned(SEGMENT_SIZE, SEGMENT_SIZE);
            if base.is_null() {
                return ptr::null_mut();
            }
            if base as usize + SEGMENT_SIZE > crate::remote::ADDRESS_LIMIT {
                // Pages count their remote frees in the top bits of the
                // list head (see `remote::CountedStack`): a segment the
                // kernel placed above 2^48 (only when asked to) is refused
                // like memory the OS does not have.
                // SAFETY: the mapping made just above; nothing refers to it.
                os::unmap(base, SEGMENT_SIZE);
                return ptr::null_mut();
            }
            // (The settings are not compiled into the loom models.)
            #[cfg(not(loom))]
            if crate::config::huge_pages() {
                // SAFETY: the segment's mapping, made just above.
                os::advise_huge_pages(base, SEGMENT_SIZE);
            }
            let seg = Segment::init(base, kind, heap, false);
            check::segment_mapped(seg);
            Heap::link_segment(heap, seg);
            (*heap).seg_hint[k] = seg;
            seg
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is owned by it and on none of its lists.
    unsafe fn link_segment(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: `seg` is owned by `heap` and on none of its lists.
        unsafe {
            let head = (*heap).segments;
            Segment::local(seg, |l| {
                l.prev = ptr::null_mut();
                l.next = head;
            });
            if !head.is_null() {
                Segment::local(head, |l| l.prev = seg);
            }
            (*heap).segments = seg;
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is on its segment list.
    unsafe fn unlink_segment(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: `seg` is on `heap`'s segment list.
        unsafe {
            let (prev, next) = Segment::local(seg, |l| (l.prev, l.next));
            if prev.is_null() {
                (*heap).segments = next;
            } else {
                Segment::local(prev, |l| l.next = next);
            }
            if !next.is_null() {
                Segment::local(next, |l| l.prev = prev);
            }
            for h in &mut (*heap).seg_hint {
                if *h == seg {
                    *h = ptr::null_mut();
                }
            }
        }
    }

    /// Returns an unused page (on no queue) to its segment. Returns true when
    /// the segment has no page in use left.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `page`
    /// is one of its pages, on no queue, with `used() == 0` after `collect`.
    unsafe fn retire_page(heap: *mut Heap, page: *mut Page, now: u64) -> bool {
        // SAFETY: the page and its segment belong to `heap`; `used == 0`
        // (checked by the callers) proves no block of it is out.
        unsafe {
            let seg = segment_of(page.cast());
            let i = Segment::page_index(seg, page);
            count(page);
            (*page).reset(now);
            let listed = Segment::local(seg, |l| {
                let listed = l.sparse_mask >> i & 1 != 0;
                l.sparse_mask &= !(1u64 << i);
                listed
            });
            if listed {
                (*heap).sparse_pages -= 1;
            }
            if (*heap).next_maintenance_ms == 0 {
                (*heap).next_maintenance_ms = now + maintenance_interval((*heap).purge_delay_ms);
            }
            (*heap).retained += (*page).local(|l| l.retained());
            if (*heap).retained > RETAIN_MAX {
                Heap::purge_retained(heap, now);
            }
            (*heap).seg_hint[(*seg).kind as usize] = seg;
            Segment::local(seg, |l| {
                l.free_mask |= 1u64 << i;
                l.used_pages -= 1;
                l.used_pages == 0
            })
        }
    }

    /// Takes an unused page off its class queue `q` and retires it (and its
    /// segment, if that has no page in use left).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `page` is on `q`, collected, with `used() == 0`, and is not current.
    unsafe fn retire_unused(heap: *mut Heap, q: *mut PageQueue, page: *mut Page, now: u64) {
        // SAFETY: forwarded; a segment released here holds no page the
        // caller still walks (each of those is in use or on a queue).
        unsafe {
            queue_remove(q, page);
            if Heap::retire_page(heap, page, now) {
                Heap::release_segment(heap, segment_of(page.cast()), now, SEGMENT_CACHE_MAX);
            }
        }
    }

    /// An owned segment has no page in use: keep it in the heap's cache
    /// (up to `cache_max` segments) or give it back to the OS and pool it.
    /// A heap that is exiting passes no bound: `abandon` pools its whole
    /// cache without purging it, as the pooled segments' retired pages are
    /// purged by the next maintenance after the delay. (Given back at once,
    /// each segment a thread left empty at exit cost the next thread to
    /// carve there a page fault per 4 KiB: in the Larson benchmark, most
    /// of midl-alloc's page faults and a tenth of its time.)
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is on its segment list with no page in use.
    unsafe fn release_segment(heap: *mut Heap, seg: *mut Segment, now: u64, cache_max: usize) {
        // SAFETY: `seg` is owned by `heap`, on its segment list, with no page
        // in use, so no other thread can reach it.
        unsafe {
            Heap::unlink_segment(heap, seg);
            if (*heap).cache_len < cache_max {
                let head = (*heap).cache;
                Segment::local(seg, |l| {
                    l.next = head;
                    l.emptied_at = now.max(1);
                });
                (*heap).cache = seg;
                (*heap).cache_len += 1;
            } else {
                // The heap is shrinking past its cache: what it gives away
                // goes back to the OS now rather than sit in the shared pool.
                let released = Heap::purge_free_pages(seg, now, 0);
                (*heap).retained = (*heap).retained.saturating_sub(released);
                Heap::give_empty(heap, seg);
            }
        }
    }

    /// Hands an empty segment (on none of the heap's lists) to the arena's
    /// pool, or unmaps it when the pool is full.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// is an empty segment of it on none of its lists.
    unsafe fn give_empty(heap: *mut Heap, seg: *mut Segment) {
        // SAFETY: the segment is empty and ours; the Release push hands it
        // (and its state) to whichever heap takes it.
        unsafe {
            let arena = (*heap).arena;
            if (*arena).empty_len.load(Ordering::Relaxed) >= EMPTY_POOL_MAX {
                forget_decommitted(seg);
                check::segment_unmapped(seg);
                os::unmap(seg.cast(), (*seg).map_size);
                return;
            }
            (*arena).empty_len.fetch_add(1, Ordering::Relaxed);
            Segment::set_owner(seg, ptr::null_mut());
            (*arena).empty.push(seg);
        }
    }

    /// Takes an empty segment from the arena's pool for a page of `kind`
    /// (one of that kind if there is one, else another set up anew), or
    /// null. Takes the whole pool and pushes the rest back: no ABA.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread;
    /// `kind` is small or medium.
    unsafe fn take_empty(heap: *mut Heap, kind: SegmentKind) -> *mut Segment {
        // SAFETY: the Acquire take makes the giving heaps' writes visible;
        // the segments are then ours until pushed back (Release).
        unsafe {
            let arena = (*heap).arena;
            if (*arena).empty.is_empty_hint() {
                return ptr::null_mut();
            }
            let first = (*arena).empty.take_all();
            if first.is_null() {
                return first;
            }
            // Pick one of `kind`, else the first; unlink it from the chain.
            let (mut prev, mut cur) = (ptr::null_mut::<Segment>(), first);
            let (mut pick_prev, mut pick) = (ptr::null_mut::<Segment>(), first);
            while !cur.is_null() {
                if (*cur).kind == kind {
                    (pick_prev, pick) = (prev, cur);
                    break;
                }
                prev = cur;
                cur = Segment::next(cur);
            }
            let after = Segment::next(pick);
            let rest = if pick_prev.is_null() {
                after
            } else {
                Segment::set_next(pick_prev, after);
                first
            };
            (*arena).empty.push_list(rest);
            (*arena).empty_len.fetch_sub(1, Ordering::Relaxed);
            if (*pick).kind != kind {
                // Set up for the other kind; what its pages held is unknown,
                // so every page counts as dirty (and as committed).
                forget_decommitted(pick);
                return Segment::init(pick.cast(), kind, heap, true);
            }
            Segment::set_owner(pick, heap);
            pick
        }
    }

    /// Purges the free pages of pooled empty segments that waited `delay`.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn purge_pool(heap: *mut Heap, now: u64, delay: u64) {
        // SAFETY: as in take_empty: the taken segments are ours until pushed
        // back.
        unsafe {
            let arena = (*heap).arena;
            if (*arena).empty.is_empty_hint() {
                return;
            }
            let first = (*arena).empty.take_all();
            if first.is_null() {
                return;
            }
            let mut last = first;
            loop {
                Heap::purge_free_pages(last, now, delay);
                let next = Segment::next(last);
                if next.is_null() {
                    break;
                }
                last = next;
            }
            (*arena).empty.push_chain(first, last);
        }
    }

    /// Periodic work from the slow path: adopt abandoned segments, collect
    /// full pages, return retired pages and cached segments that waited long
    /// enough to the OS.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn maintain(heap: *mut Heap, now: u64) {
        // SAFETY: everything reached belongs to `heap`.
        unsafe {
            let delay = (*heap).purge_delay_ms;
            (*heap).next_maintenance_ms = now + maintenance_interval(delay);
            // Segments left by exited threads: their blocks freed since can
            // only go back to the OS once some heap owns them again.
            Heap::adopt(heap, now);
            Heap::scan_full(heap, usize::MAX, now);
            Heap::retire_unused_current(heap, now);
            Heap::trim_large_cache(heap, now, delay);
            Heap::purge_free_blocks(heap);
            Heap::purge_sparse(heap, ptr::null_mut());
            Heap::flush_large_counts(heap);
            let mut seg = (*heap).segments;
            while !seg.is_null() {
                let next = Segment::local(seg, |l| l.next);
                let released = Heap::purge_free_pages(seg, now, delay);
                (*heap).retained = (*heap).retained.saturating_sub(released);
                seg = next;
            }
            let mut prev: *mut Segment = ptr::null_mut();
            let mut c = (*heap).cache;
            while !c.is_null() {
                let (next, at) = Segment::local(c, |l| (l.next, l.emptied_at));
                if now.saturating_sub(at) >= delay {
                    if prev.is_null() {
                        (*heap).cache = next;
                    } else {
                        Segment::local(prev, |l| l.next = next);
                    }
                    (*heap).cache_len -= 1;
                    (*heap).retained = (*heap).retained.saturating_sub(Heap::segment_retained(c));
                    Heap::give_empty(heap, c);
                } else {
                    prev = c;
                }
                c = next;
            }
            Heap::purge_pool(heap, now, delay);
        }
    }

    /// Retires the current pages that have no block in use and were not
    /// allocated from since the last maintenance. A current page is kept
    /// while unused so an alloc/free loop does not retire and set up a page
    /// on every pair; a class the program stopped using gives its page
    /// (and the dirty free blocks in it) back one interval later. Measured
    /// on the benchmark's mixed-size churn, whose program frees everything
    /// at the end: 448 classes' current pages kept 34 MiB after 300 ms of
    /// light allocation.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn retire_unused_current(heap: *mut Heap, now: u64) {
        // SAFETY: current pages belong to `heap`; a page is retired only
        // when `used() == 0` after collecting it, and is taken off its
        // queue and out of both tables first.
        unsafe {
            let sentinel = addr_of_mut!((*heap).empty);
            for class in classes_in((*heap).classes_used) {
                let page = (*heap).pages[class];
                if page == sentinel {
                    continue;
                }
                (*page).collect();
                let (used, allocs) = (*page).local(|l| (l.used(), l.allocs()));
                if used != 0 || allocs != 0 {
                    // (Its counts go to the statistics, so `allocs` tells
                    // at the next maintenance whether it was used since.)
                    count(page);
                    continue;
                }
                Heap::set_current(heap, class, sentinel);
                (*page).set_role(Role::Queued);
                Heap::retire_unused(heap, addr_of_mut!((*heap).queues[class]), page, now);
            }
        }
    }

    /// Purges the free pages of `seg` retired at least `delay` ms ago;
    /// returns the retained bytes that went back.
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    unsafe fn purge_free_pages(seg: *mut Segment, now: u64, delay: u64) -> usize {
        let mut released = 0;
        // Adjacent due pages go back in one call: (start, bytes) of the run.
        let mut run: (*mut u8, usize) = (ptr::null_mut(), 0);
        // SAFETY: `seg` is owned by the caller; free pages hold no live data.
        unsafe {
            let mut mask = Segment::local(seg, |l| l.free_mask);
            let size = 1usize << (*seg).page_shift;
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let page = Segment::page(seg, i);
                let due =
                    (*page).local(|l| l.retired_at != 0 && l.dirty != 0 && now.saturating_sub(l.retired_at) >= delay);
                if !due {
                    continue;
                }
                released += (*page).local(|l| l.retained());
                let newly = (*page).local(|l| {
                    l.dirty = 0;
                    l.retired_at = 0;
                    !core::mem::replace(&mut l.decommitted, true)
                });
                if newly {
                    stats::OS_DECOMMITTED.add(size as i64);
                    Segment::local(seg, |l| l.decommitted += size as u32);
                }
                if run.1 != 0 && run.0.add(run.1) == (*page).start {
                    run.1 += size;
                } else {
                    if run.1 != 0 {
                        os::purge(run.0, run.1);
                    }
                    run = ((*page).start, size);
                }
            }
            if run.1 != 0 {
                os::purge(run.0, run.1);
            }
        }
        released
    }

    /// Gives back the memory of big free blocks in the pages the heap
    /// allocates from (classes of at least `PURGE_BLOCK_MIN` bytes).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn purge_free_blocks(heap: *mut Heap) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            (*heap).carved = 0;
            for class in classes_in((*heap).classes_used).filter(|&c| c >= class_of(PURGE_BLOCK_MIN)) {
                let mut page = (*heap).queues[class].first;
                while !page.is_null() {
                    (*page).purge_free_blocks();
                    page = (*page).local(|l| l.next);
                }
            }
        }
    }

    /// Lists `page` for `purge_sparse` if it is a queued page whose use
    /// fell below half since it was last allocated from (see
    /// `Page::take_sparse_watch`).
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread and
    /// `page` is one of its pages, in use.
    unsafe fn note_sparse(heap: *mut Heap, page: *mut Page) {
        // SAFETY: forwarded; the page's segment is owned by `heap`.
        unsafe {
            if (*page).take_sparse_watch() {
                let seg = segment_of(page.cast());
                let bit = 1u64 << Segment::page_index(seg, page);
                Segment::local(seg, |l| l.sparse_mask |= bit);
                (*heap).sparse_pages += 1;
            }
        }
    }

    /// Gives back the free OS pages of the pages listed as sparse (see
    /// `Page::purge_sparse`), except `keep` (the page about to be carved),
    /// which stays listed. Walks the segment list only while pages are
    /// listed.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn purge_sparse(heap: *mut Heap, keep: *mut Page) {
        // SAFETY: the listed pages are pages of the heap's segments (a page
        // is unlisted when retired, and abandoning a heap clears the lists).
        unsafe {
            let mut seg = (*heap).segments;
            while !seg.is_null() && (*heap).sparse_pages != 0 {
                let (next, mut mask) = Segment::local(seg, |l| (l.next, core::mem::take(&mut l.sparse_mask)));
                while mask != 0 {
                    let i = mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let page = Segment::page(seg, i);
                    if page == keep {
                        Segment::local(seg, |l| l.sparse_mask |= 1u64 << i);
                        continue;
                    }
                    (*heap).sparse_pages -= 1;
                    let class = (*page).local(|l| l.class as usize);
                    if (*heap).pages[class] != page {
                        (*page).collect();
                        (*page).purge_sparse();
                    }
                }
                seg = next;
            }
        }
    }

    /// Retained bytes of the free pages of `seg`.
    ///
    /// # Safety
    /// The calling thread owns `seg` (a small or medium segment).
    unsafe fn segment_retained(seg: *mut Segment) -> usize {
        // SAFETY: `seg` is owned by the caller.
        unsafe {
            let mut mask = Segment::local(seg, |l| l.free_mask);
            let mut bytes = 0;
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                bytes += (*Segment::page(seg, i)).local(|l| l.retained());
            }
            bytes
        }
    }

    /// Gives every retired page of the heap's owned and cached segments back
    /// to the OS now, whatever the delay.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    #[cold]
    unsafe fn purge_retained(heap: *mut Heap, now: u64) {
        // SAFETY: the segments reached belong to `heap`.
        unsafe {
            for list in [(*heap).segments, (*heap).cache] {
                let mut seg = list;
                while !seg.is_null() {
                    Heap::purge_free_pages(seg, now, 0);
                    seg = Segment::local(seg, |l| l.next);
                }
            }
            (*heap).retained = 0;
        }
    }

    /// Adopts every abandoned segment. Returns whether there were any.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread.
    unsafe fn adopt(heap: *mut Heap, now: u64) -> bool {
        // SAFETY: the Acquire swap in take_all makes the abandoning thread's
        // writes to the segments visible; from then on they are ours.
        unsafe {
            if (*(*heap).arena).abandoned.is_empty_hint() {
                return false;
            }
            let mut seg = (*(*heap).arena).abandoned.take_all();
            if seg.is_null() {
                return false;
            }
            while !seg.is_null() {
                let next = Segment::next(seg);
                Heap::adopt_segment(heap, seg, now);
                stats::SEGMENTS_ADOPTED.add(1);
                seg = next;
            }
            true
        }
    }

    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `seg`
    /// was just taken from the arena's abandoned list.
    unsafe fn adopt_segment(heap: *mut Heap, seg: *mut Segment, now: u64) {
        // SAFETY: the segment was acquired from the abandoned list.
        unsafe {
            Segment::set_owner(seg, heap);
            Heap::link_segment(heap, seg);
            (*heap).retained += Heap::segment_retained(seg);
            for i in 1..(*seg).page_count as usize {
                let page = Segment::page(seg, i);
                if !(*page).local(|l| l.in_use) {
                    continue;
                }
                (*page).collect();
                count(page);
                let (class, used, room) = (*page).local(|l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                    (l.class as usize, l.used(), l.has_room())
                });
                mark_class(&mut (*heap).classes_used, class);
                if used == 0 {
                    Heap::retire_page(heap, page, now);
                } else if room {
                    (*page).set_role(Role::Queued);
                    queue_push_back(addr_of_mut!((*heap).queues[class]), page);
                } else {
                    (*page).set_role(Role::Full);
                    queue_push_back(addr_of_mut!((*heap).full), page);
                }
            }
            if Segment::local(seg, |l| l.used_pages == 0) {
                Heap::release_segment(heap, seg, now, SEGMENT_CACHE_MAX);
            } else if Segment::local(seg, |l| l.free_mask != 0) {
                (*heap).seg_hint[(*seg).kind as usize] = seg;
            }
        }
    }

    /// Releases a heap whose thread is exiting: empty pages are retired,
    /// cached large objects unmapped, every segment (empty ones for reuse,
    /// others with their live blocks) abandoned to the arena, and the heap's
    /// memory put in the arena's pool.
    ///
    /// # Safety
    /// `heap` was made by `create`, is owned by the calling thread, and is
    /// never used again.
    pub(crate) unsafe fn abandon(heap: *mut Heap) {
        // SAFETY: the calling thread owns everything reached until it
        // publishes a segment to the arena (Release).
        unsafe {
            let now = os::now_ms();
            for class in classes_in((*heap).classes_used) {
                Heap::set_current(heap, class, addr_of_mut!((*heap).empty));
                Heap::drain_queue(heap, addr_of_mut!((*heap).queues[class]), now);
            }
            (*heap).classes_used = [0; CLASS_WORDS];
            Heap::drain_queue(heap, addr_of_mut!((*heap).full), now);
            Heap::trim_large_cache(heap, u64::MAX, 0);
            Heap::flush_large_counts(heap);
            // Empty cached segments go to the arena's pool, for the next
            // heap to reuse instead of mapping fresh ones.
            let mut c = (*heap).cache;
            while !c.is_null() {
                let next = Segment::local(c, |l| l.next);
                Heap::give_empty(heap, c);
                c = next;
            }
            (*heap).cache = ptr::null_mut();
            (*heap).cache_len = 0;
            let arena = (*heap).arena;
            let delay = (*heap).purge_delay_ms;
            let mut seg = (*heap).segments;
            while !seg.is_null() {
                let next = Segment::local(seg, |l| {
                    l.sparse_mask = 0;
                    l.next
                });
                let early = fault::injected(fault::Fault::AbandonBeforeDone);
                if early {
                    (*arena).abandoned.push(seg);
                }
                Heap::purge_free_pages(seg, now, delay);
                Segment::local(seg, |l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                });
                Segment::set_owner(seg, ptr::null_mut());
                if !early {
                    (*arena).abandoned.push(seg);
                }
                stats::SEGMENTS_ABANDONED.add(1);
                seg = next;
            }
            (*heap).segments = ptr::null_mut();
            (*heap).sparse_pages = 0;
            (*heap).live = false;
            if (*arena).heaps_len.fetch_add(1, Ordering::Relaxed) < HEAP_POOL_MAX {
                (*arena).heaps.push(heap);
            } else {
                (*arena).heaps_len.fetch_sub(1, Ordering::Relaxed);
                os::unmap(heap.cast(), HEAP_MAP_SIZE);
            }
        }
    }

    /// Moves the counts of every page of the heap to the process-wide
    /// statistics (for a reader on the heap's own thread).
    ///
    /// # Safety
    /// `heap` is the calling thread's heap (possibly the empty heap).
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) unsafe fn flush_counts(heap: *mut Heap) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            if !(*heap).live {
                return;
            }
            Heap::flush_large_counts(heap);
            let full = addr_of_mut!((*heap).full);
            let queues = classes_in((*heap).classes_used).map(move |c| addr_of_mut!((*heap).queues[c]));
            for q in queues.chain(core::iter::once(full)) {
                let mut page = (*q).first;
                while !page.is_null() {
                    // Blocks other threads freed count once collected.
                    (*page).collect();
                    count(page);
                    page = (*page).local(|l| l.next);
                }
            }
        }
    }

    /// Collects every page of queue `q`, retiring the unused ones (and
    /// releasing segments left empty); the rest stay in use, unlinked.
    ///
    /// # Safety
    /// `heap` is a live heap (from `create`) owned by the calling thread; `q`
    /// is one of its queues.
    unsafe fn drain_queue(heap: *mut Heap, q: *mut PageQueue, now: u64) {
        // SAFETY: pages on the heap's queues belong to it.
        unsafe {
            let mut page = (*q).first;
            while !page.is_null() {
                let next = (*page).local(|l| l.next);
                (*page).collect();
                count(page);
                (*page).set_role(Role::Queued);
                let used = (*page).local(|l| {
                    l.prev = ptr::null_mut();
                    l.next = ptr::null_mut();
                    l.used()
                });
                if used == 0 && Heap::retire_page(heap, page, now) {
                    Heap::release_segment(heap, segment_of(page.cast()), now, usize::MAX);
                }
                page = next;
            }
            *q = EMPTY_QUEUE;
        }
    }
}

impl Linked for Heap {
    unsafe fn next(this: *mut Self) -> *mut Self {
        // SAFETY: `this` is a pooled heap acquired by the caller.
        unsafe { (*this).pool_next.with(|p| *p) }
    }

    unsafe fn set_next(this: *mut Self, next: *mut Self) {
        // SAFETY: `this` is a free heap owned by the caller.
        unsafe { (*this).pool_next.with_mut(|p| *p = next) }
    }
}

/// Drops a segment's given-back bytes from the statistics before it is
/// unmapped or set up anew.
///
/// # Safety
/// The calling thread owns `seg`, a small or medium segment.
unsafe fn forget_decommitted(seg: *mut Segment) {
    // SAFETY: owner-only access (caller's contract).
    let bytes = unsafe { Segment::local(seg, |l| core::mem::take(&mut l.decommitted)) };
    stats::OS_DECOMMITTED.add(-(bytes as i64));
}

/// Moves a page's counts to the process-wide statistics.
///
/// # Safety
/// The calling thread owns the page, which is in use.
unsafe fn count(page: *mut Page) {
    // SAFETY: forwarded.
    unsafe {
        let c = (*page).take_counts();
        stats::record((*page).local(|l| l.class as usize), c);
    }
}

/// # Safety
/// The calling thread owns the queue and the page, which is on no queue.
unsafe fn queue_push_front(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and the page, which is on no queue.
    unsafe {
        let first = (*q).first;
        (*page).local(|l| {
            l.prev = ptr::null_mut();
            l.next = first;
        });
        if first.is_null() {
            (*q).last = page;
        } else {
            (*first).local(|l| l.prev = page);
        }
        (*q).first = page;
    }
}

/// # Safety
/// The calling thread owns the queue and the page, which is on no queue.
unsafe fn queue_push_back(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and the page, which is on no queue.
    unsafe {
        let last = (*q).last;
        (*page).local(|l| {
            l.prev = last;
            l.next = ptr::null_mut();
        });
        if last.is_null() {
            (*q).first = page;
        } else {
            (*last).local(|l| l.next = page);
        }
        (*q).last = page;
    }
}

/// # Safety
/// The calling thread owns the queue and the page, which is on it.
unsafe fn queue_remove(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and `page` is on it.
    unsafe {
        let (prev, next) = (*page).local(|l| {
            let links = (l.prev, l.next);
            l.prev = ptr::null_mut();
            l.next = ptr::null_mut();
            links
        });
        if prev.is_null() {
            (*q).first = next;
        } else {
            (*prev).local(|l| l.next = next);
        }
        if next.is_null() {
            (*q).last = prev;
        } else {
            (*next).local(|l| l.prev = prev);
        }
    }
}

/// [`Heap::free_local_slow`] for the page in whose descriptor slot `p`
/// lies, behind the C ABI: it cannot unwind, so `MIDL_user_free` and the
/// other exported functions reach it with a tail call and need no stack
/// frame. Under loom the fast path calls `Heap::free_local_slow` itself,
/// since the expected-failure models panic through it.
///
/// # Safety
/// `heap` is the calling thread's heap and owns the page whose descriptor
/// is `slot_of(p)`, which `p` (a block of it) was just pushed to.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
unsafe extern "C" fn free_slot_slow(p: *mut u8, heap: *mut Heap) {
    // SAFETY: forwarded.
    unsafe { Heap::free_local_slow(heap, slot_of(p)) }
}

/// [`Heap::free_other`] behind the C ABI, for the same reason as
/// [`free_slot_slow`].
///
/// # Safety
/// As for [`Heap::free`].
#[cfg(not(loom))]
#[cold]
#[inline(never)]
unsafe extern "C" fn free_other(p: *mut u8, heap: *mut Heap) {
    // SAFETY: forwarded.
    unsafe { Heap::free_other(p, heap) }
}
