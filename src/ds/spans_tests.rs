use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

const U: usize = 4096;

/// Every span well formed: sorted, disjoint, not touching (touching spans
/// are merged), `bytes` their sum.
fn check_shape(set: &SpanSet) {
    let spans = set.spans();
    for w in spans.windows(2) {
        assert!(
            w[0].base + w[0].len < w[1].base,
            "unsorted, overlapping or unmerged: {w:?}"
        );
    }
    assert!(spans.iter().all(|s| s.len > 0));
    assert_eq!(set.bytes(), spans.iter().map(|s| s.len).sum::<usize>());
}

fn units(set: &SpanSet) -> BTreeSet<usize> {
    set.spans()
        .iter()
        .flat_map(|s| (s.base / U)..(s.base + s.len) / U)
        .collect()
}

#[test]
fn merges_both_neighbours() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    set.give(0, U, 1, &mut spill);
    set.give(2 * U, U, 3, &mut spill);
    set.give(U, U, 2, &mut spill);
    assert_eq!(
        set.spans(),
        &[Span {
            base: 0,
            len: 3 * U,
            freed_at: 3
        }]
    );
    assert!(spill.ranges().is_empty());
}

#[test]
fn takes_best_fit_at_alignment_and_keeps_both_ends() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    set.give(U, 40 * U, 1, &mut spill); // aligned start at 16 U
    set.give(100 * U, 20 * U, 1, &mut spill); // at 112 U: only 8 U fit
                                              // 8 U fit both; the second leaves less over.
    assert_eq!(set.take(8 * U, 16 * U, &mut spill), Some(112 * U));
    assert_eq!(set.take(20 * U, 16 * U, &mut spill), Some(16 * U));
    let left: Vec<_> = set.spans().iter().map(|s| (s.base / U, s.len / U)).collect();
    assert_eq!(left, [(1, 15), (36, 5), (100, 12)]);
    assert_eq!(set.take(30 * U, 16 * U, &mut spill), None);
}

#[test]
fn take_at_grows_into_the_next_span() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    set.give(10 * U, 5 * U, 1, &mut spill);
    assert!(!set.take_at(10 * U, 6 * U));
    assert!(!set.take_at(11 * U, U));
    assert!(set.take_at(10 * U, 2 * U));
    assert_eq!(set.spans()[0].base, 12 * U);
    assert!(set.take_at(12 * U, 3 * U));
    assert!(set.spans().is_empty() && set.bytes() == 0);
}

#[test]
fn take_longest_within_bounds() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    set.give(0, 3 * U, 1, &mut spill);
    set.give(10 * U, 5 * U, 1, &mut spill);
    set.give(20 * U, 9 * U, 1, &mut spill);
    assert_eq!(set.take_longest(4 * U, 8 * U).map(|s| s.base), Some(10 * U));
    assert_eq!(set.take_longest(4 * U, 8 * U), None);
    assert_eq!(set.take_longest(U, 100 * U).map(|s| s.len), Some(9 * U));
    assert_eq!(set.bytes(), 3 * U);
}

#[test]
fn full_set_spills_the_oldest() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    for i in 0..MAX_SPANS {
        set.give(2 * i * U, U, 10 + i as u64, &mut spill);
    }
    set.give(1000 * U, U, 5, &mut spill);
    assert_eq!(spill.ranges(), &[(0, U)]);
    assert_eq!(set.spans().len(), MAX_SPANS);
    check_shape(&set);
}

#[test]
fn trim_gives_up_old_spans_then_the_oldest_over_the_bound() {
    let mut set = SpanSet::new();
    let mut spill = Spill::new();
    set.give(0, U, 100, &mut spill);
    set.give(10 * U, 2 * U, 150, &mut spill);
    set.give(20 * U, 4 * U, 190, &mut spill);
    set.trim(200, 60, 4 * U, &mut spill);
    // 100 is 100 ms old (given up); 150 goes to keep 4 U at most.
    assert_eq!(spill.ranges(), &[(0, U), (10 * U, 2 * U)]);
    assert_eq!(set.bytes(), 4 * U);
}

#[derive(Clone, Debug)]
enum Op {
    /// Free units `[at, at + len)` of the 256-unit space, where free.
    Give {
        at: usize,
        len: usize,
        time: u64,
    },
    Take {
        len: usize,
        align_log: u32,
    },
    TakeAt {
        pick: usize,
        len: usize,
    },
    TakeLongest {
        min: usize,
        max: usize,
    },
    Trim {
        now: u64,
        delay: u64,
        max: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..256, 1usize..24, 0u64..100).prop_map(|(at, len, time)| Op::Give { at, len, time }),
        3 => (1usize..40, 0u32..5).prop_map(|(len, align_log)| Op::Take { len, align_log }),
        1 => (0usize..64, 1usize..8).prop_map(|(pick, len)| Op::TakeAt { pick, len }),
        1 => (1usize..20, 0usize..20).prop_map(|(min, more)| Op::TakeLongest { min, max: min + more }),
        1 => (0u64..120, 0u64..50, 0usize..200).prop_map(|(now, delay, max)| Op::Trim { now, delay, max }),
    ]
}

proptest! {
    /// Against a model of which units are in use, free (in the set) or
    /// released (spilled): no unit is ever in two of them, every taken
    /// range was free and aligned, and the set's shape holds.
    #[test]
    fn matches_a_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut set = SpanSet::new();
        // Units in use by the caller (taken, or never given).
        let mut used: BTreeSet<usize> = (0..256).collect();
        // Units spilled so far (released to the OS: gone for good).
        let mut released: BTreeSet<usize> = BTreeSet::new();
        for op in ops {
            let mut spill = Spill::new();
            let before = units(&set);
            match op {
                Op::Give { at, len, time } => {
                    let range: Vec<usize> = (at..(at + len).min(256)).collect();
                    // Only whole runs the caller holds can be freed.
                    if range.iter().all(|u| used.contains(u)) {
                        set.give(at * U, range.len() * U, time, &mut spill);
                        for u in &range { used.remove(u); }
                        let now = units(&set);
                        let spilled: BTreeSet<usize> = spill.ranges().iter()
                            .flat_map(|&(b, l)| b / U..(b + l) / U).collect();
                        let expect: BTreeSet<usize> = before.iter().chain(&range).copied()
                            .filter(|u| !spilled.contains(u)).collect();
                        prop_assert_eq!(now, expect);
                    }
                }
                Op::Take { len, align_log } => {
                    let align = U << align_log;
                    match set.take(len * U, align, &mut spill) {
                        Some(start) => {
                            prop_assert_eq!(start % align, 0);
                            let taken: Vec<usize> = (start / U..start / U + len).collect();
                            prop_assert!(taken.iter().all(|u| before.contains(u)), "took what was not free");
                            used.extend(&taken);
                        }
                        None => {
                            // No span held an aligned run of `len` units.
                            for s in set.spans() {
                                let start = (s.base + align - 1) & !(align - 1);
                                prop_assert!(start + len * U > s.base + s.len);
                            }
                        }
                    }
                }
                Op::TakeAt { pick, len } => {
                    if let Some(s) = set.spans().get(pick % set.spans().len().max(1)).copied() {
                        let ok = set.take_at(s.base, len * U);
                        prop_assert_eq!(ok, s.len >= len * U);
                        if ok { used.extend(s.base / U..s.base / U + len); }
                    }
                }
                Op::TakeLongest { min, max } => {
                    let longest = set.spans().iter().filter(|s| (min * U..=max * U).contains(&s.len)).map(|s| s.len).max();
                    let got = set.take_longest(min * U, max * U);
                    prop_assert_eq!(got.map(|s| s.len), longest);
                    if let Some(s) = got {
                        prop_assert!((s.base / U..(s.base + s.len) / U).all(|u| before.contains(&u)));
                        used.extend(s.base / U..(s.base + s.len) / U);
                    }
                }
                Op::Trim { now, delay, max } => {
                    set.trim(now, delay, max * U, &mut spill);
                    prop_assert!(set.bytes() <= max * U);
                    prop_assert!(set.spans().iter().all(|s| now.saturating_sub(s.freed_at) < delay));
                }
            }
            check_shape(&set);
            let free = units(&set);
            let spilled: BTreeSet<usize> = spill.ranges().iter().flat_map(|&(b, l)| b / U..(b + l) / U).collect();
            prop_assert!(free.is_disjoint(&used) && spilled.is_disjoint(&used) && free.is_disjoint(&spilled));
            prop_assert!(released.is_disjoint(&spilled), "spilled twice");
            released.extend(&spilled);
            // Nothing lost: every unit is in use, free or released.
            prop_assert_eq!(used.len() + free.len() + released.len(), 256);
        }
    }
}
