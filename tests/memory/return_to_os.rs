//! Memory goes back to the OS without a background thread: a thread
//! allocates 64 MiB and exits while its blocks are alive; another thread
//! frees them all (remote frees into abandoned segments); within about a
//! second of ordinary activity the resident set drops back near where it
//! started. (A child process of its own: RSS is process-wide.)

use crate::common::{activity_until_rss, pairs, resident_burst, rss_kib};
use midl_alloc::MIDL_user_free;
use std::time::Duration;

const ACTIVITY: [usize; 4] = [24, 200, 3000, 20_000];

pub(crate) fn memory_freed_after_the_owner_exited_goes_back_to_the_os() {
    // Warm up this thread's heap and every size class the activity below
    // uses, so that activity never needs a fresh page: reclaiming the
    // burst is then up to the heap's periodic maintenance alone.
    pairs(&ACTIVITY, 1);
    let base = rss_kib();
    let blocks = std::thread::spawn(|| resident_burst(65_536, 1000)).join().unwrap();
    let peak = rss_kib();
    assert!(
        peak > base + 50_000,
        "the burst should be resident: {base} -> {peak} KiB"
    );
    for p in blocks {
        // SAFETY: live blocks, freed once (remotely: their owner exited).
        unsafe { MIDL_user_free(p as *mut _) };
    }
    // Ordinary activity on this thread for up to two seconds.
    let (now_rss, took) = activity_until_rss(base + 8_192, Duration::from_secs(2), &ACTIVITY, 64);
    assert!(
        now_rss <= base + 8_192,
        "RSS {now_rss} KiB after {took:?}: started at {base}, peaked at {peak} (want within 8 MiB of the start)"
    );
    eprintln!("RSS {base} -> {peak} -> {now_rss} KiB in {took:?}");
}
