//! A test binary whose global allocator is midl-alloc: ordinary Rust
//! collections, threads, over-aligned types and zeroed vectors run on it.

use midl_alloc::MidlAlloc;
use std::collections::{BTreeMap, HashMap};

#[global_allocator]
static GLOBAL: MidlAlloc = MidlAlloc;

#[test]
fn collections_run_on_midl_alloc() {
    let mut m = HashMap::new();
    let mut b = BTreeMap::new();
    for i in 0..100_000u32 {
        m.insert(i, format!("value {i}"));
        b.insert(format!("{i:08}"), vec![i as u8; (i % 300) as usize]);
    }
    for i in (0..100_000u32).step_by(3) {
        assert_eq!(m.remove(&i).unwrap(), format!("value {i}"));
    }
    for (k, v) in &b {
        let i: u32 = k.parse().unwrap();
        assert!(v.iter().all(|x| *x == i as u8));
    }
    // Blocks really come from midl-alloc: it reports their usable size.
    let v = vec![1u8; 1000];
    // SAFETY: `v`'s buffer is a live block of the global allocator.
    assert!(unsafe { midl_alloc::usable_size(v.as_ptr()) } >= 1000);
    assert!(midl_alloc::os_stats().mapped > 0);
}

#[test]
fn vectors_grow_and_shrink_through_realloc() {
    let mut v: Vec<u64> = Vec::new();
    for i in 0..2_000_000u64 {
        v.push(i);
    }
    assert!(v.iter().enumerate().all(|(i, x)| *x == i as u64));
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
}

#[test]
fn over_aligned_types() {
    #[repr(align(64))]
    struct A64([u8; 64]);
    #[repr(align(4096))]
    struct A4096([u8; 100]);
    #[repr(align(65536))]
    struct A64K(u8);
    for _ in 0..1000 {
        let a = Box::new(A64([1; 64]));
        let b = Box::new(A4096([2; 100]));
        assert_eq!(&*a as *const A64 as usize % 64, 0);
        assert_eq!(&*b as *const A4096 as usize % 4096, 0);
        assert_eq!(a.0[63] + b.0[99], 3);
    }
    let c = Box::new(A64K(7));
    assert_eq!(&*c as *const A64K as usize % 65536, 0);
    assert_eq!(c.0, 7);
}

#[test]
fn zeroed_vectors_are_zero_even_when_memory_is_reused() {
    for round in 0..50 {
        let dirty: Vec<Vec<u8>> = (0..200).map(|i| vec![0xFF; 1 + (i * 37 + round) % 5000]).collect();
        drop(dirty);
        let clean: Vec<Vec<u8>> = (0..200).map(|i| vec![0u8; 1 + (i * 41 + round) % 5000]).collect();
        assert!(clean.iter().all(|v| v.iter().all(|b| *b == 0)));
    }
}

#[test]
fn threads_send_boxes_to_each_other() {
    let (tx, rx) = std::sync::mpsc::channel::<Box<[u32]>>();
    let producers: Vec<_> = (0..8u32)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..5000u32 {
                    let n = (i % 64 + 1) as usize;
                    tx.send(vec![t * 1_000_000 + i; n].into_boxed_slice()).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut count = 0;
    for b in rx {
        assert!(b.iter().all(|x| *x == b[0]));
        count += 1;
    }
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(count, 8 * 5000);
}

#[test]
fn zeroed_large_blocks_are_zero_when_a_cached_mapping_is_reused() {
    for round in 0..20usize {
        let size = 100_000 + round * 4096;
        let dirty = vec![0xEEu8; size];
        drop(dirty);
        let clean = vec![0u8; size];
        assert!(clean.iter().all(|b| *b == 0), "round {round}");
        let mut v = clean;
        v.resize(size * 2, 0);
        assert!(v.iter().all(|b| *b == 0));
    }
}

#[test]
fn zeroed_blocks_are_zero_in_segments_reused_for_another_size_range() {
    // A thread dirties medium blocks (segments of 512 KiB pages) and exits:
    // its empty segments go to the shared pool. Small zeroed allocations on
    // another thread may then get such a segment set up for small pages.
    for _ in 0..4 {
        std::thread::spawn(|| {
            let v: Vec<Vec<u8>> = (0..400).map(|_| vec![0xFFu8; 20_000]).collect();
            drop(v);
        })
        .join()
        .unwrap();
        std::thread::spawn(|| {
            let v: Vec<Vec<u8>> = (0..40_000).map(|i| vec![0u8; 16 + i % 2000]).collect();
            for (i, b) in v.iter().enumerate() {
                assert!(b.iter().all(|x| *x == 0), "block {i} of {} bytes not zero", b.len());
            }
        })
        .join()
        .unwrap();
    }
}
