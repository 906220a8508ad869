//! Address space stays bounded by what is live under thread churn: threads
//! that each allocate one 128-byte block, swap it into one of 1,000 shared
//! slots and free the block they displace (a remote free, often into a
//! segment its owner abandoned), ten at a time, for 30,000 thread
//! lifetimes. Live data never exceeds 128 KB; what stays mapped must not
//! grow with the number of threads that lived (it did: a thread starting
//! while another held the whole abandoned list mapped a fresh segment and
//! left its block there; the bound below was passed within 2,000-5,000
//! lifetimes).
//! (A child process of its own: the mapped total is process-wide.)

use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const LIFETIMES: usize = 30_000;
const AT_ONCE: usize = 10;
const SLOTS: usize = 1_000;
const SIZE: usize = 128;
/// What may stay mapped whatever the number of lifetimes: the segments
/// the live blocks and the threads running at once hold (each thread may
/// also cache two empty segments, handed to the pool of eight at its
/// exit), the pools, the heaps; 32 segments (runs here peak at 20-48 MiB,
/// debug or release, with the machine idle or loaded).
const MAPPED_BOUND: usize = 128 << 20;

pub(crate) fn address_space_stays_bounded_under_thread_churn() {
    let slots: Arc<Vec<AtomicUsize>> = Arc::new((0..SLOTS).map(|_| AtomicUsize::new(0)).collect());
    let mut seed = 0x5eed_u64;
    let mut most = 0;
    for round in 0..LIFETIMES / AT_ONCE {
        let threads: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let (slots, i) = (slots.clone(), (seed >> 33) as usize % SLOTS);
                std::thread::spawn(move || {
                    let p = MIDL_user_allocate(SIZE).cast::<u8>();
                    assert!(!p.is_null());
                    // SAFETY: a live block of SIZE bytes.
                    unsafe { p.write_bytes(i as u8, SIZE) };
                    let old = slots[i].swap(p as usize, Ordering::AcqRel);
                    if old != 0 {
                        // SAFETY: the displaced block is live and ours now;
                        // it holds its slot's pattern, freed once.
                        unsafe {
                            assert!(std::slice::from_raw_parts(old as *const u8, SIZE)
                                .iter()
                                .all(|&b| b == i as u8));
                            MIDL_user_free(old as *mut _);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        most = most.max(os_stats().mapped);
        assert!(
            most <= MAPPED_BOUND,
            "after {} thread lifetimes {} MiB are mapped for at most {} KiB live (bound {} MiB)",
            (round + 1) * AT_ONCE,
            most >> 20,
            (SLOTS * SIZE) >> 10,
            MAPPED_BOUND >> 20
        );
    }
    eprintln!("{LIFETIMES} thread lifetimes: at most {} MiB mapped", most >> 20);
    for slot in slots.iter() {
        let p = slot.swap(0, Ordering::AcqRel);
        if p != 0 {
            // SAFETY: each live block is freed once.
            unsafe { MIDL_user_free(p as *mut _) };
        }
    }
}

const HANDOFF_ROUNDS: usize = 2_000;
const HANDOFF_BLOCKS: usize = 300;
/// What may stay mapped: the segments one round's blocks (300 of 16 B to
/// 4 KiB, about 600 KiB) and the spawner's ring (1 MiB) hold, the pools,
/// the heaps (runs here peak at 36 MiB, debug or release; without
/// `Heap::retire_unused_queued` the bound was passed within 10 rounds).
const HANDOFF_BOUND: usize = 96 << 20;

/// The same bound when a long-lived thread that allocates little adopts
/// what exiting threads abandon: each round, a worker allocates blocks of
/// many classes and exits with them live; a second worker frees them (a
/// remote free into a segment the first abandoned and someone, often the
/// spawning thread's maintenance, adopted). The spawning thread itself
/// allocates only one class (its ring of 16 KiB buffers, and what
/// starting a thread takes), so the pages it adopted for other classes
/// were never looked at again, and every segment it adopted stayed mapped
/// (the soak, `examples/soak.rs`, whose spawning threads only make
/// channels, showed it).
pub(crate) fn address_space_stays_bounded_when_a_quiet_thread_adopts() {
    let mut ring: Vec<usize> = (0..64).map(|_| MIDL_user_allocate(16 << 10) as usize).collect();
    let mut most = 0;
    for round in 0..HANDOFF_ROUNDS {
        let made = std::thread::spawn(move || {
            (0..HANDOFF_BLOCKS)
                .map(|i| {
                    let size = 16 + (i * 37 + round * 11) % 4096;
                    let p = MIDL_user_allocate(size).cast::<u8>();
                    assert!(!p.is_null());
                    // SAFETY: a live block of `size` bytes.
                    unsafe { p.write_bytes(i as u8, size) };
                    (p as usize, size, i as u8)
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        // This thread's maintenance adopts what the worker abandoned (run
        // here at once, as it runs on the slow path every quarter purge
        // delay), so the blocks are freed into pages this thread owns.
        midl_alloc::collect();
        std::thread::spawn(move || {
            for (p, size, v) in made {
                // SAFETY: each block is live, holds its pattern, and is
                // freed once.
                unsafe {
                    assert!(std::slice::from_raw_parts(p as *const u8, size).iter().all(|&b| b == v));
                    MIDL_user_free(p as *mut _);
                }
            }
        })
        .join()
        .unwrap();
        let slot = round % ring.len();
        // SAFETY: the ring's blocks are live and each is freed once.
        unsafe { MIDL_user_free(ring[slot] as *mut _) };
        ring[slot] = MIDL_user_allocate(16 << 10) as usize;
        most = most.max(os_stats().mapped);
        assert!(
            most <= HANDOFF_BOUND,
            "after {} rounds {} MiB are mapped for at most {} KiB live (bound {} MiB)",
            round + 1,
            most >> 20,
            (HANDOFF_BLOCKS * (16 + 4095) + 64 * (16 << 10)) >> 10,
            HANDOFF_BOUND >> 20
        );
    }
    eprintln!("{HANDOFF_ROUNDS} rounds: at most {} MiB mapped", most >> 20);
    for p in ring {
        // SAFETY: each live block is freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}
