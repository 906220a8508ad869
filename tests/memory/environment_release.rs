//! Environments' memory goes back when they end: 400 environments of 2 MiB
//! each, filled through the `Allocator` front end on two threads, would
//! leave 800 MiB mapped if their chunks were not released; and when one is
//! reset, 400 calls of 2 MiB in one environment likewise. (A child process
//! of its own: `mapped` is process-wide.)

use midl_alloc::allocator_api2::vec::Vec;
use midl_alloc::environment::Environment;
use midl_alloc::os_stats;

pub(crate) fn ending_environments_gives_their_memory_back() {
    // 400 environments of 2 MiB each on two threads: if their chunks were
    // not released, 800 MiB would stay mapped.
    let before = os_stats().mapped;
    for _ in 0..200 {
        let env = Environment::enable().unwrap();
        std::thread::scope(|s| {
            for t in 0..2u8 {
                let env = &env;
                s.spawn(move || {
                    let mut blocks = std::vec::Vec::new();
                    for i in 0..2048usize {
                        let mut b: Vec<u8, &Environment> = Vec::with_capacity_in(1000, env);
                        b.resize(1000, t ^ i as u8);
                        blocks.push(b);
                    }
                    assert!(blocks
                        .iter()
                        .enumerate()
                        .all(|(i, b)| b.iter().all(|x| *x == t ^ i as u8)));
                    std::mem::forget(blocks); // the environment's end frees them
                });
            }
        });
        drop(env);
    }
    let grown = os_stats().mapped.saturating_sub(before);
    assert!(grown < 64 << 20, "{} MiB more mapped", grown >> 20);
}

pub(crate) fn resetting_an_environment_gives_its_memory_back() {
    // 400 calls of 2 MiB each in one environment, reset after each: if the
    // reset kept (or leaked) the chunks beyond its first, 800 MiB would
    // stay mapped.
    let before = os_stats().mapped;
    let mut env = Environment::enable().unwrap();
    for call in 0..400usize {
        let mut blocks = std::vec::Vec::new();
        for i in 0..2048usize {
            let mut b: Vec<u8, &Environment> = Vec::with_capacity_in(1000, &env);
            b.resize(1000, (call ^ i) as u8);
            blocks.push(b);
        }
        assert!(blocks
            .iter()
            .enumerate()
            .all(|(i, b)| b.iter().all(|x| *x == (call ^ i) as u8)));
        std::mem::forget(blocks); // the reset frees them
        env.reset().unwrap();
    }
    let grown = os_stats().mapped.saturating_sub(before);
    assert!(grown < 64 << 20, "{} MiB more mapped", grown >> 20);
    drop(env);
}
