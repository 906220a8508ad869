//! Thread churn with per-call environments: each thread keeps a spare
//! environment slot and a spare chunk for its next environment, and gives
//! both back at exit. 70,000 threads each make and end environments; with
//! the slots kept past exit the registry's 65,536 would run out (enable
//! fails), with the chunks kept, 70,000 blocks would stay live.

#![cfg(feature = "allocator-api2")]

use midl_alloc::allocator_api2::vec::Vec;
use midl_alloc::environment::Environment;

#[test]
fn exited_threads_give_back_their_spare_slot_and_chunk() {
    // Warm up this thread and its counters.
    drop(Environment::enable().unwrap());
    midl_alloc::collect();
    let live_before = midl_alloc::stats().totals().2;
    for round in 0..70_000u32 {
        std::thread::spawn(move || {
            for call in 0..2u32 {
                let env = Environment::enable().unwrap_or_else(|e| panic!("thread {round}: {e}"));
                let mut v = Vec::new_in(&env);
                v.extend(0..100 + call);
                assert_eq!(v.iter().sum::<u32>(), (99 + call) * (100 + call) / 2);
                drop(v);
                env.disable().unwrap();
            }
            // The C calls too: the same spares.
            assert_eq!(midl_alloc::RpcSmEnableAllocate(), 0);
            assert!(!midl_alloc::RpcSsAllocate(64).is_null());
            assert_eq!(midl_alloc::RpcSmDisableAllocate(), 0);
        })
        .join()
        .unwrap();
    }
    midl_alloc::collect();
    let live_after = midl_alloc::stats().totals().2;
    assert!(
        live_after < live_before + 1000,
        "{} blocks more live after the threads exited",
        live_after - live_before
    );
}
