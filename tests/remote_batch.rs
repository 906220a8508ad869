//! Remote frees batched by page (`heap::remote_batch`): a thread freeing
//! blocks of another heap's page holds them and publishes them to the page
//! a chain at a time. Every held block must reach its owner: when the
//! freeing thread exits, when it frees a block of another page, and when
//! it holds the most a batch takes, while it lives. The owner sees them
//! in its class's `remote_frees` once its statistics read collects its
//! pages. (Each test uses a class of its own: the counters are
//! process-wide and the tests run in parallel.)

use midl_alloc::{stats, MIDL_user_allocate, MIDL_user_free};
use std::sync::mpsc;

/// Blocks of `size` (an exact class size) freed by other threads, as the
/// statistics count them now.
fn remote_frees(size: usize) -> u64 {
    stats()
        .classes
        .iter()
        .find(|c| c.block_size as usize == size)
        .expect("an exact class size")
        .remote_frees
}

fn alloc(size: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let p = MIDL_user_allocate(size).cast::<u8>();
            assert!(!p.is_null());
            // SAFETY: a live block of `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            p as usize
        })
        .collect()
}

/// Frees `blocks`, live blocks handed to the calling thread, once each.
fn free_all(blocks: &[usize]) {
    for &p in blocks {
        // SAFETY: live blocks handed over by their owner, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}

/// Frees each of `runs`, in order, on another thread and, while that
/// thread still lives, reads how many blocks of `size` its owner (the
/// calling thread) has seen come back from it; the thread then exits.
fn remote_frees_seen_while_the_freer_lives(size: usize, runs: Vec<Vec<usize>>) -> u64 {
    let before = remote_frees(size);
    let (freed_tx, freed_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let freer = std::thread::spawn(move || {
        for run in &runs {
            free_all(run);
        }
        freed_tx.send(()).unwrap();
        done_rx.recv().unwrap();
    });
    freed_rx.recv().unwrap();
    let seen = remote_frees(size) - before;
    done_tx.send(()).unwrap();
    freer.join().unwrap();
    seen
}

/// A thread that only frees (it has no heap until its first remote free)
/// frees 40 blocks of one page and exits: its exit publishes them.
#[test]
fn a_freeing_thread_publishes_what_it_holds_when_it_exits() {
    const SIZE: usize = 208;
    std::thread::spawn(|| {
        let blocks = alloc(SIZE, 40);
        let before = remote_frees(SIZE);
        std::thread::spawn(move || free_all(&blocks)).join().unwrap();
        assert_eq!(
            remote_frees(SIZE) - before,
            40,
            "blocks freed by a thread that has exited never reached their page"
        );
    })
    .join()
    .unwrap();
}

/// A live thread frees 20 blocks of one page, then one of another page:
/// the first page's blocks are published while the thread still lives.
#[test]
fn a_free_of_another_page_publishes_the_held_blocks() {
    const SIZE: usize = 400;
    const OTHER: usize = 720;
    std::thread::spawn(|| {
        let blocks = alloc(SIZE, 20);
        let other = alloc(OTHER, 1);
        let seen = remote_frees_seen_while_the_freer_lives(SIZE, vec![blocks, other]);
        assert_eq!(
            seen, 20,
            "held blocks of a page stayed held after a free of another page"
        );
    })
    .join()
    .unwrap();
}

/// A live thread frees 200 blocks of one page: all but the last partial
/// batch (at most 64 blocks) are published while it lives.
#[test]
fn a_long_run_of_one_page_is_published_a_batch_at_a_time() {
    const SIZE: usize = 64;
    const BLOCKS: usize = 200;
    std::thread::spawn(|| {
        let blocks = alloc(SIZE, BLOCKS);
        let page = blocks[0] & !((64 << 10) - 1);
        assert!(
            blocks.iter().all(|&p| p & !((64 << 10) - 1) == page),
            "one page's blocks"
        );
        let before = remote_frees(SIZE);
        let seen = remote_frees_seen_while_the_freer_lives(SIZE, vec![blocks]);
        assert!(
            seen >= (BLOCKS - 64) as u64,
            "only {seen} of {BLOCKS} blocks freed by a live thread reached their page"
        );
        assert_eq!(
            remote_frees(SIZE) - before,
            BLOCKS as u64,
            "blocks lost at the freeing thread's exit"
        );
    })
    .join()
    .unwrap();
}
