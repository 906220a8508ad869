//! Segments a live thread empties past its own cache reach the next thread
//! through the shared pool still resident (within the arena's 8 MiB
//! budget), instead of being given back to the OS and faulted in again:
//! the main thread fills 24 MiB with 256-byte blocks and frees them, then
//! a new thread allocates as much, and its page faults (`RUSAGE_THREAD`)
//! must stay well below one per 4 KiB of it. (Before, every segment past
//! the freeing heap's cache of two was purged on its way to the pool:
//! under thread churn, each was faulted in again by the next thread.)
//! (A child process of its own: the pool is process-wide.)

use crate::common::{minor_faults, resident_burst};
use midl_alloc::MIDL_user_free;

const BYTES: usize = 24 << 20;
const SIZE: usize = 256;

pub(crate) fn emptied_segments_reach_the_next_thread_resident() {
    let blocks = resident_burst(BYTES / SIZE, SIZE);
    for &p in &blocks {
        // SAFETY: live blocks, freed once, by their owner (which stays alive).
        unsafe { MIDL_user_free(p as *mut _) };
    }
    drop(blocks);
    let faults = std::thread::spawn(|| {
        let before = minor_faults(libc::RUSAGE_THREAD);
        let blocks = resident_burst(BYTES / SIZE, SIZE);
        let faults = minor_faults(libc::RUSAGE_THREAD) - before;
        for &p in &blocks {
            // SAFETY: freed once.
            unsafe { MIDL_user_free(p as *mut _) };
        }
        faults
    })
    .join()
    .unwrap();
    let pages = (BYTES / 4096) as i64;
    eprintln!("{faults} page faults for {pages} pages allocated and written");
    assert!(
        faults * 10 <= pages * 8,
        "{faults} page faults for {pages} pages: the pooled segments were given back"
    );
}
