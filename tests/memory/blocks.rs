//! Big free blocks inside pages that stay in use go back to the OS: half of
//! 2000 blocks of 20 KiB are freed (every other one, so no page empties),
//! and within about a second of light activity the heap's maintenance has
//! given their memory back, all but the OS page holding each block's link;
//! then half of the rest, likewise.
//! (A child process of its own: RSS and the purge counter are process-wide.)

use crate::common::{pairs, resident_burst, rss_kib};
use midl_alloc::{os_stats, MIDL_user_free};
use std::time::{Duration, Instant};

/// Light activity (pairs of another class, every 5 ms: a block that is
/// handed out again is not purged) until at least `expect` bytes more than
/// `before` were purged, or 2 s; returns the bytes purged.
fn purged_after_light_activity(before: usize, expect: u64) -> u64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && ((os_stats().purged - before) as u64) < expect {
        pairs(&[256], 8);
        std::thread::sleep(Duration::from_millis(5));
    }
    (os_stats().purged - before) as u64
}

pub(crate) fn free_blocks_of_pages_in_use_are_given_back() {
    const N: usize = 2000;
    const SIZE: usize = 20 * 1024;
    let blocks = resident_burst(N, SIZE);
    // Two rounds: every other block, then every other one of the rest.
    // The second round's blocks are freed on top of blocks the first
    // round's purge marked, which a pass walks down to and no further.
    for (round, pick) in [(1, 0), (2, 1)] {
        let full = rss_kib();
        let before = os_stats().purged;
        let freed: Vec<usize> = (0..N).filter(|i| i % (2 * round) == pick).collect();
        for &i in &freed {
            // SAFETY: freed once; the others stay live.
            unsafe { MIDL_user_free(blocks[i] as *mut _) };
        }
        // Every block freed holds at least 16 KiB past its first OS page.
        let expect = (freed.len() * 16 * 1024) as u64;
        let purged = purged_after_light_activity(before, expect);
        let after = rss_kib();
        assert!(
            purged >= expect,
            "round {round}: {purged} bytes given back, want at least {expect}"
        );
        assert!(
            after + (expect >> 10) * 9 / 10 <= full,
            "round {round}: RSS {full} -> {after} KiB: the purge did not lower it"
        );
    }
    // The live blocks are intact.
    for p in blocks.iter().skip(3).step_by(4) {
        // SAFETY: live blocks of SIZE bytes.
        let s = unsafe { std::slice::from_raw_parts(*p as *const u8, SIZE) };
        assert!(s.iter().all(|&b| b == 0x5A));
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
}
