//! Maintenance gives back the free OS pages of a sparse page only once the
//! page has stayed sparse for the purge delay: memory that empties and is
//! used again within the delay stays resident instead of being given back
//! and faulted in again, and memory that stays unused does go back. The
//! delay is 800 ms here (maintenance every 200 ms), and the program goes
//! on allocating pairs of other sizes, which carve nothing fresh (so the
//! carve trigger, which purges at once, stays out of it). A child process
//! of its own: the purge delay is read once per process, and the purge
//! counter is process-wide.

use crate::common::{fill, holds, pairs};
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::time::{Duration, Instant};

const SIZE: usize = 1000;
const SIZES: [usize; 3] = [24, 100, 4000];

/// Light activity for `for_ms`; the bytes purged meanwhile.
fn purged_during(for_ms: u64) -> usize {
    let before = os_stats().purged;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(for_ms) {
        pairs(&SIZES, 4);
        std::thread::sleep(Duration::from_millis(5));
    }
    os_stats().purged - before
}

pub(crate) fn sparse_pages_wait_out_the_delay() {
    // SAFETY: set before this process's first allocator call and before
    // any other thread of this (single-case) child process reads the environment.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "800") };
    // The other sizes' pages exist first (their carving is done).
    pairs(&SIZES, 64);
    const N: usize = 16 * 1024;
    let blocks: Vec<usize> = (0..N).map(|_| MIDL_user_allocate(SIZE) as usize).collect();
    for (id, &p) in blocks.iter().enumerate() {
        fill(p, SIZE, id);
    }
    let mut live = Vec::new();
    for (id, &p) in blocks.iter().enumerate() {
        if id % 16 == 0 {
            live.push((p, id));
        } else {
            // SAFETY: freed once.
            unsafe { MIDL_user_free(p as *mut _) };
        }
    }
    // Within the delay (two maintenance intervals in, less than the delay
    // since the pages became sparse): nothing of them goes back.
    let early = purged_during(450);
    // About 250 pages of 16 OS pages, at least 6 of each free: 6 MiB.
    let expect = 200 * 6 * 4096;
    assert!(
        early < expect / 4,
        "{early} bytes purged within the delay: sparse pages did not wait"
    );
    // Past the delay (and a maintenance interval): they do.
    let late = purged_during(1400);
    assert!(
        late >= expect,
        "{late} bytes purged after the delay, want at least {expect}: sparse pages kept their memory"
    );
    for &(p, id) in &live {
        assert!(holds(p, SIZE, id), "live block {p:#x} lost its contents");
        // SAFETY: freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}
