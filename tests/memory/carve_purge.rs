//! Big blocks freed while the heap carves fresh memory go back to the OS
//! at once, not at the next maintenance: the heap purges them before it
//! carves more than 1 MiB of new blocks. Maintenance is pushed a minute
//! away, so only that trigger can purge here. A child process of its own: the
//! purge delay is read once per process, and the purge counter is
//! process-wide.

use crate::common::resident_burst;
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};

pub(crate) fn freed_big_blocks_go_back_before_fresh_memory_is_carved() {
    // SAFETY: set before this process's first allocator call and before
    // any other thread of this (single-case) child process reads the environment.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "60000") };
    const N: usize = 200;
    const SIZE: usize = 20 * 1024;
    let blocks = resident_burst(N, SIZE);
    for p in blocks.iter().step_by(2) {
        // SAFETY: freed once; the odd blocks stay live (no page empties).
        unsafe { MIDL_user_free(*p as *mut _) };
    }
    let before = os_stats().purged;
    // 3 MiB of blocks of another class: all carved fresh.
    let fresh: Vec<usize> = (0..128).map(|_| MIDL_user_allocate(24 * 1024) as usize).collect();
    let purged = os_stats().purged - before;
    let expect = N / 2 * 16 * 1024;
    assert!(
        purged >= expect,
        "{purged} bytes given back while carving, want at least {expect}"
    );
    for p in fresh.iter().chain(blocks.iter().skip(1).step_by(2)) {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(*p as *mut _) };
    }
}
