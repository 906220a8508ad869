//! Freed large objects the heap caches for reuse go back to the OS once
//! the purge delay has passed, while the program goes on allocating small
//! blocks (the cache's clock starts at the first maintenance that sees an
//! object: the free path reads no clock). A child process of its own: RSS is
//! process-wide.

use crate::common::{activity_until_rss, pairs, resident_burst, rss_kib};
use midl_alloc::{os_stats, MIDL_user_free};
use std::time::Duration;

pub(crate) fn cached_large_objects_go_back_after_the_delay() {
    const SIZES: [usize; 3] = [24, 100, 1000];
    // The small blocks' pages exist before the baseline is taken.
    pairs(&SIZES, 4);
    let base = rss_kib();
    let base_mapped = os_stats().mapped;
    // Eight 1 MiB objects: what the cache holds (8 slots, 16 MiB).
    let blocks = resident_burst(8, 1 << 20);
    let mapped = os_stats().mapped;
    for &p in &blocks {
        // SAFETY: live objects, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
    let cached = rss_kib();
    assert!(
        cached >= base + 7 * 1024,
        "the freed objects should be cached, still resident: {base} -> {cached} KiB"
    );
    assert_eq!(
        os_stats().mapped,
        mapped,
        "the freed objects should be cached, still mapped"
    );
    let (rss, took) = activity_until_rss(base + 2 * 1024, Duration::from_secs(2), &SIZES, 4);
    assert!(
        rss <= base + 2 * 1024,
        "RSS {rss} KiB {took:?} after freeing 8 MiB of large objects (started at {base}, {cached} with them cached)"
    );
    assert!(
        os_stats().mapped <= base_mapped,
        "the cached objects should be unmapped: {} bytes mapped, {base_mapped} before them",
        os_stats().mapped
    );
    eprintln!("cached large objects unmapped after {took:?}");
}
