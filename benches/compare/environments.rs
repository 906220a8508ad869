//! Workload 1b: one call's parameters in a per-call environment released at
//! once, against the same call freed block by block.

use super::*;

/// Allocates every parameter of `call` with `alloc` and writes it.
pub(crate) fn fill_call(call: &Call, mut alloc: impl FnMut(usize) -> *mut u8, live: &mut Vec<*mut u8>) {
    let mut take = |size: usize| {
        let p = alloc(ndr(size));
        assert!(!p.is_null());
        // SAFETY: `p` has at least `size` bytes.
        unsafe { std::ptr::write_bytes(p, 0xA5, size) };
        live.push(p);
    };
    for size in call.sizes() {
        take(size);
    }
}

pub(crate) const ENV_VARIANTS: [&str; 4] = [
    "midl-alloc RpcSs environment",
    "midl-alloc block by block",
    "mimalloc heap (mi_heap_destroy)",
    "system block by block",
];

pub(crate) fn bench_environments(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>, calls: &[Call]) {
    let mut live = Vec::with_capacity(32);
    let mut i = 0;
    g.bench_function(ENV_VARIANTS[0], |b| {
        b.iter(|| {
            assert_eq!(midl_alloc::RpcSmEnableAllocate(), 0);
            fill_call(
                &calls[i % calls.len()],
                |n| midl_alloc::RpcSsAllocate(n).cast(),
                &mut live,
            );
            live.clear();
            assert_eq!(midl_alloc::RpcSmDisableAllocate(), 0);
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[1], |b| {
        b.iter(|| {
            marshal_call(Midl, &calls[i % calls.len()], &mut live);
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[2], |b| {
        b.iter(|| {
            // SAFETY: a fresh heap, used by this thread, destroyed at once.
            unsafe {
                let heap = libmimalloc_sys::mi_heap_new();
                fill_call(
                    &calls[i % calls.len()],
                    |n| libmimalloc_sys::mi_heap_malloc(heap, n).cast(),
                    &mut live,
                );
                live.clear();
                libmimalloc_sys::mi_heap_destroy(heap);
            }
            i += 1;
        })
    });
    g.bench_function(ENV_VARIANTS[3], |b| {
        b.iter(|| {
            marshal_call(System, &calls[i % calls.len()], &mut live);
            i += 1;
        })
    });
}
