//! A thread that frees a burst and then makes no allocator call at all does
//! not sit on the burst: past a small retained budget, retired pages go
//! back to the OS as they retire, and segments the heap's cache cannot hold
//! are given back before they are pooled. A child process of its own: RSS is
//! process-wide.

use crate::common::{resident_burst, rss_kib};
use midl_alloc::MIDL_user_free;
use std::time::Duration;

pub(crate) fn a_burst_freed_by_its_own_thread_goes_back_without_further_calls() {
    std::thread::spawn(|| {
        let base = rss_kib();
        let blocks = resident_burst(400_000, 256);
        let peak = rss_kib();
        assert!(
            peak > base + 90_000,
            "the burst should be resident: {base} -> {peak} KiB"
        );
        for &p in &blocks {
            // SAFETY: live blocks, freed once, by their owner.
            unsafe { MIDL_user_free(p as *mut _) };
        }
        drop(blocks);
        // No allocator call from here on (this thread is idle; the main
        // thread only waits in join).
        std::thread::sleep(Duration::from_millis(50));
        let after = rss_kib();
        // The retained budget is 8 MiB of pages and two cached segments.
        assert!(
            after <= base + 20_480,
            "RSS {after} KiB with the thread idle: started at {base}, peaked at {peak} (want within 20 MiB)"
        );
        eprintln!("RSS {base} -> {peak} -> {after} KiB");
    })
    .join()
    .unwrap();
}
