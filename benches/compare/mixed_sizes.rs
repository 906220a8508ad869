//! Workload: mixed sizes from 8 B to 128 KiB, in the manner of the
//! alloc-test benchmark: 2,000 slots, each op frees the block in a random
//! slot and allocates one of a random size in its place, filled through and
//! checked when freed. Sizes are power-of-two biased: a random power from
//! 8 B to 128 KiB, then half the time that power exactly and otherwise a
//! size between it and the power below. The blocks above the small-object
//! limit (64 KiB) make about a tenth of the requests and half the bytes.
//! `mixed_sizes_2` runs two threads, each on slots of its own.

use super::*;

const SLOTS: usize = 2000;

fn size(rng: &mut Rng) -> usize {
    let hi = 1usize << rng.range(3, 17);
    if rng.next() & 1 == 0 {
        hi
    } else {
        rng.range(hi / 2 + 1, hi)
    }
}

fn fill_byte(i: usize, size: usize) -> u8 {
    (i ^ size ^ (size >> 8)) as u8
}

/// `ops` replacements on one thread's slots; seeded by `seed`.
fn run<A: Allocator>(a: A, ops: u64, seed: u64) {
    let mut rng = Rng(seed);
    let mut slots = vec![(std::ptr::null_mut::<u8>(), 0usize); SLOTS];
    let check = |i: usize, p: *mut u8, n: usize| {
        let b = fill_byte(i, n);
        // SAFETY: `p` holds `n` bytes, all written with `b`.
        unsafe {
            for off in [0, n / 2, n - 1] {
                assert_eq!(*p.add(off), b, "{}: block of {n} B corrupted at {off}", A::NAME);
            }
        }
    };
    for _ in 0..ops {
        let i = rng.range(0, SLOTS - 1);
        let (old, n) = slots[i];
        if !old.is_null() {
            check(i, old, n);
            // SAFETY: a live block of `a`, freed once.
            unsafe { a.free(old) };
        }
        let n = size(&mut rng);
        let p = alloc_checked(a, n);
        // SAFETY: `n` bytes.
        unsafe { std::ptr::write_bytes(p, fill_byte(i, n), n) };
        slots[i] = (p, n);
    }
    for (i, (p, n)) in slots.into_iter().enumerate() {
        if !p.is_null() {
            check(i, p, n);
            // SAFETY: live blocks of `a`.
            unsafe { a.free(p) };
        }
    }
}

pub(crate) fn mixed_sizes<A: Allocator>(a: A, ops: u64) -> Duration {
    let start = Instant::now();
    run(a, ops, 0x9e37_79b9_7f4a_7c15);
    start.elapsed()
}

pub(crate) fn mixed_sizes_2<A: Allocator>(a: A, ops: u64) -> Duration {
    let start = Instant::now();
    let threads: Vec<_> = (0..2u64)
        .map(|t| spawn(a, move || run(a, ops.div_ceil(2), 0x9e37_79b9_7f4a_7c15 + t)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    start.elapsed()
}
