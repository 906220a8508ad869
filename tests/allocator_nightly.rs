//! With the `nightly` feature the impls are of core's `Allocator` trait, so
//! std's own collections take `MidlAlloc` and `&Environment`. Built by CI
//! with `RUSTC_BOOTSTRAP=1` (the stable compiler, unstable features on):
//! `cargo test --features nightly --test allocator_nightly`.

#![cfg(feature = "nightly")]
#![feature(allocator_api)]

use midl_alloc::environment::Environment;
use midl_alloc::MidlAlloc;
use std::collections::VecDeque;

#[test]
fn std_collections_take_both_allocators() {
    let env = Environment::enable().unwrap();
    std::thread::scope(|s| {
        for t in 0..3u32 {
            let env = &env;
            s.spawn(move || {
                let mut v: Vec<u32, &Environment> = Vec::new_in(env);
                v.extend(0..5000 + t);
                let b = Box::new_in([t; 64], env);
                let mut q = VecDeque::new_in(MidlAlloc);
                q.extend(v.iter().rev().copied());
                assert!(v.iter().zip(q.iter().rev()).all(|(a, b)| a == b));
                assert_eq!(*b, [t; 64]);
                assert_eq!(v.len() as u32, 5000 + t);
            });
        }
    });
    env.disable().unwrap();
}
