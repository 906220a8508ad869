//! Workload 1b: one call's parameters in a per-call arena released at
//! once, against the same call freed block by block: interleaved rounds,
//! every variant once a round on the same calls, written to
//! results/environments.md (`cargo bench --bench compare -- environment`,
//! or a full run).

use super::*;
use midl_alloc::allocator_api2::alloc::{Allocator as _, Layout};
use midl_alloc::environment::Environment;

/// Allocates every parameter of `call` with `alloc` and writes it.
#[inline(always)]
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

pub(crate) const ENV_VARIANTS: [&str; 8] = [
    "midl-alloc Environment as an Allocator (`&Environment`)",
    "midl-alloc Environment reused, one reset per call (`Environment::reset`)",
    "midl-alloc RpcSs environment (RpcSmEnableAllocate, RpcSsAllocate, RpcSmDisableAllocate)",
    "midl-alloc block by block (MIDL_user_allocate, MIDL_user_free)",
    "bumpalo Bump, made and dropped per call",
    "bumpalo Bump, one reset per call",
    "mimalloc heap (mi_heap_new, mi_heap_destroy)",
    "system block by block",
];

/// Runs `n` calls (from `calls`, in turn) in variant `v`.
fn run_variant(v: usize, calls: &[Call], n: u64) -> Duration {
    let start = Instant::now();
    let n = n as usize;
    match v {
        0 => arena_environment(calls, n),
        1 => arena_environment_reset(calls, n),
        2 => arena_rpcss(calls, n),
        3 => each_midl(calls, n),
        4 => arena_bump(calls, n),
        5 => arena_bump_reset(calls, n),
        6 => arena_mimalloc_heap(calls, n),
        _ => each_system(calls, n),
    }
    start.elapsed()
}

// One function a variant, not inlined, so a profile (or callgrind's
// `--toggle-collect='*arena_*'`) tells them apart.

/// Allocates a call's 16-byte-aligned blocks in `env` (`&Environment`).
fn in_environment(env: &Environment) -> impl FnMut(usize) -> *mut u8 + '_ {
    |n| {
        let l = Layout::from_size_align(n, 16).unwrap();
        env.allocate(l).map_or(std::ptr::null_mut(), |p| p.cast().as_ptr())
    }
}

#[inline(never)]
fn arena_environment(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
        let env = Environment::enable().unwrap();
        fill_call(&calls[i % calls.len()], in_environment(&env), &mut live);
        live.clear();
        drop(env);
    }
}

#[inline(never)]
fn arena_environment_reset(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    let mut env = Environment::enable().unwrap();
    for i in 0..n {
        fill_call(&calls[i % calls.len()], in_environment(&env), &mut live);
        live.clear();
        env.reset().unwrap();
    }
}

#[inline(never)]
fn arena_rpcss(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
        assert_eq!(midl_alloc::RpcSmEnableAllocate(), 0);
        fill_call(
            &calls[i % calls.len()],
            |n| midl_alloc::RpcSsAllocate(n).cast(),
            &mut live,
        );
        live.clear();
        assert_eq!(midl_alloc::RpcSmDisableAllocate(), 0);
    }
}

#[inline(never)]
fn each_midl(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
        marshal_call(Midl, &calls[i % calls.len()], &mut live);
    }
}

#[inline(never)]
fn arena_bump(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
        let bump = bumpalo::Bump::new();
        fill_call(
            &calls[i % calls.len()],
            |n| bump.alloc_layout(Layout::from_size_align(n, 16).unwrap()).as_ptr(),
            &mut live,
        );
        live.clear();
        drop(bump);
    }
}

#[inline(never)]
fn arena_bump_reset(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    let mut bump = bumpalo::Bump::new();
    for i in 0..n {
        fill_call(
            &calls[i % calls.len()],
            |n| bump.alloc_layout(Layout::from_size_align(n, 16).unwrap()).as_ptr(),
            &mut live,
        );
        live.clear();
        bump.reset();
    }
}

#[inline(never)]
fn arena_mimalloc_heap(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
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
    }
}

#[inline(never)]
fn each_system(calls: &[Call], n: usize) {
    let mut live = Vec::with_capacity(32);
    for i in 0..n {
        marshal_call(System, &calls[i % calls.len()], &mut live);
    }
}

/// The interleaved rounds: `rounds` rounds of `work` calls a variant
/// (mimalloc's heaps, a hundred times slower, a tenth of that), and the
/// table.
pub(crate) fn environment_rounds(rounds: usize, work: u64, calls: &[Call], write: bool) {
    let runs: Vec<Box<dyn Fn(u64) -> Duration + '_>> = (0..ENV_VARIANTS.len())
        .map(|v| -> Box<dyn Fn(u64) -> Duration> {
            let scale = if v == 6 { 10 } else { 1 };
            Box::new(move |n| run_variant(v, calls, n / scale) * scale as u32)
        })
        .collect();
    let refs: Vec<&dyn Fn(u64) -> Duration> = runs.iter().map(|r| r.as_ref()).collect();
    let ns = measure_rounds(rounds, work, &refs);
    let mut md = String::new();
    let _ = writeln!(md, "# Per-call arenas: one call's parameters released at once\n");
    let _ = writeln!(md, "Machine: {}.  ", machine());
    let _ = writeln!(
        md,
        "Command: `cargo bench --bench compare -- environment` (or a full run). {rounds} rounds of {work} calls each \
         (mimalloc's heaps: {} calls, scaled), every variant once a round, in turn; calls/s is the median \
         over rounds, and each ratio the median of the rounds' ratios of the variant's time to the first's \
         (above 1.00: the `&Environment` call is faster).\n",
        work / 10
    );
    let _ = writeln!(
        md,
        "One call is one unmarshalled call of the marshalling row (a 64-byte struct, 1-7 strings of 8-256 bytes, \
         an array of up to 4 KiB in one call of four, four referents), every block 16-byte aligned and written; \
         an arena variant makes its arena, allocates the call and ends the arena; a block-by-block one frees \
         every block. Single thread.\n"
    );
    let _ = writeln!(md, "| variant | calls/s | `&Environment` call vs this |");
    let _ = writeln!(md, "|---|---:|---:|");
    for (v, name) in ENV_VARIANTS.iter().enumerate() {
        let rate = 1e9 / median(ns[v].clone());
        let ratio = median(ns[v].iter().zip(&ns[0]).map(|(o, m)| o / m).collect());
        let _ = writeln!(md, "| {name} | {:.2} M | {ratio:.2} |", rate / 1e6);
    }
    print!("{md}");
    if write {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/environments.md");
        std::fs::write(&path, md).unwrap();
        println!("wrote {}", path.display());
    }
}
