//! Pages left sparse by frees from another thread give back their free OS
//! pages too: no free of the owner's shows the page going sparse, so the
//! owner notices when it next looks at the page (for room, or on its list
//! of full pages) and purges before it carves fresh memory. Maintenance is
//! pushed a minute away. A child process of its own: the purge delay is read once
//! per process, and the purge counter is process-wide.

use crate::common::{fill, holds};
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};

const SIZE: usize = 1000;

pub(crate) fn pages_left_sparse_by_remote_frees_give_back_free_os_pages() {
    // SAFETY: set before this process's first allocator call and before
    // any other thread of this (single-case) child process reads the environment.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "60000") };
    const N: usize = 16 * 1024;
    let blocks: Vec<usize> = (0..N).map(|_| MIDL_user_allocate(SIZE) as usize).collect();
    for (id, &p) in blocks.iter().enumerate() {
        fill(p, SIZE, id);
    }
    // Another thread frees all but every 16th block.
    let freed: Vec<usize> = blocks
        .iter()
        .enumerate()
        .filter(|(id, _)| id % 16 != 0)
        .map(|(_, &p)| p)
        .collect();
    std::thread::spawn(move || {
        for p in freed {
            // SAFETY: freed once, by a thread that is not the owner.
            unsafe { MIDL_user_free(p as *mut _) };
        }
    })
    .join()
    .unwrap();
    let before = os_stats().purged;
    // 3 MiB of blocks of another class, carved fresh by the owner.
    let fresh: Vec<usize> = (0..1024).map(|_| MIDL_user_allocate(3000) as usize).collect();
    let purged = os_stats().purged - before;
    // As in `memory_sparse`: at least 6 of 16 OS pages from each of 252
    // pages; half of that, since the owner finds them as it goes.
    let expect = 252 * 6 * 4096 / 2;
    assert!(
        purged >= expect,
        "{purged} bytes of pages left sparse by remote frees given back, want at least {expect}"
    );
    for (id, &p) in blocks.iter().enumerate().step_by(16) {
        assert!(holds(p, SIZE, id), "live block {p:#x} lost its contents");
        // SAFETY: freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
    for p in fresh {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}
