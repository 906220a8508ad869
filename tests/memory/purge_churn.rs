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
