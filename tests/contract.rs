//! The contract (docs/CONTRACT.md) of MIDL_user_allocate / MIDL_user_free, from Rust.

use midl_alloc::{midl_alloc_usable_size, midl_user_allocate, midl_user_free, MIDL_user_allocate, MIDL_user_free};
use std::collections::HashSet;
use std::ffi::c_void;

fn alloc(size: usize) -> *mut u8 {
    MIDL_user_allocate(size).cast()
}

fn free(p: *mut u8) {
    // SAFETY: only called with blocks from `alloc` that are freed once.
    unsafe { MIDL_user_free(p.cast()) }
}

#[test]
fn alignment_for_every_small_size_and_some_large() {
    let sizes =
        (0..=70_000usize)
            .step_by(1)
            .filter(|s| *s < 4096 || s % 7 == 0)
            .chain([1 << 20, (1 << 20) + 3, 5 << 20]);
    for size in sizes {
        let p = alloc(size);
        assert!(!p.is_null(), "size {size}");
        let align = if size >= 16 { 16 } else { 8 };
        assert_eq!(p as usize % align, 0, "size {size} at {p:p}");
        // SAFETY: live block.
        let usable = unsafe { midl_alloc_usable_size(p.cast()) };
        assert!(usable >= size, "size {size} usable {usable}");
        // SAFETY: the block has `size` bytes.
        unsafe {
            std::ptr::write_bytes(p, 0x5A, size);
        }
        free(p);
    }
}

#[test]
fn zero_size_blocks_are_distinct_and_freeable() {
    let blocks: Vec<_> = (0..10_000).map(|_| alloc(0)).collect();
    let set: HashSet<_> = blocks.iter().copied().collect();
    assert!(!blocks.contains(&std::ptr::null_mut()));
    assert_eq!(set.len(), blocks.len());
    for p in blocks {
        free(p);
    }
}

#[test]
fn impossible_sizes_return_null_and_the_allocator_keeps_working() {
    for size in [
        usize::MAX,
        usize::MAX / 2,
        1usize << 60,
        usize::MAX - 4095,
        (isize::MAX as usize) + 1,
    ] {
        assert!(alloc(size).is_null(), "size {size:#x}");
    }
    let p = alloc(100);
    assert!(!p.is_null());
    free(p);
}

#[test]
fn free_null_is_a_no_op() {
    // SAFETY: NULL is allowed.
    unsafe {
        MIDL_user_free(std::ptr::null_mut());
        midl_user_free(std::ptr::null_mut());
    }
}

#[test]
fn lower_case_aliases_are_the_same_allocator() {
    let p = midl_user_allocate(40);
    assert!(!p.is_null());
    // SAFETY: a live block of this allocator, freed once through the other name.
    unsafe {
        assert!(midl_alloc_usable_size(p) >= 40);
        MIDL_user_free(p);
    }
    let q = MIDL_user_allocate(40);
    // SAFETY: as above.
    unsafe { midl_user_free(q) };
}

#[test]
fn blocks_are_reused_after_free() {
    // The same-thread free path makes blocks available again: a long
    // alloc/free loop of one size stays inside one 64 KiB page.
    let mut seen = HashSet::new();
    for _ in 0..1_000_000 {
        let p = alloc(48);
        seen.insert(p as usize & !0xFFFF);
        free(p);
    }
    assert_eq!(seen.len(), 1, "pages used: {}", seen.len());
}

#[test]
fn free_on_another_thread_after_the_allocator_exited() {
    let blocks: Vec<usize> = std::thread::spawn(|| {
        (0..20_000usize)
            .map(|i| {
                let size = 8 + (i * 37) % 3000;
                let p = alloc(size);
                // SAFETY: the block has `size` bytes.
                unsafe { std::ptr::write_bytes(p, (i % 251) as u8, size) };
                p as usize
            })
            .collect()
    })
    .join()
    .unwrap();
    // The allocating thread has exited: its segments are abandoned.
    for (i, p) in blocks.iter().enumerate() {
        let size = 8 + (i * 37) % 3000;
        // SAFETY: the block is live and has `size` bytes.
        let bytes = unsafe { std::slice::from_raw_parts(*p as *const u8, size) };
        assert!(bytes.iter().all(|b| *b == (i % 251) as u8), "block {i} corrupted");
    }
    std::thread::spawn(move || {
        for p in blocks {
            free(p as *mut u8);
        }
    })
    .join()
    .unwrap();
    // This thread adopts the abandoned segments when it needs pages, and
    // the blocks freed into them are served again.
    let again: Vec<_> = (0..20_000).map(|i| alloc(8 + (i * 37) % 3000)).collect();
    for p in again {
        free(p);
    }
}

#[test]
fn c_void_round_trip() {
    let p: *mut c_void = MIDL_user_allocate(24);
    assert_eq!(p as usize % 16, 0);
    // SAFETY: live block freed once.
    unsafe { MIDL_user_free(p) };
}
