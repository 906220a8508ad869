//! Under thread churn the memory threads empty is reused by the threads
//! that follow, not given back and faulted in again: rounds of four
//! threads, each allocating 500 blocks of mixed sizes (mostly 8 B-1 KiB,
//! one in 16 up to 32 KiB) and writing them through, freeing the blocks
//! the previous round left in a shared pool (remote frees, into heaps that
//! have exited), leaving half of its own there and freeing the rest (the
//! benchmark's `thread_lifetimes` row, after mimalloc-bench's mstress).
//! The process's page faults over 2,000 lifetimes, after a warm-up, must
//! stay at most six a lifetime (1.5-3.1 here; they were 13-14: each
//! short-lived heap passed its own 8 MiB retained cap with the pages of
//! the segments it adopted and gave them all back, and the pool purged
//! what passed its 8 MiB budget; the next threads faulted them in again.
//! A floor of the cap is now also learned process-wide, `mem::retain`.)
//! (A child process of its own: page faults are counted process-wide.)

use crate::common::minor_faults;
use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use std::sync::{Arc, Mutex};

const THREADS: usize = 4;
const BLOCKS: usize = 500;
const WARM_UP: usize = 200;
const LIFETIMES: usize = 2_000;
const FAULTS_PER_LIFETIME: i64 = 6;

/// (address, size, fill byte) of a block left in the pool.
type Left = (usize, usize, u8);

fn check_and_free((p, n, b): Left) {
    let p = p as *mut u8;
    // SAFETY: a live block of `n` bytes filled with `b`, freed once.
    unsafe {
        assert!(*p == b && *p.add(n - 1) == b, "block of {n} B corrupted");
        MIDL_user_free(p.cast());
    }
}

fn rounds(pool: &Arc<Mutex<Vec<Left>>>, lifetimes: usize, seed: u64) {
    for round in 0..lifetimes / THREADS {
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let pool = pool.clone();
                let mut x = seed ^ (round as u64 * 131 + t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                std::thread::spawn(move || {
                    let mut next = move || {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x
                    };
                    let mine: Vec<Left> = (0..BLOCKS)
                        .map(|i| {
                            let r = next();
                            let n = if r % 16 == 0 {
                                1025 + (r >> 8) as usize % (31 << 10)
                            } else {
                                8 + (r >> 8) as usize % 1017
                            };
                            let p = MIDL_user_allocate(n).cast::<u8>();
                            assert!(!p.is_null());
                            let b = (i as u8) | 1;
                            // SAFETY: `n` bytes.
                            unsafe { p.write_bytes(b, n) };
                            (p as usize, n, b)
                        })
                        .collect();
                    let theirs = std::mem::take(&mut *pool.lock().unwrap());
                    for l in theirs {
                        check_and_free(l);
                    }
                    let (keep, free) = mine.split_at(BLOCKS / 2);
                    for &l in free {
                        check_and_free(l);
                    }
                    pool.lock().unwrap().extend_from_slice(keep);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

pub(crate) fn thread_churn_reuses_memory_instead_of_faulting_it_in_again() {
    let pool = Arc::new(Mutex::new(Vec::new()));
    rounds(&pool, WARM_UP, 1);
    let before = minor_faults(libc::RUSAGE_SELF);
    rounds(&pool, LIFETIMES, 2);
    let faults = minor_faults(libc::RUSAGE_SELF) - before;
    for l in std::mem::take(&mut *pool.lock().unwrap()) {
        check_and_free(l);
    }
    eprintln!("{faults} page faults over {LIFETIMES} thread lifetimes");
    assert!(
        faults <= FAULTS_PER_LIFETIME * LIFETIMES as i64,
        "{faults} page faults over {LIFETIMES} thread lifetimes: memory given back and faulted in again"
    );
}
