//! The large-object tier: a freed large object's memory serves later large
//! objects of other sizes (no fresh mapping, no new resident memory), goes
//! back to the OS once unused for ten purge delays, grows into an object
//! larger than itself by moving its pages, and objects above the
//! tier (more than 64 MiB) are unmapped when freed; `realloc` resizes large
//! objects without copying and keeps their contents. A child process of its
//! own: the statistics and RSS are process-wide.

use crate::common::{activity_until_rss, fill, holds, pairs, rss_kib};
use midl_alloc::{os_stats, MidlAlloc};
use std::alloc::{GlobalAlloc, Layout};
use std::time::Duration;

const MIB: usize = 1 << 20;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 16).unwrap()
}

fn alloc(size: usize) -> usize {
    // SAFETY: a non-zero size.
    let p = unsafe { MidlAlloc.alloc(layout(size)) };
    assert!(!p.is_null(), "{size} bytes refused");
    p as usize
}

fn free(p: usize, size: usize) {
    // SAFETY: a live block of `size` bytes from `alloc`, freed once.
    unsafe { MidlAlloc.dealloc(p as *mut u8, layout(size)) };
}

fn realloc(p: usize, old: usize, new: usize) -> usize {
    // SAFETY: a live block of `old` bytes from `alloc`.
    let q = unsafe { MidlAlloc.realloc(p as *mut u8, layout(old), new) };
    assert!(!q.is_null(), "realloc to {new} bytes refused");
    q as usize
}

pub(crate) fn large_objects_reuse_each_others_memory() {
    const SIZES: [usize; 3] = [24, 100, 1000];
    pairs(&SIZES, 4);
    let base = rss_kib();
    let base_mapped = os_stats().mapped;

    // A 20 MiB buffer (more than a heap's own cache takes) written through
    // and freed: its memory stays, for any size up to it.
    let big = alloc(20 * MIB);
    fill(big, 20 * MIB, 1);
    free(big, 20 * MIB);
    let (mapped, rss, reused) = (os_stats().mapped, rss_kib(), os_stats().large_reused);
    let a = alloc(8 * MIB);
    let b = alloc(6 * MIB);
    fill(a, 8 * MIB, 2);
    fill(b, 6 * MIB, 3);
    assert_eq!(
        os_stats().large_reused,
        reused + 2,
        "both should come from the freed buffer"
    );
    assert_eq!(os_stats().mapped, mapped, "no fresh mapping for memory already cached");
    assert!(
        rss_kib() <= rss + 1024,
        "the freed buffer's resident memory should have been reused: {rss} -> {} KiB",
        rss_kib()
    );
    assert!(holds(a, 8 * MIB, 2) && holds(b, 6 * MIB, 3), "the two buffers overlap");

    // realloc: growing keeps the contents (in place into the free range
    // after it, by growing the mapping, or by moving its pages); shrinking
    // stays where it is.
    let resized = os_stats().large_resized;
    let a = realloc(a, 8 * MIB, 30 * MIB);
    assert!(holds(a, 8 * MIB, 2), "contents lost growing to 30 MiB");
    fill(a, 30 * MIB, 4);
    let shrunk = realloc(a, 30 * MIB, 5 * MIB);
    assert_eq!(shrunk, a, "a large object shrinks where it is");
    assert!(holds(shrunk, 5 * MIB, 4), "contents lost shrinking");
    assert_eq!(
        os_stats().large_resized,
        resized + 2,
        "neither resize should have copied"
    );
    assert!(holds(b, 6 * MIB, 3), "a neighbour changed");
    free(shrunk, 5 * MIB);
    free(b, 6 * MIB);

    // Above the tier: unmapped when freed.
    let before = os_stats().mapped;
    let huge = alloc(100 * MIB);
    fill(huge, MIB, 5);
    free(huge, 100 * MIB);
    assert!(
        os_stats().mapped <= before,
        "a 100 MiB object should be unmapped when freed"
    );

    // Unused, the cached memory goes back to the OS (ten purge delays: 1 s).
    let (rss, took) = activity_until_rss(base + 2 * 1024, Duration::from_secs(4), &SIZES, 4);
    assert!(
        rss <= base + 2 * 1024,
        "RSS {rss} KiB {took:?} after freeing every large object (started at {base})"
    );
    assert!(
        os_stats().mapped <= base_mapped + MIB,
        "mapped {} bytes, {} at the start: the cache kept its memory",
        os_stats().mapped,
        base_mapped
    );
    assert_eq!(os_stats().large_cached, 0);

    // A buffer larger than any cached range grows the longest one: its
    // resident pages move to the new object, only the rest is fresh.
    let x = alloc(12 * MIB);
    fill(x, 12 * MIB, 6);
    free(x, 12 * MIB);
    let (rss, reused) = (rss_kib(), os_stats().large_reused);
    let y = alloc(40 * MIB);
    fill(y, 40 * MIB, 7);
    assert_eq!(
        os_stats().large_reused,
        reused + 1,
        "the 12 MiB range should have grown"
    );
    let grew = rss_kib().saturating_sub(rss);
    assert!(
        grew <= 34 * 1024,
        "a 40 MiB object made {grew} KiB resident with 12 MiB of freed memory to move: it did not reuse it"
    );
    assert!(holds(y, 40 * MIB, 7));
    free(y, 40 * MIB);
}
