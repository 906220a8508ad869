//! Workload 1: the hot marshalling path.

use super::*;

/// The parameters of one unmarshalled call.
pub(crate) struct Call {
    pub(crate) strings: Vec<usize>,
    pub(crate) array: Option<usize>,
    pub(crate) referents: [usize; 4],
}

impl Call {
    /// The sizes of the call's parameters in traversal order (a 64-byte
    /// struct, its strings, its array, its referents), before the NDR
    /// wrapper's rounding.
    pub(crate) fn sizes(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::once(64)
            .chain(self.strings.iter().copied())
            .chain(self.array)
            .chain(self.referents.iter().copied())
    }
}

pub(crate) fn calls() -> Vec<Call> {
    let mut rng = Rng(0x5EED_CA11);
    (0..512)
        .map(|i| Call {
            strings: (0..rng.range(1, 8)).map(|_| rng.range(8, 256)).collect(),
            array: (i % 4 == 0).then(|| rng.range(16, 4096)),
            referents: [0; 4].map(|_| rng.range(16, 64)),
        })
        .collect()
}

/// Allocates every parameter of `call` (through the NDR wrapper's sizes),
/// writes it, then frees everything in traversal order.
pub(crate) fn marshal_call<A: Allocator>(a: A, call: &Call, live: &mut Vec<*mut u8>) {
    marshal_call_with(a, call, live, true)
}

/// [`marshal_call`], writing the parameters or not: without the writes,
/// what is left is the allocator's share of the call (the writes cost the
/// same for every allocator, save for cache misses on the memory each one
/// hands out).
pub(crate) fn marshal_call_with<A: Allocator>(a: A, call: &Call, live: &mut Vec<*mut u8>, write: bool) {
    let mut take = |size: usize| {
        let p = alloc_checked(a, ndr(size));
        if write {
            // SAFETY: `p` has at least `size` bytes.
            unsafe { std::ptr::write_bytes(p, 0xA5, size) };
        }
        live.push(black_box(p));
    };
    for size in call.sizes() {
        take(size);
    }
    for p in live.drain(..) {
        // SAFETY: allocated above, freed once.
        unsafe { a.free(black_box(p)) };
    }
}

pub(crate) fn bench_marshal<A: Allocator>(
    a: A,
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    calls: &[Call],
    write: bool,
) {
    let mut live = Vec::with_capacity(32);
    let mut i = 0;
    g.bench_function(A::NAME, |b| {
        b.iter(|| {
            marshal_call_with(a, &calls[i % calls.len()], &mut live, write);
            i += 1;
        })
    });
}

/// `n` marshalling calls in a row (the interleaved measurement's unit).
pub(crate) fn marshal_calls<A: Allocator>(a: A, calls: &[Call], n: u64, write: bool) -> Duration {
    let mut live = Vec::with_capacity(32);
    let start = Instant::now();
    for i in 0..n as usize {
        marshal_call_with(a, &calls[i % calls.len()], &mut live, write);
    }
    start.elapsed()
}
