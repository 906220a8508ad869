//! The `Allocator` trait (allocator-api2) for `MidlAlloc` and
//! `&Environment`: real collections on several threads, contents checked;
//! alignment, in-place growth and the latest block's release; a random
//! sequence of trait calls checked against a model. (That an environment's
//! end gives its memory back is `tests/memory/environment_release.rs`.)

#![cfg(feature = "allocator-api2")]

use hashbrown::HashMap;
use midl_alloc::allocator_api2::alloc::{Allocator, Layout};
use midl_alloc::allocator_api2::boxed::Box;
use midl_alloc::allocator_api2::vec::Vec;
use midl_alloc::environment::{allocate, set_thread_handle, thread_handle, Environment};
use midl_alloc::{MidlAlloc, RpcSmDisableAllocate};
use proptest::prelude::*;
use std::ptr::NonNull;

fn assert_sync<T: Sync + Send>() {}

#[test]
fn environment_is_sync_and_send() {
    assert_sync::<Environment>();
    assert_sync::<&Environment>();
}

/// One "call": a vector, a byte string and a map, built with `a`, checked.
fn build_call<A: Allocator + Copy>(a: A, seed: u64) -> u64 {
    let mut v: Vec<u64, A> = Vec::new_in(a);
    let mut s: Vec<u8, A> = Vec::new_in(a);
    let mut m: HashMap<u64, Box<[u8; 40], A>, hashbrown::DefaultHashBuilder, A> = HashMap::new_in(a);
    let n = 50 + (seed % 500);
    for i in 0..n {
        v.push(seed ^ i);
        s.extend_from_slice(format!("{i}:").as_bytes());
        m.insert(i, Box::new_in([(seed + i) as u8; 40], a));
    }
    let mut sum = 0u64;
    for (i, x) in v.iter().enumerate() {
        assert_eq!(*x, seed ^ i as u64);
        sum = sum.wrapping_add(*x);
    }
    for i in 0..n {
        assert_eq!(*m[&i], [(seed + i) as u8; 40]);
    }
    let text: std::string::String = (0..n).map(|i| format!("{i}:")).collect();
    assert_eq!(&s[..], text.as_bytes());
    v.shrink_to_fit();
    assert_eq!(v.len() as u64, n);
    sum
}

#[test]
fn midl_alloc_backs_collections_on_several_threads() {
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for round in 0..50 {
                    build_call(MidlAlloc, t * 1000 + round);
                }
            });
        }
    });
}

#[test]
fn one_environment_serves_several_threads_at_once() {
    let env = Environment::enable().unwrap();
    let sums: std::vec::Vec<u64> = std::thread::scope(|s| {
        let handles: std::vec::Vec<_> = (0..4u64)
            .map(|t| {
                let env = &env;
                s.spawn(move || {
                    (0..50)
                        .map(|r| build_call(env, t * 1000 + r))
                        .fold(0, u64::wrapping_add)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // The same calls through the heaps give the same answers.
    for (t, sum) in sums.iter().enumerate() {
        let want = (0..50)
            .map(|r| build_call(MidlAlloc, t as u64 * 1000 + r))
            .fold(0, u64::wrapping_add);
        assert_eq!(*sum, want);
    }
    env.disable().unwrap();
}

#[test]
fn collections_outliving_threads_stay_until_the_environment_ends() {
    let env = Environment::enable().unwrap();
    let kept: std::vec::Vec<Vec<u32, &Environment>> = std::thread::scope(|s| {
        let hs: std::vec::Vec<_> = (0..3u32)
            .map(|t| {
                let env = &env;
                s.spawn(move || {
                    let mut v = Vec::new_in(env);
                    v.extend((0..10_000).map(|i| i * 3 + t));
                    v
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, v) in kept.iter().enumerate() {
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u32 * 3 + t as u32));
    }
    drop(kept);
}

#[test]
fn alignment_is_honoured_and_blocks_do_not_overlap() {
    let env = Environment::enable().unwrap();
    let mut blocks = std::vec::Vec::new();
    for (i, align) in [1usize, 2, 8, 16, 32, 64, 256, 4096, 8192, 65536]
        .iter()
        .cycle()
        .take(300)
        .enumerate()
    {
        let size = [0, 1, 24, 100, 3000, 5000, 20_000][i % 7];
        let layout = Layout::from_size_align(size, *align).unwrap();
        for a in [&env as &dyn Allocator, &MidlAlloc] {
            let b = a.allocate(layout).unwrap();
            assert_eq!(b.len(), size);
            let p = b.cast::<u8>();
            assert_eq!(p.as_ptr() as usize % align, 0, "align {align} size {size}");
            // SAFETY: `size` bytes of a live block.
            unsafe { p.as_ptr().write_bytes(i as u8, size) };
            blocks.push((a as *const dyn Allocator, p, layout, i as u8));
        }
    }
    for (_, p, layout, fill) in &blocks {
        // SAFETY: live blocks, still ours.
        let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), layout.size()) };
        assert!(s.iter().all(|b| b == fill));
    }
    for (a, p, layout, _) in blocks {
        // SAFETY: each block once, through the allocator that gave it.
        unsafe { (*a).deallocate(p, layout) };
    }
}

#[test]
fn the_latest_block_is_taken_back_and_grows_in_place() {
    let env = Environment::enable().unwrap();
    let a = &env;
    let l = Layout::from_size_align(100, 8).unwrap();
    let first = a.allocate(l).unwrap().cast::<u8>();
    // SAFETY: the latest block, given back; the next takes its place.
    unsafe { a.deallocate(first, l) };
    let again = a.allocate(l).unwrap().cast::<u8>();
    assert_eq!(first, again);
    // SAFETY: `again` is live with `l`; 100 bytes written, then grown.
    let grown = unsafe {
        again.as_ptr().write_bytes(7, 100);
        a.grow(again, l, Layout::from_size_align(1000, 8).unwrap()).unwrap()
    };
    assert_eq!(grown.cast::<u8>(), again, "the latest block grows in place");
    // SAFETY: the first 100 bytes were written before the grow.
    assert!(unsafe { std::slice::from_raw_parts(again.as_ptr(), 100) }
        .iter()
        .all(|b| *b == 7));
    // A block that is not the latest moves, and keeps its contents.
    let other = a.allocate(l).unwrap().cast::<u8>();
    // SAFETY: `again` is live with 1000 bytes, not the latest.
    let moved = unsafe {
        a.grow(
            again,
            Layout::from_size_align(1000, 8).unwrap(),
            Layout::from_size_align(2000, 8).unwrap(),
        )
    }
    .unwrap()
    .cast::<u8>();
    assert_ne!(moved, again);
    // SAFETY: the first 100 bytes were copied.
    assert!(unsafe { std::slice::from_raw_parts(moved.as_ptr(), 100) }
        .iter()
        .all(|b| *b == 7));
    assert_ne!(other, moved);
}

#[test]
fn only_the_owner_ends_an_environment() {
    let env = Environment::enable().unwrap();
    assert_eq!(thread_handle(), Some(env.handle()));
    // The C call on the attached thread is refused: collections may hold
    // the environment's blocks.
    assert_eq!(RpcSmDisableAllocate(), 87);
    assert_eq!(thread_handle(), Some(env.handle()));
    let mut v = Vec::new_in(&env);
    v.push(1u8);
    assert!(allocate(10).is_ok());
    drop(v);
    let h = env.handle();
    env.disable().unwrap();
    assert_eq!(thread_handle(), None);
    assert!(set_thread_handle(Some(h)).is_err());
}

#[test]
fn a_reset_ends_every_block_and_keeps_the_environment_usable() {
    let mut env = Environment::enable().unwrap();
    for call in 0..200u64 {
        let old = env.handle();
        assert_eq!(thread_handle(), Some(old));
        // Blocks from this thread and from two others, all checked.
        let sum = std::thread::scope(|s| {
            let hs: std::vec::Vec<_> = (0..2u64)
                .map(|t| {
                    let env = &env;
                    s.spawn(move || build_call(env, call * 10 + t))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).fold(0, u64::wrapping_add)
        });
        let want = (0..2u64)
            .map(|t| build_call(MidlAlloc, call * 10 + t))
            .fold(0, u64::wrapping_add);
        assert_eq!(sum, want);
        env.reset().unwrap();
        // A new handle, the old one refused; the thread stays attached.
        assert_ne!(env.handle(), old);
        assert_eq!(thread_handle(), Some(env.handle()));
        assert!(set_thread_handle(Some(old)).is_err());
        assert_eq!(thread_handle(), Some(env.handle()));
        // RpcSs calls on the attached thread use the new environment.
        let p = allocate(24).unwrap();
        // SAFETY: 24 bytes just allocated.
        unsafe { p.as_ptr().write_bytes(0xA5, 24) };
        env.reset().unwrap();
    }
    env.disable().unwrap();
    assert_eq!(thread_handle(), None);
}

#[test]
fn a_reset_from_an_unattached_thread_keeps_others_detached() {
    let mut env = Environment::enable().unwrap();
    set_thread_handle(None).unwrap();
    let mut firsts = std::collections::HashSet::new();
    for call in 0..50u32 {
        let mut v = Vec::with_capacity_in(1000, &env);
        v.extend((0..1000u32).map(|i| i ^ call));
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u32 ^ call));
        firsts.insert(v.as_ptr() as usize);
        drop(v);
        env.reset().unwrap();
        assert_eq!(thread_handle(), None);
    }
    // One thread's calls reuse the kept chunk: every first block at the
    // same address.
    assert_eq!(firsts.len(), 1, "{firsts:?}");
    env.disable().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(usize, u32),
    Free(usize),
    Grow(usize, usize),
    Shrink(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..6000, 0u32..8).prop_map(|(s, a)| Op::Alloc(s, a)),
        2 => any::<usize>().prop_map(Op::Free),
        2 => (any::<usize>(), 1usize..9000).prop_map(|(i, s)| Op::Grow(i, s)),
        1 => (any::<usize>(), 0usize..3000).prop_map(|(i, s)| Op::Shrink(i, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Live blocks keep their contents whatever the environment does with
    /// the others (take back, grow or shrink in place, move).
    #[test]
    fn environment_blocks_match_a_model(ops in proptest::collection::vec(op(), 1..300)) {
        let env = Environment::enable().unwrap();
        let a = &env;
        let mut live: std::vec::Vec<(NonNull<u8>, Layout, u8)> = std::vec::Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            let tag = n as u8;
            match op {
                Op::Alloc(size, a_log) => {
                    let layout = Layout::from_size_align(size, 1 << (a_log * 2)).unwrap();
                    let p = a.allocate(layout).unwrap().cast::<u8>();
                    prop_assert_eq!(p.as_ptr() as usize % layout.align(), 0);
                    // SAFETY: `size` bytes of a live block.
                    unsafe { p.as_ptr().write_bytes(tag, size) };
                    live.push((p, layout, tag));
                }
                Op::Free(i) if !live.is_empty() => {
                    let (p, layout, _) = live.swap_remove(i % live.len());
                    // SAFETY: a live block of `a`, given back once.
                    unsafe { a.deallocate(p, layout) };
                }
                Op::Grow(i, extra) if !live.is_empty() => {
                    let k = i % live.len();
                    let (p, old, t) = live[k];
                    let new = Layout::from_size_align(old.size() + extra, old.align()).unwrap();
                    // SAFETY: live with `old`; `new` is no smaller.
                    let q = unsafe { a.grow(p, old, new) }.unwrap().cast::<u8>();
                    // SAFETY: the grown part is ours to write.
                    unsafe { q.as_ptr().add(old.size()).write_bytes(t, extra) };
                    live[k] = (q, new, t);
                }
                Op::Shrink(i, to) if !live.is_empty() => {
                    let k = i % live.len();
                    let (p, old, t) = live[k];
                    let new = Layout::from_size_align(to.min(old.size()), old.align()).unwrap();
                    // SAFETY: live with `old`; `new` is no larger.
                    let q = unsafe { a.shrink(p, old, new) }.unwrap().cast::<u8>();
                    live[k] = (q, new, t);
                }
                _ => {}
            }
            for (p, layout, t) in &live {
                // SAFETY: live blocks.
                let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), layout.size()) };
                prop_assert!(s.iter().all(|b| b == t), "block of {} bytes lost its contents", layout.size());
            }
        }
    }
}
