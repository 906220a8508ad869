//! Loom models of every lock-free protocol in midl-alloc, run against the
//! allocator's own code (its `sync` facade switches to loom under
//! `--cfg loom`). Each model has expected-failure twins that switch on a
//! deliberate fault and must be caught, so no model passes vacuously.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p loom-tests --release -- --test-threads=1`
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering as LoomOrdering};
use loom::sync::Arc;
use loom::thread;
use midl_alloc::loom_api::{
    free_remote, os_mapped, set_fault, Arena, Fault, HeapHandle, PoolList, RemoteList, RpcCursor, RpcRegistry,
    NODE_BYTES, RPC_S_INVALID_ARG, RPC_S_OK,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Loom's DPOR remembers only the last access to each atomic, so an
/// interleaving in which one thread's load is followed by another thread's
/// load-then-CAS is not found by itself; the models `yield_now()` right after
/// spawning so the other order is scheduled first and explored from there.
///
/// Faults and the OS-mapping counter are process-wide: one model at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `model` under loom with `fault` switched on. A model that loom
/// explores in fewer than `min_executions` interleavings fails: it would be
/// checking nothing concurrent.
fn check(fault: Option<Fault>, min_executions: usize, model: fn()) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    set_fault(fault);
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            set_fault(None);
        }
    }
    let _reset = Reset;
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    RUNS.store(0, Ordering::Relaxed);
    builder.check(move || {
        RUNS.fetch_add(1, Ordering::Relaxed);
        // The model's main thread has loom's default coroutine stack, too
        // small for the heaps the models build: run it on a thread with room.
        if let Err(panic) = spawn_roomy(model).join() {
            std::panic::resume_unwind(panic);
        }
    });
    let runs = RUNS.load(Ordering::Relaxed);
    eprintln!("loom explored {runs} executions");
    assert!(
        runs >= min_executions,
        "only {runs} executions explored (want >= {min_executions}): the model is not exercising concurrency"
    );
}

/// Stack for model threads that make or abandon heaps: loom's default
/// coroutine stack is 32 KiB, and the depth of the allocator's slow paths
/// under loom's instrumentation is not bounded by anything here.
const ROOMY_STACK: usize = 1 << 20;

/// `thread::spawn` with a [`ROOMY_STACK`].
fn spawn_roomy<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(f: F) -> thread::JoinHandle<T> {
    thread::Builder::new().stack_size(ROOMY_STACK).spawn(f).unwrap()
}

// ---------------------------------------------------------------------------
// 1. The remote-free list: pushers race an owner that drains it.

#[repr(C, align(16))]
struct Node([u8; NODE_BYTES]);

fn node() -> usize {
    Box::into_raw(Box::new(Node([0; NODE_BYTES]))) as usize
}

fn model_remote_list() {
    let list = Arc::new(RemoteList::new());
    let nodes: Vec<usize> = (0..3).map(|_| node()).collect();
    let pushers: Vec<_> = [vec![nodes[0], nodes[1]], vec![nodes[2]]]
        .into_iter()
        .map(|mine| {
            let list = list.clone();
            thread::spawn(move || {
                for n in mine {
                    // SAFETY: each node is pushed once, by its owner.
                    unsafe { list.push(n as *mut u8) };
                }
            })
        })
        .collect();
    // The owner drains while the pushes are under way.
    let mut got = list.take_all();
    thread::yield_now();
    got.extend(list.take_all());
    for p in pushers {
        p.join().unwrap();
    }
    got.extend(list.take_all());
    got.sort_unstable();
    let mut want = nodes.clone();
    want.sort_unstable();
    assert_eq!(got, want, "a block was lost or collected twice");
    for n in nodes {
        // SAFETY: made by `node`, no longer in any list.
        drop(unsafe { Box::from_raw(n as *mut Node) });
    }
}

/// The arena's pools (heaps of exited threads, empty segments): a taker
/// takes the whole list, keeps one node and pushes the rest back (one CAS
/// when the list is still empty, else after walking to the chain's end)
/// while another thread pushes and takes too. Every node ends up taken
/// or still listed, exactly once.
fn model_pool_take_one() {
    let list = Arc::new(PoolList::new());
    let nodes: Vec<usize> = (0..4).map(|_| node()).collect();
    for &n in &nodes[..3] {
        // SAFETY: each node is pushed once, by its owner.
        unsafe { list.push(n as *mut u8) };
    }
    let other = {
        let list = list.clone();
        let n = nodes[3];
        thread::spawn(move || {
            // SAFETY: pushed once, by its owner.
            unsafe { list.push(n as *mut u8) };
            list.take_one()
        })
    };
    let mut got: Vec<usize> = list.take_one().into_iter().collect();
    got.extend(other.join().unwrap());
    got.extend(list.take_all());
    got.sort_unstable();
    let mut want = nodes.clone();
    want.sort_unstable();
    assert_eq!(got, want, "a pooled node was lost or taken twice");
    for n in nodes {
        // SAFETY: made by `node`, no longer in any list.
        drop(unsafe { Box::from_raw(n as *mut Node) });
    }
}

#[test]
fn pool_takes_every_node_exactly_once() {
    check(None, 2, model_pool_take_one);
}

#[test]
fn remote_list_collects_every_block_exactly_once() {
    check(None, 100, model_remote_list);
}

#[test]
#[should_panic(expected = "a block was lost or collected twice")]
fn remote_list_fails_with_load_and_store_instead_of_cas() {
    check(Some(Fault::PushLoadStore), 1, model_remote_list);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn remote_list_fails_with_relaxed_push() {
    check(Some(Fault::PushRelaxed), 1, model_remote_list);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn remote_list_fails_with_relaxed_take() {
    check(Some(Fault::TakeRelaxed), 1, model_remote_list);
}

// ---------------------------------------------------------------------------
// 2. A page empties on its owner while a remote free of one of its blocks is
//    in flight: the page is neither reused under the push nor leaked.

const BIG: usize = 64 * 1024; // 8 blocks per (512 KiB) page

fn model_page_empties_during_remote_free() {
    let arena = Arena::new();
    let heap = HeapHandle::new(&arena);
    // Blocks 0..8 fill page P; block 8 opens page Q, which becomes current.
    let blocks: Vec<usize> = (0..9).map(|_| heap.alloc(BIG) as usize).collect();
    assert!(blocks.iter().all(|b| *b != 0));
    // SAFETY: live blocks of this heap, freed once.
    unsafe {
        for &b in &blocks[2..7] {
            heap.free(b as *mut u8);
        }
    }
    let in_flight = blocks[1];
    let other = blocks[7];
    // SAFETY: block 1 is handed to this thread, which frees it once.
    let remote = thread::spawn(move || unsafe { free_remote(in_flight as *mut u8) });
    // SAFETY: block 7 likewise.
    let remote2 = thread::spawn(move || unsafe { free_remote(other as *mut u8) });
    thread::yield_now();
    // The owner frees the other block of P (P's last one but the one in
    // flight) and keeps allocating through Q and P, collecting P's remote
    // list while the push races.
    // SAFETY: live block of this heap.
    unsafe { heap.free(blocks[0] as *mut u8) };
    let mut live: Vec<usize> = vec![blocks[8]];
    for _ in 0..10 {
        let p = heap.alloc(BIG) as usize;
        assert!(!live.contains(&p), "block {p:#x} handed out twice");
        live.push(p);
    }
    remote.join().unwrap();
    remote2.join().unwrap();
    // The freed block must come back (not leaked) and only once.
    let mut found = live.contains(&in_flight);
    for _ in 0..20 {
        if found {
            break;
        }
        let p = heap.alloc(BIG) as usize;
        assert!(!live.contains(&p), "block {p:#x} handed out twice");
        found = p == in_flight;
        live.push(p);
    }
    assert!(found, "the remotely freed block never came back");
    // SAFETY: live blocks of this heap.
    unsafe {
        for p in live {
            heap.free(p as *mut u8);
        }
    }
    heap.abandon();
    // SAFETY: the only heap has exited and every block was freed.
    assert_eq!(unsafe { arena.release_all() }, 0, "a block of the page was lost");
}

#[test]
fn page_is_not_retired_under_an_in_flight_remote_free() {
    check(None, 10, model_page_empties_during_remote_free);
}

#[test]
#[should_panic(expected = "retiring a page with blocks in use")]
fn page_retire_fails_when_remote_blocks_are_not_counted() {
    check(
        Some(Fault::RetireIgnoresRemote),
        1,
        model_page_empties_during_remote_free,
    );
}

// ---------------------------------------------------------------------------
// 3. Thread exit: a heap is abandoned while another thread frees into its
//    pages and a third may adopt its segment; afterwards every segment and
//    heap is unmapped exactly once and no block is lost.

fn model_abandon_and_adopt() {
    let base = os_mapped();
    let arena = Arc::new(Arena::new());
    let h1 = HeapHandle::new(&arena);
    let x = h1.alloc(64) as usize;
    let y = h1.alloc(64) as usize;
    let large = h1.alloc(200_000) as usize;
    let exiting = spawn_roomy(move || {
        // SAFETY: x is a live block of h1, freed once.
        unsafe { h1.free(x as *mut u8) };
        h1.abandon();
    });
    // SAFETY: y and the large block are live and freed once, here.
    let freer = thread::spawn(move || unsafe {
        free_remote(y as *mut u8);
        free_remote(large as *mut u8);
    });
    let a2 = arena.clone();
    let adopter = spawn_roomy(move || {
        let h2 = HeapHandle::new(&a2);
        let p = h2.alloc(64);
        // SAFETY: a live block of h2.
        unsafe { h2.free(p) };
        h2.abandon();
    });
    exiting.join().unwrap();
    freer.join().unwrap();
    adopter.join().unwrap();
    adopt_the_rest_and_release_all(&arena, base, "");
}

/// After every heap of `arena` has exited and every block was freed: a
/// later thread adopts whatever is still abandoned; once it exits too, no
/// segment may still hold blocks (the message ends with `lost`) and
/// nothing may be left mapped beyond `base`.
fn adopt_the_rest_and_release_all(arena: &Arena, base: usize, lost: &str) {
    let h3 = HeapHandle::new(arena);
    let p = h3.alloc(64);
    // SAFETY: live block of h3.
    unsafe { h3.free(p) };
    h3.abandon();
    // SAFETY: every heap of the arena has exited and every block was freed.
    let still_used = unsafe { arena.release_all() };
    assert_eq!(
        still_used, 0,
        "segments still holding blocks after every block was freed{lost}"
    );
    assert_eq!(os_mapped(), base, "segments or heaps leaked (or unmapped twice)");
}

#[test]
fn abandoned_segments_are_adopted_and_released_once() {
    check(None, 100, model_abandon_and_adopt);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn abandonment_fails_when_published_before_it_is_done() {
    check(Some(Fault::AbandonBeforeDone), 1, model_abandon_and_adopt);
}

// ---------------------------------------------------------------------------
// 3b. Batched remote frees: a thread with a heap frees three blocks of
//     another heap's page, which it holds and publishes as one chain
//     (`heap::remote_batch`) when it exits, while the owner exits (and
//     collects its pages' remote lists) too; a later heap adopts what is
//     left. Every block must come back, counted. (The push itself is the
//     remote list's, `push` being a chain of one: the model of section 1
//     covers its ordering and its CAS.)

fn model_batched_remote_frees() {
    let base = os_mapped();
    let arena = Arc::new(Arena::new());
    let owner = HeapHandle::new(&arena);
    let blocks: Vec<usize> = (0..3).map(|_| owner.alloc(64) as usize).collect();
    assert!(blocks.iter().all(|b| *b != 0));
    let a2 = arena.clone();
    let held = Arc::new(AtomicBool::new(false));
    let held2 = held.clone();
    let freer = spawn_roomy(move || {
        let h = HeapHandle::new(&a2);
        for b in blocks {
            // SAFETY: live blocks of `owner`, each freed once, here.
            unsafe { h.free(b as *mut u8) };
        }
        held2.store(true, LoomOrdering::Release);
        // Publishes the held chain.
        h.abandon();
    });
    // The owner exits once the blocks are held (before, they would be
    // frees into an ownerless segment, another path), racing the chain's
    // publication.
    while !held.load(LoomOrdering::Acquire) {
        thread::yield_now();
    }
    owner.abandon();
    freer.join().unwrap();
    adopt_the_rest_and_release_all(&arena, base, " (a batched free lost or miscounted)");
}

#[test]
fn batched_remote_frees_all_come_back() {
    check(None, 20, model_batched_remote_frees);
}

#[test]
#[should_panic(expected = "a batched free lost or miscounted")]
fn batched_remote_frees_fail_when_a_chain_counts_as_one() {
    check(Some(Fault::ChainCountsOne), 1, model_batched_remote_frees);
}

// ---------------------------------------------------------------------------
// 4. An RpcSs environment shared by two threads: one adds a chunk while the
//    other walks the chunk list to free a block; both free the same block
//    (exactly one may succeed); disable then releases every chunk once.

fn model_shared_environment() {
    let base = os_mapped();
    let reg = Arc::new(RpcRegistry::new(2));
    let mut main = RpcCursor::new();
    assert_eq!(reg.enable(&mut main), RPC_S_OK);
    let handle = reg.thread_handle(&main);
    let shared = reg.allocate(&mut main, 32).unwrap() as usize;
    let r2 = reg.clone();
    let other = thread::spawn(move || {
        let mut c = RpcCursor::new();
        assert_eq!(r2.set_thread_handle(&mut c, handle), RPC_S_OK);
        let own = r2.allocate(&mut c, 48).unwrap();
        assert_eq!(r2.free(&mut c, own), RPC_S_OK);
        r2.free(&mut c, shared as *mut u8)
    });
    thread::yield_now();
    // A block too large for the shared chunk: a new chunk is pushed while
    // the other thread may be walking the list.
    let big = reg.allocate(&mut main, 8000).unwrap();
    let mine = reg.free(&mut main, shared as *mut u8);
    let theirs = other.join().unwrap();
    let oks = [mine, theirs].iter().filter(|s| **s == RPC_S_OK).count();
    assert_eq!(
        oks, 1,
        "the same block was freed {oks} times (statuses {mine}, {theirs})"
    );
    assert!([mine, theirs].contains(&RPC_S_INVALID_ARG));
    assert_eq!(reg.free(&mut main, big), RPC_S_OK);
    assert_eq!(reg.disable(&mut main), RPC_S_OK);
    let mut again = RpcCursor::new();
    assert_eq!(
        reg.set_thread_handle(&mut again, handle),
        RPC_S_INVALID_ARG,
        "disabled handle still accepted"
    );
    drop(reg);
    assert_eq!(os_mapped(), base, "chunks leaked or freed twice");
}

#[test]
fn shared_environment_frees_each_block_once_and_releases_every_chunk() {
    check(None, 10, model_shared_environment);
}

#[test]
#[should_panic(expected = "the same block was freed 2 times")]
fn shared_environment_fails_with_load_and_store_instead_of_cas() {
    check(Some(Fault::SsFreeLoadStore), 1, model_shared_environment);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn shared_environment_fails_with_relaxed_chunk_publication() {
    check(Some(Fault::PushRelaxed), 1, model_shared_environment);
}
