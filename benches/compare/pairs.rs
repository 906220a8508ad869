//! Workload 2: allocate+free pairs of one size.

use super::*;

pub(crate) const PAIR_SIZES: [usize; 9] = [16, 64, 256, 1024, 4096, 16384, 65536, 256 << 10, 1 << 20];

pub(crate) fn bench_pair<A: Allocator>(
    a: A,
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    g.bench_function(A::NAME, |b| {
        b.iter(|| {
            let p = alloc_checked(a, black_box(size));
            // SAFETY: `p` has at least one byte; freed once.
            unsafe {
                p.write(1);
                a.free(black_box(p));
            }
        })
    });
}
