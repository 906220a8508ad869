//! Memory freed by another thread while its owner lives goes back to the
//! OS within about a second of light activity on the owner: this thread
//! allocates 64 MiB of small blocks, another thread frees them all
//! (remote frees onto this heap's full pages), and this thread then makes
//! only a few allocations every 10 ms, which its pages' own frees serve
//! (refills, no fresh page). Reclaiming the burst is then up to the
//! maintenance those refills must still let run. A child process of its own: RSS
//! is process-wide.

use crate::common::{activity_until_rss, pairs, resident_burst, rss_kib};
use midl_alloc::MIDL_user_free;
use std::time::Duration;

const ACTIVITY: [usize; 5] = [24, 100, 1000, 5000, 40_000];

pub(crate) fn memory_freed_remotely_goes_back_while_the_owner_allocates_lightly() {
    pairs(&ACTIVITY, 1);
    let base = rss_kib();
    let blocks = resident_burst(262_144, 256);
    let peak = rss_kib();
    assert!(
        peak > base + 50_000,
        "the burst should be resident: {base} -> {peak} KiB"
    );
    std::thread::spawn(move || {
        for p in blocks {
            // SAFETY: live blocks, freed once (remotely: this thread does
            // not own them).
            unsafe { MIDL_user_free(p as *mut _) };
        }
    })
    .join()
    .unwrap();
    // Light activity: one pair of each size every 10 ms, for up to 600 ms
    // (takes about 130 ms here; a refill quota that ignored the clock for
    // 64 refills took about 860 ms on this activity).
    let (now_rss, took) = activity_until_rss(base + 8_192, Duration::from_millis(600), &ACTIVITY, 1);
    assert!(
        now_rss <= base + 8_192,
        "RSS {now_rss} KiB after {took:?}: started at {base}, peaked at {peak} (want within 8 MiB of the start)"
    );
    eprintln!("RSS {base} -> {peak} -> {now_rss} KiB in {took:?}");
}
