//! Unit tests of `page`.

use super::*;

/// A remote free and the owner's fast paths each touch only the first
/// cache line of a descriptor. (A test, not a `const` assertion: Rust
/// 1.63, the Windows build's compiler, has no `offset_of!`.)
#[test]
fn hot_fields_in_first_cache_line() {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(Page, key) + size_of::<usize>() <= 64);
    assert!(offset_of!(Page, local) + offset_of!(PageLocal, tally) + size_of::<i64>() <= 64);
}

/// The two counters sharing `tally` stay apart at their extremes: every
/// role's bias, a page with none or all of its blocks out, and `allocs`
/// at the most it can reach (the flush threshold plus a page's blocks);
/// a free leaves the fast path exactly when `used` falls below the
/// bias.
#[test]
fn tally_keeps_credit_and_allocs_apart() {
    let blocks = MAX_SMALL_BLOCKS as u32;
    let most_allocs = ALLOCS_FLUSH + blocks;
    for bias in [BIAS_CURRENT, BIAS_QUEUED, blocks as i32 / 2, BIAS_FULL] {
        for used in [0, 1, blocks - 1, blocks] {
            let mut l = PageLocal::empty();
            l.set_bias(bias);
            for _ in 0..used {
                l.count_alloc();
            }
            assert_eq!((l.used(), l.allocs()), (used, used));
            // Allocations handed back and out again: `allocs` alone grows.
            l.tally += i64::from(most_allocs - used);
            assert_eq!((l.used(), l.allocs()), (used, most_allocs));
            for left in (0..used).rev() {
                let leaves = l.count_back(1);
                assert_eq!(leaves, (left as i32) < bias, "bias {bias}, {left} left");
                assert_eq!((l.used(), l.allocs()), (left, most_allocs));
            }
            l.set_bias(BIAS_QUEUED);
            assert_eq!((l.used(), l.allocs()), (0, most_allocs));
            l.count_alloc();
            assert!(l.count_back(1), "a queued page's last block back");
            assert_eq!((l.used(), l.allocs()), (0, most_allocs + 1));
        }
    }
}
