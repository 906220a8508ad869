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

//!
//! The heap's code, by concept: this file (the heap's state, its tables
//! and their fast-path readers, creation), `find` (the allocation slow
//! path), `free` (free dispatch), `segments` (owned segments and page
//! retirement), `purge` (maintenance, memory return and the retained
//! cap's rules), `large_cache`,
//! `remote_batch` (frees of other heaps' blocks, published a page's
//! chain at a time) and `abandon` (thread exit, adoption, statistics
//! flushes).

mod abandon;
mod find;
mod free;
mod free_check;
mod large_cache;
mod purge;
mod remote_batch;
mod segments;

use super::arena::Arena;
use super::block::shape_key;
use super::check;
use super::layout::{Owner, SEGMENT_SIZE};
use super::os;
use super::page::{Page, Role, PURGE_BLOCK_MIN};
use super::page_queue::{queue_push_back, queue_push_front, queue_remove, PageQueue, EMPTY_QUEUE};
use super::retain::RETAIN_MAX;
use super::segment::{segment_of, slot_of, Segment, SegmentKind};
use super::segment_map;
use crate::base::bits::{div_ceil, mix64, ones, round_up};
use crate::base::fault::{self, Fault};
use crate::base::sync::{model_const_fn, MODEL_CHECKING};
use crate::ds::config::{self, DEFAULT_PURGE_DELAY_MS};
use crate::ds::size_class::{block_size, class_of, direct_slots_of, DIRECT_SLOTS, NUM_CLASSES, SMALL_PAGE_BLOCK_MAX};
use crate::ds::stack::Linked;
use crate::ds::stats;
use core::mem::{align_of, size_of};
use core::ptr::{self, addr_of_mut};
/// Empty segments a heap keeps for reuse before unmapping more.
const SEGMENT_CACHE_MAX: usize = 2;
/// Full pages examined for remote frees before a fresh page is taken.
const FULL_SCAN: usize = 8;
/// How many pages with room `find_page` compares before taking the fullest.
const CANDIDATES: usize = 4;
/// Fresh block memory carved between passes of `Heap::purge_sparse` besides
/// the one in every maintenance: a heap that carves new memory while pages
/// it left sparse are still backed gives their free OS pages back first.
/// (Big free blocks were given back on this trigger too, which kept the
/// benchmark's mixed-size churn about 6 MiB lower at its peak, until the
/// purge churn it caused was measured: see `Heap::carve`.)
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
/// Freed large objects a heap keeps for reuse (until the purge delay).
const LARGE_CACHE_SLOTS: usize = 8;
/// Most bytes of large objects a heap keeps cached.
const LARGE_CACHE_BYTES: usize = 16 << 20;
#[repr(C)]
pub(crate) struct Heap {
    /// A segment on this heap's list that a free checked against the
    /// segment map, or null: a free into it skips the map (see `free`).
    /// Cleared when the segment leaves the list (`unlink_segment`,
    /// abandonment), so it is always mapped; never written in the empty
    /// heap (no page is its).
    checked: *mut Segment,
    /// Current page per size for sizes up to 1 KiB (indexed by the size
    /// itself, see `size_class::DIRECT_SLOTS`): the fast path goes from the
    /// size to the page without a class lookup (mimalloc's
    /// `pages_free_direct`). Mirrors `pages`.
    direct: [*mut Page; DIRECT_SLOTS],
    /// Current page per class.
    pages: [*mut Page; NUM_CLASSES],
    queues: [PageQueue; NUM_CLASSES],
    /// Everything else the heap keeps (one field list, written whole).
    state: State,
    /// The sentinel the `pages` slots point at when a class has no page.
    empty: Page,
}

/// The part of a heap beside its tables and its sentinel page: small
/// enough to be built as a value (see [`State::new`]).
struct State {
    full: PageQueue,
    /// Bit `c`: class `c` may have a current page or pages on its queue
    /// (set by `find_page` and adoption, cleared when the heap is
    /// abandoned), so the walks over classes visit only those a thread used
    /// (a thread of a Larson-style churn uses a few dozen of 128).
    classes_used: [u64; CLASS_WORDS],
    /// Owned small and medium segments, linked through `SegmentLocal`.
    segments: *mut Segment,
    /// A segment of each kind likely to have a free page.
    seg_hint: [*mut Segment; SegmentKind::SLAB_KINDS],
    /// Empty segments kept for reuse, linked through `SegmentLocal::next`.
    cache: *mut Segment,
    cache_len: usize,
    arena: *const Arena,
    /// False only for the shared empty heap (never written).
    live: bool,
    /// Freed large objects kept for reuse, and their mapped bytes.
    large_cache: [*mut Segment; LARGE_CACHE_SLOTS],
    large_cached_bytes: usize,
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
    /// Bytes of blocks this heap handed out, and of its blocks freed (by
    /// any thread, counted when collected), as their pages' counts are
    /// taken; large objects at their ranges' size, freed ones counted by
    /// the freeing thread. Plain: the heap's own.
    thread_allocated: u64,
    thread_freed: u64,
    /// Bytes carved into fresh blocks since the carve path last purged.
    carved: usize,
    /// Pages listed in their segments' `sparse_mask`, waiting for
    /// `purge_sparse`.
    sparse_pages: usize,
    /// Bytes of retired, still-backed pages in owned and cached segments
    /// (approximate between purges; exact after `purge_retained`).
    retained: usize,
    /// Bytes of the heap's pages in use (set up and not retired; see
    /// `retain_cap`).
    in_use: usize,
    /// The least `retain_cap` gives, and the multiple of the purge delay
    /// its memory waits out ([`decay_delay`]): [`RETAIN_MAX`], doubled (to
    /// at most [`RETAIN_CEILING`]) each time the heap faults in again half
    /// of it within [`REFAULT_WINDOW_DELAYS`] of giving pages back
    /// (`Heap::note_refault`); halved at maintenance after ten of its
    /// delays without that.
    retain_floor: usize,
    /// When the heap last gave retired pages back, by the cap or at
    /// maintenance (0: none waiting for `Heap::note_refault` to judge).
    gave_back_ms: u64,
    /// Bytes of given-back pages set up again since a give-back opened the
    /// window (`gave_back_ms`).
    refaulted: usize,
    /// When `retain_floor` last changed.
    floor_ms: u64,
    /// When the heap was set up (see `retain_cap`).
    created_ms: u64,
    /// Blocks of another heap's page freed by this thread and not yet
    /// published to the page (`remote_batch`).
    remote: remote_batch::RemoteBatch,
    /// For the empty heap: makes the calling thread's heap, for a thread
    /// that frees other heaps' blocks before it has one (so its frees are
    /// batched too); `None` in a live heap and where no such maker is given.
    create: Option<fn() -> *mut Heap>,
}

impl State {
    model_const_fn! {
        /// A heap's state before it owns anything.
        fn new(
            arena: *const Arena,
            live: bool,
            purge_delay_ms: u64,
            next_maintenance_ms: u64,
            key: usize,
            created_ms: u64,
        ) -> State {
            State {
                full: EMPTY_QUEUE,
                classes_used: [0; CLASS_WORDS],
                segments: ptr::null_mut(),
                seg_hint: [ptr::null_mut(); SegmentKind::SLAB_KINDS],
                cache: ptr::null_mut(),
                cache_len: 0,
                arena,
                live,
                large_cache: [ptr::null_mut(); LARGE_CACHE_SLOTS],
                large_cached_bytes: 0,
                purge_delay_ms,
                next_maintenance_ms,
                quick_left: 0,
                quick_grant: 0,
                key,
                large_allocs: 0,
                large_frees: 0,
                thread_allocated: 0,
                thread_freed: 0,
                carved: 0,
                sparse_pages: 0,
                retained: 0,
                in_use: 0,
                retain_floor: RETAIN_MAX,
                gave_back_ms: 0,
                refaulted: 0,
                floor_ms: 0,
                created_ms,
                remote: remote_batch::RemoteBatch::EMPTY,
                create: None,
            }
        }
    }
}

/// Words of `Heap::classes_used`.
const CLASS_WORDS: usize = div_ceil(NUM_CLASSES, 64);

/// Adds `class` to `Heap::classes_used` (read back by [`classes_in`]).
fn mark_class(words: &mut [u64; CLASS_WORDS], class: usize) {
    words[class / 64] |= 1 << (class % 64);
}

/// The classes set in a copy of `Heap::classes_used`, in order.
fn classes_in(words: [u64; CLASS_WORDS]) -> impl Iterator<Item = usize> {
    words
        .into_iter()
        .enumerate()
        .flat_map(|(w, bits)| ones(bits).map(move |b| w * 64 + b))
}

/// A free-list key from a process secret and a heap address (splitmix64's
/// finaliser, so neighbouring heaps get unrelated keys), shaped as
/// `page::Block` needs.
fn free_list_key(secret: u64, addr: usize) -> usize {
    shape_key(mix64(secret ^ (addr as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize)
}

/// How often the slow path runs `maintain`: a quarter of the purge delay,
/// so memory due goes back at most a quarter late and big free blocks are
/// purged while a churn is under way.
fn maintenance_interval(purge_delay_ms: u64) -> u64 {
    (purge_delay_ms / 4).max(1)
}

/// Bytes mapped for one heap.
pub(crate) const HEAP_MAP_SIZE: usize = round_up(size_of::<Heap>(), os::OS_PAGE);

/// Where `Heap::empty` lies in a heap: past the fields before it, each
/// placed at the next multiple of its alignment, as `repr(C)` lays them
/// out. (Rust 1.63, the Windows build's compiler, has no `offset_of!`; the
/// unit tests check this against it.)
const EMPTY_OFFSET: usize = {
    let direct = size_of::<[*mut Page; DIRECT_SLOTS]>();
    let pages = round_up(direct, align_of::<[*mut Page; NUM_CLASSES]>()) + size_of::<[*mut Page; NUM_CLASSES]>();
    let queues = round_up(pages, align_of::<[PageQueue; NUM_CLASSES]>()) + size_of::<[PageQueue; NUM_CLASSES]>();
    let state = round_up(queues, align_of::<State>()) + size_of::<State>();
    round_up(state, align_of::<Page>())
};

impl Heap {
    model_const_fn! {
        /// The value of a heap that owns nothing and whose every class
        /// misses, never written: the starting point of every thread's heap
        /// pointer (see `global::thread`). `this` is the heap's own address
        /// (for the sentinel links).
        pub(crate) fn empty_at(this: *const Heap, arena: *const Arena, create: Option<fn() -> *mut Heap>) -> Heap {
            // (No unsafe here: only the address of the field is computed.)
            let sentinel = this.cast::<u8>().wrapping_add(EMPTY_OFFSET) as *mut Page;
            let mut state = State::new(arena, false, DEFAULT_PURGE_DELAY_MS, 0, 0, 0);
            state.create = create;
            Heap {
                checked: ptr::null_mut(),
                direct: [sentinel; DIRECT_SLOTS],
                pages: [sentinel; NUM_CLASSES],
                queues: [EMPTY_QUEUE; NUM_CLASSES],
                state,
                empty: Page::new(ptr::null_mut(), ptr::null_mut()),
            }
        }
    }

    /// The heap as its pages and segments record their owner.
    #[inline(always)]
    pub(crate) fn owner_id(heap: *mut Heap) -> *mut Owner {
        heap.cast()
    }

    /// Initialises a heap in memory from the arena's pool, or mapped fresh.
    /// Its free-list key is derived from `secret` and its address. Null when
    /// the OS has no memory.
    ///
    /// # Safety
    /// `arena` is live and outlives the heap.
    pub(crate) unsafe fn create(arena: *const Arena, purge_delay_ms: u64, secret: u64) -> *mut Heap {
        // SAFETY: the arena is live (caller's contract).
        let mut heap = unsafe { (*arena).take_heap() }.cast::<Heap>();
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

    /// Writes a new heap where it lives. Not `heap.write(Heap { .. })`:
    /// that builds the ~20 KiB value on the stack first (a 27 KiB frame,
    /// and on a new thread, whose stack glibc gave back to the OS when the
    /// thread before it exited, five page faults on the stack probes alone:
    /// in the Larson benchmark, 18% of all page faults). The tables are
    /// written in place, the rest as one [`State`].
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
                checked: _,
                direct: _,
                pages: _,
                queues: _,
                state: _,
                empty: _,
            } = h;
        }
        let now = os::now_ms();
        let next_maintenance_ms = now + maintenance_interval(purge_delay_ms);
        let key = free_list_key(secret, heap as usize);
        // SAFETY: every write is to a field of the caller's `heap`, which
        // nothing else refers to; the table loops stay inside their arrays.
        unsafe {
            // A debug build poisons the memory first, so a field missed
            // below reads as garbage in every test, not as the zero of a
            // fresh mapping.
            #[cfg(debug_assertions)]
            ptr::write_bytes(heap.cast::<u8>(), 0xa5, size_of::<Heap>());
            addr_of_mut!((*heap).checked).write(ptr::null_mut());
            let sentinel = addr_of_mut!((*heap).empty);
            sentinel.write(Page::new(ptr::null_mut(), ptr::null_mut()));
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
            addr_of_mut!((*heap).state).write(State::new(
                arena,
                true,
                purge_delay_ms.max(1),
                next_maintenance_ms,
                key,
                now,
            ));
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
            if (*heap).state.quick_left == 0 || !(*page).reuse_freed() {
                return ptr::null_mut();
            }
            (*heap).state.quick_left -= 1;
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
            if (*heap).state.quick_left != 0 || os::now_ms() >= (*heap).state.next_maintenance_ms {
                return false;
            }
            // A changed purge delay setting is taken in `find_page`, which
            // reschedules maintenance by it.
            if !MODEL_CHECKING && config::purge_delay_ms().max(1) != (*heap).state.purge_delay_ms {
                return false;
            }
            let grant = ((*heap).state.quick_grant * 2).clamp(QUICK_REFILLS_MIN, QUICK_REFILLS_MAX);
            (*heap).state.quick_grant = grant;
            (*heap).state.quick_left = grant;
            true
        }
    }

    /// Moves `page`, a page of `class` on its queue, to the queue's front
    /// and makes it the current page.
    ///
    /// # Safety
    /// As for `set_current`, with `page` not the sentinel.
    pub(super) unsafe fn make_current(heap: *mut Heap, class: usize, page: *mut Page) {
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
    pub(super) unsafe fn set_current(heap: *mut Heap, class: usize, page: *mut Page) {
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
    pub(crate) unsafe fn next_is_zero(heap: *mut Heap, class: usize) -> bool {
        // SAFETY: as for try_alloc.
        unsafe { (*(*heap).pages[class]).local(|l| l.free_is_zero && !l.free.is_null()) }
    }
}

/// Moves a page's counts to the process-wide statistics and the heap's
/// per-thread byte counters.
///
/// # Safety
/// The calling thread owns the page, which is in use, and `heap`.
unsafe fn count(heap: *mut Heap, page: *mut Page) {
    // SAFETY: forwarded; the heap is the calling thread's.
    unsafe {
        let c = (*page).take_counts();
        let class = (*page).local(|l| l.class as usize);
        stats::record(class, c);
        if (*heap).state.live {
            let size = block_size(class) as u64;
            (*heap).state.thread_allocated += c.allocs as u64 * size;
            (*heap).state.thread_freed += c.frees as u64 * size;
        }
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
