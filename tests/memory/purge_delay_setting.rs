//! The purge delay set at run time (`midl_alloc::set_purge_delay_ms`)
//! governs what goes back to the OS, on a thread already running: with a
//! minute's delay, 500 freed blocks of 20 KiB (in pages still in use) stay
//! for a second of light activity; set to 10 ms, they go back within the
//! next second. (A child process of its own: the setting and the purge
//! counter are process-wide.)

use crate::common::{pairs, resident_burst};
use midl_alloc::{os_stats, set_purge_delay_ms, MIDL_user_free};
use std::time::{Duration, Instant};

const N: usize = 1000;
const SIZE: usize = 20 * 1024;

/// Light activity of another class (the heap's maintenance runs in it) for
/// `ms`, or until `done`.
fn activity(ms: u64, done: impl Fn() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(ms) && !done() {
        pairs(&[256, 4096], 8);
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub(crate) fn the_purge_delay_set_at_run_time_governs_what_goes_back() {
    // Running with the default delay first, so the change reaches a heap
    // that already has its own.
    let blocks = resident_burst(N, SIZE);
    set_purge_delay_ms(60_000).unwrap();
    assert_eq!(midl_alloc::purge_delay_ms(), 60_000);
    pairs(&[256, 4096], 1000);
    let before = os_stats().purged;
    for p in blocks.iter().skip(1).step_by(2) {
        // SAFETY: live blocks, freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
    activity(1000, || false);
    let kept = os_stats().purged - before;
    assert!(kept < 1 << 20, "{} KiB given back within a minute's delay", kept >> 10);

    set_purge_delay_ms(10).unwrap();
    let want = N / 2 * 16 * 1024;
    activity(1000, || os_stats().purged - before >= want);
    let purged = os_stats().purged - before;
    assert!(
        purged >= want,
        "{} KiB given back with a 10 ms delay, want {} KiB",
        purged >> 10,
        want >> 10
    );
    assert!(set_purge_delay_ms(86_400_001).is_err());
    eprintln!(
        "{} KiB kept for 1 s at 60 s, {} KiB given back at 10 ms",
        kept >> 10,
        purged >> 10
    );
    for p in blocks.iter().step_by(2) {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
}
