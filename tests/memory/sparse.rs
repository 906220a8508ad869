//! A page left sparse by a phase of the program (most of its blocks freed,
//! the rest live) gives back the OS pages in which every block is free,
//! before the heap carves fresh memory: a slab allocator would otherwise
//! keep the whole page resident for the sake of a few live blocks. The
//! blocks parked in those OS pages come back when the class needs them,
//! and the live blocks keep their contents. Maintenance is pushed a minute
//! away, so only the carve trigger can purge here. A child process of its own:
//! the purge delay is read once per process, and the purge counter is
//! process-wide.

use crate::common::{fill, holds};
use midl_alloc::{os_stats, MIDL_user_allocate, MIDL_user_free};
use std::collections::BTreeMap;

const SIZE: usize = 1000;

pub(crate) fn sparse_pages_give_back_free_os_pages_and_keep_every_block() {
    // SAFETY: set before this process's first allocator call and before
    // any other thread of this (single-case) child process reads the environment.
    unsafe { std::env::set_var("MIDL_ALLOC_PURGE_DELAY_MS", "60000") };
    const N: usize = 16 * 1024;
    // 16 MiB of 1000-byte blocks written through, then all but every
    // 16th freed: about four live blocks in each 64 KiB page.
    let mut live: BTreeMap<usize, usize> = BTreeMap::new();
    let blocks: Vec<usize> = (0..N).map(|_| MIDL_user_allocate(SIZE) as usize).collect();
    for (id, &p) in blocks.iter().enumerate() {
        fill(p, SIZE, id);
    }
    for (id, &p) in blocks.iter().enumerate() {
        if id % 16 == 0 {
            live.insert(p, id);
        } else {
            // SAFETY: freed once.
            unsafe { MIDL_user_free(p as *mut _) };
        }
    }
    let rss_sparse = crate::common::rss_kib();
    let before = os_stats().purged;
    // 3 MiB of blocks of another class: all carved fresh.
    let fresh: Vec<usize> = (0..1024).map(|_| MIDL_user_allocate(3000) as usize).collect();
    let purged = os_stats().purged - before;
    // Each page holds 65 blocks, at most 5 of them live, which overlap at
    // most 10 of its 16 OS pages: at least 6 OS pages go back from each of
    // the 252 pages but the one still current.
    let expect = 251 * 6 * 4096;
    assert!(
        purged >= expect,
        "{purged} bytes of sparse pages given back while carving, want at least {expect}"
    );
    let rss = crate::common::rss_kib();
    assert!(
        rss + (expect / 2 / 1024) as u64 <= rss_sparse + 3 * 1024,
        "RSS {rss} KiB after carving 3 MiB, {rss_sparse} KiB before: the purge did not drop it"
    );
    for (&p, &id) in &live {
        assert!(holds(p, SIZE, id), "live block {p:#x} lost its contents");
    }
    // The class takes its parked blocks back: as many as were freed, each
    // distinct and written through, and every live block intact.
    for id in N..2 * N - N / 16 {
        let p = MIDL_user_allocate(SIZE) as usize;
        assert!(p != 0);
        if let Some((&q, _)) = live.range(..p + SIZE).next_back() {
            assert!(q + SIZE <= p, "block {p:#x} overlaps live block {q:#x}");
        }
        if let Some((&q, _)) = live.range(p..).next() {
            assert!(p + SIZE <= q, "block {p:#x} overlaps live block {q:#x}");
        }
        fill(p, SIZE, id);
        live.insert(p, id);
    }
    for (&p, &id) in &live {
        assert!(holds(p, SIZE, id), "block {p:#x} lost its contents");
        // SAFETY: freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
    for p in fresh {
        // SAFETY: freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}
