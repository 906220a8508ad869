//! Times two midl-alloc workloads for comparing builds of the allocator
//! (default, `--cfg midl_unprotected`, `--features checked`); prints
//! nanoseconds per operation as `pairs <ns> marshal <ns>`, the best of
//! several runs. `scripts/modes.sh` runs the builds in turn and writes
//! results/modes.md.

use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use std::hint::black_box;
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.next() as usize % (hi - lo + 1)
    }
}

/// 64-byte allocate+free pairs.
fn pairs(n: usize) {
    for _ in 0..n {
        let p = MIDL_user_allocate(black_box(64));
        // SAFETY: freed once.
        unsafe { MIDL_user_free(black_box(p)) };
    }
}

/// The marshalling path's shapes (see benches/compare.rs): a 64-byte
/// struct, 1-8 strings of 8-256 bytes, an array of 16 B-4 KiB in one call
/// of four, four 16-64-byte referents; written, then freed in order.
fn marshal(n: usize, rng: &mut Rng) {
    let mut blocks = [std::ptr::null_mut(); 16];
    for call in 0..n {
        let mut k = 0;
        let mut take = |size: usize| {
            let p = MIDL_user_allocate(size).cast::<u8>();
            // SAFETY: `size` bytes; the first is written.
            unsafe { p.write(1) };
            blocks[k] = p;
            k += 1;
        };
        take(64);
        for _ in 0..rng.range(1, 8) {
            take(rng.range(8, 256));
        }
        if call % 4 == 0 {
            take(rng.range(16, 4096));
        }
        for _ in 0..4 {
            take(rng.range(16, 64));
        }
        for p in &blocks[..k] {
            // SAFETY: each freed once.
            unsafe { MIDL_user_free(p.cast()) };
        }
    }
}

fn best_ns(runs: usize, ops: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / ops as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    const PAIRS: usize = 2_000_000;
    const CALLS: usize = 200_000;
    pairs(PAIRS / 10);
    let p = best_ns(7, PAIRS, || pairs(PAIRS));
    let mut rng = Rng(0x9e37_79b9);
    marshal(CALLS / 10, &mut rng);
    let m = best_ns(7, CALLS, || marshal(CALLS, &mut rng));
    println!("pairs {p:.2} marshal {m:.2}");
}
