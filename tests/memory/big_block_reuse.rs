//! Big blocks (8 KiB and up) that are freed and handed out again at a
//! steady pace keep their memory: 1,000 blocks of 20 KiB, of which half are
//! freed, left free for a few calls of another size and 2 ms, and allocated
//! again (written through), round after round for 800 ms, eight purge
//! delays. What goes back to the OS meanwhile must stay a small
//! fraction of what flows through. (Each maintenance used to give back
//! every big block freed since the one before, so the blocks that were free
//! when it ran were purged and faulted in again on their next use.)
//! Then, left free, those blocks go back within two seconds.
//! (A child process of its own: the purge counter is process-wide.)

use crate::common::{pairs, resident_burst};
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::time::{Duration, Instant};

const N: usize = 1000;
const SIZE: usize = 20 * 1024;
/// At most this share of the bytes cycled may be given back meanwhile.
const PURGED_SHARE: f64 = 0.02;

pub(crate) fn big_blocks_in_steady_reuse_keep_their_memory() {
    let mut blocks = resident_burst(N, SIZE);
    let before = os_stats().purged;
    let start = Instant::now();
    let mut cycled = 0usize;
    let mut rounds = 0usize;
    let pattern = |r: usize| (r as u8).max(0x5A);
    while start.elapsed() < Duration::from_millis(800) {
        rounds += 1;
        let expect = pattern(rounds - 1);
        for p in blocks.iter().skip(1).step_by(2) {
            // SAFETY: a live block of SIZE bytes holding its pattern, freed
            // once (replaced below).
            unsafe {
                assert_eq!(*(*p as *const u8).add(SIZE - 1), expect, "block {p:#x} corrupted");
                MIDL_user_free(*p as *mut _);
            }
        }
        // While they are free, calls of another class (the heap's
        // maintenance runs in them when it is due) and a pause.
        pairs(&[256], 8);
        std::thread::sleep(Duration::from_millis(2));
        for p in blocks.iter_mut().skip(1).step_by(2) {
            let q = MIDL_user_allocate(SIZE).cast::<u8>();
            assert!(!q.is_null());
            // SAFETY: SIZE bytes, live.
            unsafe { q.write_bytes(pattern(rounds), SIZE) };
            *p = q as usize;
            cycled += SIZE;
        }
    }
    let purged = os_stats().purged - before;
    eprintln!(
        "{} MiB freed and allocated again in {} rounds, {} KiB given back meanwhile",
        cycled >> 20,
        rounds,
        purged >> 10
    );
    assert!(
        purged as f64 <= cycled as f64 * PURGED_SHARE,
        "{} KiB given back while {} MiB cycled (at most {:.0}% wanted)",
        purged >> 10,
        cycled >> 20,
        PURGED_SHARE * 100.0
    );
    // Left free, the cycled half goes back (light activity of another
    // class runs the heap's maintenance).
    let before = os_stats().purged;
    for p in blocks.iter().skip(1).step_by(2) {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
    let expect = N / 2 * 16 * 1024;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && os_stats().purged - before < expect {
        pairs(&[256], 8);
        std::thread::sleep(Duration::from_millis(5));
    }
    let purged = os_stats().purged - before;
    assert!(
        purged >= expect,
        "{purged} bytes given back once left free, want at least {expect}"
    );
    for p in blocks.iter().step_by(2) {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
}
