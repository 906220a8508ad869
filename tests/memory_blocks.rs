//! Big free blocks inside pages that stay in use go back to the OS: half of
//! 2000 blocks of 20 KiB are freed (every other one, so no page empties),
//! and within about a second of light activity the heap's maintenance has
//! given their memory back, all but the OS page holding each block's link.
//! Its own test binary: RSS and the purge counter are process-wide.

mod common;

use common::rss_kib;
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::time::{Duration, Instant};

#[test]
fn free_blocks_of_pages_in_use_are_given_back() {
    const N: usize = 2000;
    const SIZE: usize = 20 * 1024;
    let blocks: Vec<usize> = (0..N)
        .map(|_| {
            let p = MIDL_user_allocate(SIZE).cast::<u8>();
            // SAFETY: SIZE bytes, touched so they are resident.
            unsafe { std::ptr::write_bytes(p, 0x5A, SIZE) };
            p as usize
        })
        .collect();
    let full = rss_kib();
    let purged_before = os_stats().purged;
    for p in blocks.iter().step_by(2) {
        // SAFETY: freed once; the odd blocks stay live.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
    // Every block freed holds at least 16 KiB past its first OS page.
    let expect = (N / 2 * 16 * 1024) as u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) && ((os_stats().purged - purged_before) as u64) < expect {
        for _ in 0..8 {
            let p = MIDL_user_allocate(SIZE);
            // SAFETY: freed once.
            unsafe { MIDL_user_free(p) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let purged = (os_stats().purged - purged_before) as u64;
    let after = rss_kib();
    assert!(
        purged >= expect,
        "{purged} bytes given back after {:?}, want at least {expect}",
        start.elapsed()
    );
    assert!(
        after + (expect >> 10) * 9 / 10 <= full,
        "RSS {full} -> {after} KiB: the purge did not lower it"
    );
    // The live blocks are intact.
    for p in blocks.iter().skip(1).step_by(2) {
        // SAFETY: live blocks of SIZE bytes.
        let s = unsafe { std::slice::from_raw_parts(*p as *const u8, SIZE) };
        assert!(s.iter().all(|&b| b == 0x5A));
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
}
