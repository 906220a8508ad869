//! A size class the program stops using gives its memory back: blocks of
//! 222 sizes from 1100 B to 8 KiB (24 classes, too small for the
//! per-block purge) are written and all freed, which leaves each class's current page unused but
//! dirty; while the program goes on with another size, the heap's
//! maintenance retires those pages and their memory goes back within
//! about a second, to within 512 KiB of where it started (76 KiB here;
//! without the retirement, about 1 MiB stays). (A child process of its
//! own: RSS is process-wide.) The bound was 2 MiB when these sizes were
//! 158 classes, which left 6 MiB without the retirement.

use crate::common::{activity_until_rss, pairs, resident_burst, rss_kib};
use midl_alloc::MIDL_user_free;
use std::time::Duration;

const ACTIVITY: [usize; 1] = [48];

pub(crate) fn classes_no_longer_used_give_their_pages_back() {
    pairs(&ACTIVITY, 1);
    let base = rss_kib();
    let blocks: Vec<usize> = (1100..=8192)
        .step_by(32)
        .flat_map(|size| resident_burst(16, size))
        .collect();
    let peak = rss_kib();
    assert!(
        peak > base + 10_000,
        "the blocks should be resident: {base} -> {peak} KiB"
    );
    for p in blocks {
        // SAFETY: live blocks, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
    let (now_rss, took) = activity_until_rss(base + 512, Duration::from_secs(2), &ACTIVITY, 64);
    assert!(
        now_rss <= base + 512,
        "RSS {now_rss} KiB after {took:?}: started at {base}, peaked at {peak} (want within 512 KiB of the start)"
    );
    eprintln!("RSS {base} -> {peak} -> {now_rss} KiB in {took:?}");
}
