//! Memory that empties and refills at a steady rate is reused, not given
//! back and faulted in again: a producer allocates 64-byte blocks in
//! batches of 4,096 and a consumer thread frees them (every free remote),
//! 2 million blocks in all. The producer's pages empty and refill
//! continuously; what goes back to the OS meanwhile must stay a small
//! fraction of what flows through (it was about a third: the pages of the
//! very class being carved were given back as sparse, then carved and
//! faulted in again).
//! (A child process of its own: the purge counter is process-wide.)

use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::sync::mpsc;

const BLOCKS: usize = 2_000_000;
const BATCH: usize = 4096;
const SIZE: usize = 64;
/// At most this share of the bytes allocated may be given back meanwhile.
const PURGED_SHARE: f64 = 0.05;

pub(crate) fn steady_remote_frees_are_reused_not_purged() {
    let (tx, rx) = mpsc::sync_channel::<Vec<usize>>(16);
    let consumer = std::thread::spawn(move || {
        for batch in rx {
            for p in batch {
                // SAFETY: each block is live, holds its pattern, freed once.
                unsafe {
                    assert_eq!(*(p as *const u8), (p >> 6) as u8);
                    MIDL_user_free(p as *mut _);
                }
            }
        }
    });
    let before = os_stats().purged;
    for _ in 0..BLOCKS / BATCH {
        let batch: Vec<usize> = (0..BATCH)
            .map(|_| {
                let p = MIDL_user_allocate(SIZE).cast::<u8>();
                assert!(!p.is_null());
                // SAFETY: a live block of SIZE bytes.
                unsafe { p.write_bytes((p as usize >> 6) as u8, SIZE) };
                p as usize
            })
            .collect();
        tx.send(batch).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    let purged = os_stats().purged - before;
    let flowed = (BLOCKS / BATCH * BATCH * SIZE) as f64;
    eprintln!(
        "{} MiB allocated and freed remotely, {} KiB given back meanwhile",
        flowed as usize >> 20,
        purged >> 10
    );
    assert!(
        purged as f64 <= flowed * PURGED_SHARE,
        "{} KiB given back while {} MiB flowed through (at most {:.0}% wanted)",
        purged >> 10,
        flowed as usize >> 20,
        PURGED_SHARE * 100.0
    );
}

/// Slots of the mixed-size churn, as the benchmark's `mixed_sizes` row.
const MIXED_SLOTS: usize = 2000;
/// Replacements before the measured ones: the heap reaches its steady
/// state (pages of every class set up, some emptied and retired).
const MIXED_WARM_UP: usize = 100_000;
const MIXED_OPS: usize = 400_000;
/// What the steady phase may give back: with a purge delay of a minute,
/// nothing has waited long enough; what the carve trigger gives back as
/// the heap still grows a little is under 1 MiB (0.8 here); with the
/// churn this case was written for it was 11 MiB, and 2.8 MiB with only
/// the carve trigger's part of it left.
const MIXED_PURGED_MAX: usize = 3 << 19;

/// A random size from 8 B to 128 KiB, power-of-two biased (as the
/// benchmark's `mixed_sizes`).
fn mixed_size(seed: &mut u64) -> usize {
    let mut next = || {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 33) as usize
    };
    let hi = 1usize << (3 + next() % 15);
    if next() & 1 == 0 {
        hi
    } else {
        hi / 2 + 1 + next() % (hi / 2)
    }
}

/// Memory that empties and refills at a steady rate across many classes is
/// reused too: 2,000 live blocks of 8 B to 128 KiB, each replacement
/// freeing a random one and allocating a random size in its place, written
/// through and checked. Pages of the many classes empty and are set up
/// again all the time; with a purge delay of a minute nothing may go back
/// to the OS meanwhile. (It did, 11 MiB of it: retired pages
/// past a fixed 8 MiB cap went back all at once, and the carve path counted
/// pages set up again in memory still backed as fresh memory and gave
/// back the sparse pages of other classes for it.)
pub(crate) fn steady_mixed_sizes_are_reused_not_purged() {
    // SAFETY: set before this process's first allocator call and before
    // any other thread of this (single-case) child process reads the
    // environment.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "60000") };
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut slots = vec![(0usize, 0usize); MIXED_SLOTS];
    let mut purged_from = 0;
    for op in 0..MIXED_WARM_UP + MIXED_OPS {
        if op == MIXED_WARM_UP {
            purged_from = os_stats().purged;
        }
        let i = mixed_size(&mut seed) % MIXED_SLOTS;
        let (old, n) = slots[i];
        if old != 0 {
            // SAFETY: a live block of `n` bytes, written with its slot's
            // byte, freed once.
            unsafe {
                let b = std::slice::from_raw_parts(old as *const u8, n);
                assert!(b[0] == i as u8 && b[n - 1] == i as u8, "block of slot {i} corrupted");
                MIDL_user_free(old as *mut _);
            }
        }
        let n = mixed_size(&mut seed);
        let p = MIDL_user_allocate(n).cast::<u8>();
        assert!(!p.is_null());
        // SAFETY: a live block of `n` bytes.
        unsafe { p.write_bytes(i as u8, n) };
        slots[i] = (p as usize, n);
    }
    let purged = os_stats().purged - purged_from;
    for (p, _) in slots {
        // SAFETY: live blocks, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
    eprintln!(
        "{MIXED_OPS} mixed-size replacements, {} KiB given back meanwhile",
        purged >> 10
    );
    assert!(
        purged <= MIXED_PURGED_MAX,
        "{} KiB given back during {MIXED_OPS} steady replacements (at most {} KiB wanted)",
        purged >> 10,
        MIXED_PURGED_MAX >> 10
    );
}

/// Rounds of the mixed-size churn's blocks.
const ROUNDS: usize = 12;
/// Rounds before the measured ones (the retained cap's floor rises as the
/// heap is seen refilling what the cap gave back).
const ROUNDS_WARM_UP: usize = 4;
/// Blocks of a round (about 30 MiB of them: the mean size is about 15 KiB).
const ROUND_BLOCKS: usize = 2000;
/// What the measured rounds may give back, all together: with the floor
/// pinned at 8 MiB they gave back about 15 MiB a round.
const ROUNDS_PURGED_MAX: usize = 2 << 20;

/// A workload that frees everything and starts again at once (a batch, a
/// request, a benchmark's sample) reuses its memory from round to round:
/// each round allocates 2,000 blocks of 8 B to 128 KiB, writes them
/// through, then checks and frees them all. Each round's frees retire
/// every page; past the retained cap they went back to the OS and the next
/// round faulted them in again (as in the `mixed_sizes` rows of the
/// benchmark, whose samples each start empty).
/// The cap's floor now rises while the heap refills what the cap gave back.
pub(crate) fn rounds_that_free_everything_reuse_their_memory() {
    // SAFETY: as in `steady_mixed_sizes_are_reused_not_purged`.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "60000") };
    let purged = rounds(std::time::Duration::ZERO);
    assert!(
        purged <= ROUNDS_PURGED_MAX,
        "{} KiB given back over {} rounds that each refill what the last freed (at most {} KiB wanted)",
        purged >> 10,
        ROUNDS - ROUNDS_WARM_UP,
        ROUNDS_PURGED_MAX >> 10
    );
}

/// The purge delay of [`paused_rounds_reuse_their_memory`] (ms), and the
/// pause after each round: three delays.
const PAUSED_DELAY_MS: u64 = 50;
const PAUSE_MS: u64 = 3 * PAUSED_DELAY_MS;
/// What those measured rounds may give back, all together: a sixth of
/// what a round frees, each round (pages a round did not set up again go
/// back as they pass the delay the heap learned).
const PAUSED_PURGED_MAX: usize = 40 << 20;

/// The same rounds with a pause after each, longer than the purge delay
/// (a worker that serves a burst, frees everything, and waits for the
/// next: the benchmark's interleaved rounds leave each allocator idle
/// like that while the others run). The memory a round freed goes back
/// as it waits, and the next round faulted all of it in again (14-16 MiB
/// given back a round), so a heap that refills what it gave back within
/// eight delays now keeps its retired pages longer, as well as more of
/// them (`heap::decay_delay`).
pub(crate) fn paused_rounds_reuse_their_memory() {
    // SAFETY: as in `steady_mixed_sizes_are_reused_not_purged`.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", PAUSED_DELAY_MS.to_string()) };
    let purged = rounds(std::time::Duration::from_millis(PAUSE_MS));
    assert!(
        purged <= PAUSED_PURGED_MAX,
        "{} KiB given back over {} rounds that each refill, after a pause of {PAUSE_MS} ms \
         ({PAUSED_DELAY_MS} ms purge delay), what the last freed (at most {} KiB wanted)",
        purged >> 10,
        ROUNDS - ROUNDS_WARM_UP,
        PAUSED_PURGED_MAX >> 10
    );
}

/// [`ROUNDS`] rounds, each followed by `pause`: the bytes given back to the
/// OS over those after [`ROUNDS_WARM_UP`].
fn rounds(pause: std::time::Duration) -> usize {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut purged_from = 0;
    for round in 0..ROUNDS {
        if round == ROUNDS_WARM_UP {
            purged_from = os_stats().purged;
        }
        let blocks: Vec<(usize, usize)> = (0..ROUND_BLOCKS)
            .map(|i| {
                let n = mixed_size(&mut seed);
                let p = MIDL_user_allocate(n).cast::<u8>();
                assert!(!p.is_null());
                // SAFETY: a live block of `n` bytes.
                unsafe { p.write_bytes(i as u8, n) };
                (p as usize, n)
            })
            .collect();
        for (i, (p, n)) in blocks.into_iter().enumerate() {
            // SAFETY: a live block of `n` bytes, written with its index's
            // byte, freed once.
            unsafe {
                let b = std::slice::from_raw_parts(p as *const u8, n);
                assert!(b[0] == i as u8 && b[n - 1] == i as u8, "block {i} corrupted");
                MIDL_user_free(p as *mut _);
            }
        }
        std::thread::sleep(pause);
    }
    let purged = os_stats().purged - purged_from;
    eprintln!(
        "{ROUNDS} rounds freeing everything, {pause:?} pauses: {} KiB given back over the last {}",
        purged >> 10,
        ROUNDS - ROUNDS_WARM_UP
    );
    purged
}
