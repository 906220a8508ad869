//! Blocks freed by other threads come back to their page whole: the owner
//! takes a page's remote list with its count and without walking it. These
//! tests check what the owner does with such a list in the two cases
//! where it cannot simply become one of its own lists.

mod common;

use common::{fill, holds};
use midl_alloc::{stats, MIDL_user_allocate, MIDL_user_free};

const SIZE: usize = 48;
/// 48-byte blocks in one 64 KiB page.
const PAGE_BLOCKS: usize = (64 << 10) / SIZE;
const PAGE_MASK: usize = !((64 << 10) - 1);

fn alloc(n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let p = MIDL_user_allocate(SIZE) as usize;
            assert_ne!(p, 0);
            fill(p, SIZE, i);
            p
        })
        .collect()
}

/// Frees `blocks`, live blocks the calling thread holds, once each.
fn free_all(blocks: impl IntoIterator<Item = usize>) {
    for p in blocks {
        // SAFETY: live blocks the caller holds and hands over, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}

/// Every block of `again` (from `alloc`) lies in `page` and still holds
/// what `alloc` wrote; `lost` says what blocks outside it would mean.
fn assert_from_page_intact(again: &[usize], page: usize, lost: &str) {
    let outside = again.iter().filter(|&&p| p & PAGE_MASK != page).count();
    assert_eq!(outside, 0, "{outside} {lost}");
    for (i, &p) in again.iter().enumerate() {
        assert!(holds(p, SIZE, i), "block {i} at {p:#x} was overwritten");
    }
}

fn free_on_another_thread(blocks: Vec<usize>) {
    std::thread::spawn(move || free_all(blocks)).join().unwrap();
}

/// The owner's page still has blocks on both of its own lists (part of a
/// carved run unused, a few blocks it freed itself) when every other block
/// comes back from another thread. A statistics read collects the page
/// without retiring it (it is the class's current page): the page must
/// start over whole, so the next page's worth of blocks fits in it again.
#[test]
fn a_page_whose_blocks_all_came_back_is_reused_whole() {
    std::thread::spawn(|| {
        let mut first = alloc(PAGE_BLOCKS - 10);
        let page = first[0] & PAGE_MASK;
        assert!(
            first.iter().all(|&p| p & PAGE_MASK == page),
            "the test needs a fresh thread's first page of its class"
        );
        free_all(first.drain(..5));
        free_on_another_thread(first);
        // Collects every page of the thread (counts for the table).
        let s = stats();
        assert!(s.classes.iter().map(|c| c.remote_frees).sum::<u64>() >= (PAGE_BLOCKS - 15) as u64);
        let again = alloc(PAGE_BLOCKS);
        assert_from_page_intact(
            &again,
            page,
            "of a page's worth of blocks came from another page: the collected page did not start over",
        );
        free_all(again);
    })
    .join()
    .unwrap();
}

/// Blocks come back from another thread while the owner's page still has
/// blocks of its own to hand out and a few blocks are still live: the
/// remote list stays where it is at the statistics read, and the owner
/// gets to its blocks later. All the page's free blocks are handed out
/// once each before any other page is used.
#[test]
fn remote_blocks_left_on_their_list_are_handed_out_later() {
    std::thread::spawn(|| {
        let mut blocks = alloc(PAGE_BLOCKS / 2);
        let page = blocks[0] & PAGE_MASK;
        assert!(blocks.iter().all(|&p| p & PAGE_MASK == page));
        let live: Vec<usize> = blocks.drain(..10).collect();
        free_all(blocks.drain(..PAGE_BLOCKS / 4));
        free_on_another_thread(blocks);
        let _ = stats();
        // Every block but the 10 live ones: the page's own lists, its
        // remote list and its uncarved rest serve them all.
        let again = alloc(PAGE_BLOCKS - 10);
        let mut seen = again.clone();
        seen.extend(&live);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), again.len() + live.len(), "a block was handed out twice");
        assert_from_page_intact(&again, page, "blocks came from another page: remote frees were lost");
        free_all(again.into_iter().chain(live));
    })
    .join()
    .unwrap();
}

/// Every block of the owner's current page is out when another thread
/// frees some of them: the owner's next allocations take the remote list
/// as its free list (the miss path's short cut), handing out exactly those
/// blocks, once each, before any other page is used.
#[test]
fn a_page_refills_from_its_remote_list_when_its_own_lists_are_empty() {
    std::thread::spawn(|| {
        let mut blocks = alloc(PAGE_BLOCKS);
        let page = blocks[0] & PAGE_MASK;
        assert!(blocks.iter().all(|&p| p & PAGE_MASK == page));
        let before = remote_frees();
        for round in 0..3 {
            // Every other block, a different half each round.
            let (gone, kept): (Vec<_>, Vec<_>) = blocks.iter().enumerate().partition(|(i, _)| i % 2 == round % 2);
            let mut gone: Vec<usize> = gone.into_iter().map(|(_, &p)| p).collect();
            free_on_another_thread(gone.clone());
            let mut again = alloc(gone.len());
            assert_from_page_intact(&again, page, &format!("blocks came from another page (round {round})"));
            gone.sort_unstable();
            again.sort_unstable();
            assert_eq!(again, gone, "round {round}: not the blocks freed, once each");
            blocks = kept.into_iter().map(|(_, &p)| p).chain(again).collect();
            blocks.sort_unstable();
        }
        assert!(remote_frees() - before >= 3 * (PAGE_BLOCKS / 2) as u64);
        free_all(blocks);
    })
    .join()
    .unwrap();
}

fn remote_frees() -> u64 {
    stats().classes.iter().map(|c| c.remote_frees).sum()
}
