//! Runs `N` same-thread allocate+free pairs of one size through one
//! allocator, in a function callgrind can count on its own:
//!
//! ```sh
//! cargo build --release --example pair_instructions
//! valgrind --tool=callgrind --toggle-collect='*pairs_*' \
//!     target/release/examples/pair_instructions midl 48 1000000
//! ```
//!
//! `scripts/instructions.sh` runs it for every allocator and writes the
//! per-pair counts to results/instructions.md.

use std::hint::black_box;

/// Through the exported C functions, called (not inlined), as a C caller
/// and as mimalloc's and glibc's functions below are.
#[inline(never)]
fn pairs_midl(n: u64, size: usize) {
    let allocate: extern "C" fn(usize) -> *mut core::ffi::c_void = black_box(midl_alloc::MIDL_user_allocate);
    let free: unsafe extern "C" fn(*mut core::ffi::c_void) = black_box(midl_alloc::MIDL_user_free);
    for _ in 0..n {
        let p = allocate(black_box(size));
        // SAFETY: a live block, freed once.
        unsafe { free(black_box(p)) };
    }
}

/// Through `MidlAlloc` (`GlobalAlloc`), inlined into the caller as a Rust
/// program's allocations are.
#[inline(never)]
fn pairs_midl_rust(n: u64, size: usize) {
    use std::alloc::{GlobalAlloc, Layout};
    for _ in 0..n {
        // SAFETY: a non-zero size with alignment 8; the block is freed once
        // with the same layout.
        unsafe {
            let layout = Layout::from_size_align_unchecked(black_box(size), 8);
            let p = midl_alloc::MidlAlloc.alloc(layout);
            midl_alloc::MidlAlloc.dealloc(black_box(p), layout);
        }
    }
}

#[inline(never)]
fn pairs_mimalloc(n: u64, size: usize) {
    for _ in 0..n {
        // SAFETY: mi_malloc/mi_free on a block it returned.
        unsafe {
            let p = libmimalloc_sys::mi_malloc(black_box(size));
            libmimalloc_sys::mi_free(black_box(p));
        }
    }
}

#[inline(never)]
fn pairs_system(n: u64, size: usize) {
    for _ in 0..n {
        // SAFETY: malloc/free on a block it returned.
        unsafe {
            let p = libc::malloc(black_box(size));
            libc::free(black_box(p));
        }
    }
}

/// The loop with no allocator: its count is subtracted from the others.
#[inline(never)]
fn pairs_empty(n: u64, size: usize) {
    for _ in 0..n {
        let p = black_box(size) as *mut u8;
        black_box(p);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} midl|midl-rust|mimalloc|system|empty SIZE N", args[0]);
        std::process::exit(2);
    }
    let size: usize = args[2].parse().expect("SIZE");
    let n: u64 = args[3].parse().expect("N");
    let f: fn(u64, usize) = match args[1].as_str() {
        "midl" => pairs_midl,
        "midl-rust" => pairs_midl_rust,
        "mimalloc" => pairs_mimalloc,
        "system" => pairs_system,
        "empty" => pairs_empty,
        other => {
            eprintln!("unknown allocator {other}");
            std::process::exit(2);
        }
    };
    // Warm up outside the counted window is not possible with toggle-collect
    // on the same function, so run a short first call: it creates the
    // thread's heap and first page; the counted totals include it, which
    // is why N should be large.
    f(n, size);
}
