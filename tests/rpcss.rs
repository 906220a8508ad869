//! The RpcSs environment API from Rust: bulk release, early frees, misuse,
//! and an environment shared by threads allocating and freeing at once.

use midl_alloc::environment::{
    allocate, free, set_thread_handle, thread_handle, Environment, RpcError, RPC_S_INVALID_ARG,
};
use std::sync::{Arc, Barrier};

#[test]
fn allocation_needs_an_environment() {
    set_thread_handle(None).unwrap();
    assert_eq!(allocate(10), Err(RpcError(RPC_S_INVALID_ARG)));
    assert_eq!(thread_handle(), None);
}

#[test]
fn disable_releases_everything_and_stale_handles_are_rejected() {
    let env = Environment::enable().unwrap();
    let h = env.handle();
    assert_eq!(thread_handle(), Some(h));
    let blocks: Vec<_> = (0..10_000)
        .map(|i| (allocate(1 + i % 300).unwrap(), 1 + i % 300))
        .collect();
    for (i, (p, n)) in blocks.iter().enumerate() {
        // SAFETY: `n` bytes of a live block.
        unsafe { std::ptr::write_bytes(p.as_ptr(), i as u8, *n) };
    }
    for (i, (p, n)) in blocks.iter().enumerate() {
        // SAFETY: as above.
        let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), *n) };
        assert!(s.iter().all(|b| *b == i as u8), "block {i} overwritten");
    }
    env.disable().unwrap();
    assert_eq!(thread_handle(), None);
    assert_eq!(set_thread_handle(Some(h)), Err(RpcError(RPC_S_INVALID_ARG)));
    assert_eq!(allocate(1), Err(RpcError(RPC_S_INVALID_ARG)));
}

#[test]
fn early_free_checks_its_pointer() {
    let _env = Environment::enable().unwrap();
    let a = allocate(64).unwrap();
    let b = allocate(64).unwrap();
    // SAFETY: a live block, freed once; then misuse that must be rejected.
    unsafe {
        assert_eq!(free(a.as_ptr()), Ok(()));
        assert_eq!(free(a.as_ptr()), Err(RpcError(RPC_S_INVALID_ARG)), "double free");
        assert_eq!(
            free(b.as_ptr().add(16)),
            Err(RpcError(RPC_S_INVALID_ARG)),
            "interior pointer"
        );
        let mut local = [0u8; 32];
        assert_eq!(
            free(local.as_mut_ptr()),
            Err(RpcError(RPC_S_INVALID_ARG)),
            "foreign pointer"
        );
        assert_eq!(free(b.as_ptr()), Ok(()));
    }
    // Dropping the environment disables it.
}

#[test]
fn environments_are_shared_between_threads() {
    const THREADS: usize = 8;
    const PER: usize = 5000;
    let env = Environment::enable().unwrap();
    let h = env.handle();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                set_thread_handle(Some(h)).unwrap();
                barrier.wait();
                let mut kept = Vec::new();
                for i in 0..PER {
                    let n = 8 + (t * 7 + i) % 500;
                    let p = allocate(n).unwrap();
                    // SAFETY: `n` bytes.
                    unsafe { std::ptr::write_bytes(p.as_ptr(), t as u8, n) };
                    if i % 3 == 0 {
                        // SAFETY: a live block of the shared environment.
                        unsafe { free(p.as_ptr()).unwrap() };
                    } else {
                        kept.push((p.as_ptr() as usize, n));
                    }
                }
                kept
            })
        })
        .collect();
    let all: Vec<Vec<(usize, usize)>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (t, kept) in all.iter().enumerate() {
        for (p, n) in kept {
            // SAFETY: live blocks of the environment.
            let s = unsafe { std::slice::from_raw_parts(*p as *const u8, *n) };
            assert!(s.iter().all(|b| *b == t as u8), "thread {t}'s block overwritten");
        }
    }
    // Another thread's blocks are freed from here, each once.
    for (p, _) in all[3].iter().take(100) {
        // SAFETY: live blocks, freed once.
        unsafe { free(*p as *mut u8).unwrap() };
    }
    env.disable().unwrap();
}

#[test]
fn disabling_from_another_thread_is_seen_as_a_stale_handle() {
    let env = Environment::enable().unwrap();
    let h = env.handle();
    std::thread::spawn(move || env.disable().unwrap()).join().unwrap();
    // This thread is still attached to `h`, which no longer exists.
    assert_eq!(thread_handle(), None);
    assert_eq!(allocate(8), Err(RpcError(RPC_S_INVALID_ARG)));
    assert_eq!(set_thread_handle(Some(h)), Err(RpcError(RPC_S_INVALID_ARG)));
}

#[test]
fn a_thread_that_enables_and_disables_in_turn_keeps_its_chunk() {
    // Each disable keeps the environment's chunk for the thread's next
    // enable: 1000 calls take no new chunk from the heap (16 KiB each, 16
    // MB in all if the chunk went back every time).
    std::thread::spawn(|| {
        let call = || {
            assert_eq!(midl_alloc::RpcSmEnableAllocate(), 0);
            for n in [64, 200, 1000] {
                // SAFETY: `n` bytes of a live block of the environment.
                unsafe { midl_alloc::RpcSsAllocate(n).cast::<u8>().write_bytes(0x5A, n) };
            }
            assert_eq!(midl_alloc::RpcSmDisableAllocate(), 0);
        };
        call(); // the first takes the chunk
        let before = midl_alloc::stats().thread.allocated_bytes;
        for _ in 0..1000 {
            call();
        }
        let taken = midl_alloc::stats().thread.allocated_bytes - before;
        assert!(taken < 64 << 10, "{taken} bytes taken from the heap over 1000 calls");
    })
    .join()
    .unwrap();
}
