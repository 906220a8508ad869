//! `collect` (`midl_alloc_collect`): blocks that exited threads left and
//! another thread freed count as freed only once some heap adopts their
//! segments; `collect` adopts them now, so the statistics are exact and the
//! memory of those segments goes back to the OS. (One test in its own
//! binary: nothing else allocates through midl-alloc meanwhile.)

use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use std::ffi::c_void;

struct Block(*mut c_void);
// SAFETY: a block of the allocator may be freed by any thread.
unsafe impl Send for Block {}

#[test]
fn collect_adopts_what_exited_threads_left_and_counts_their_blocks_freed() {
    let blocks: Vec<Block> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (0..20_000)
                    .map(|i| {
                        let p = MIDL_user_allocate(16 + (i % 7) * 16 + t);
                        assert!(!p.is_null());
                        Block(p)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .flat_map(|h| h.join().unwrap())
        .collect();
    for b in blocks {
        // SAFETY: each block is live and freed once.
        unsafe { MIDL_user_free(b.0) };
    }
    let before = midl_alloc::stats();
    assert!(
        before.totals().2 > 0,
        "the blocks freed into abandoned segments were counted at once"
    );
    assert!(before.os.segments_abandoned > before.os.segments_adopted);
    midl_alloc::collect();
    let after = midl_alloc::stats();
    let (allocated, freed, live) = after.totals();
    assert_eq!((allocated, live), (80_000, 0), "freed {freed}");
    assert_eq!(after.os.segments_adopted, after.os.segments_abandoned);
    assert!(
        after.os.committed < before.os.committed,
        "nothing went back to the OS: {} then {}",
        before.os.committed,
        after.os.committed
    );
}
