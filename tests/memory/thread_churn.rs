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
