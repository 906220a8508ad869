//! The statistics from Rust: the JSON text parses and agrees with the
//! struct, the calling thread's byte counters follow its blocks (and not
//! another thread's), the allocated gauge rises and falls with them, and
//! a class row keeps its peak.

use midl_alloc::{stats, stats_json, Allocation};

#[test]
fn json_parses_and_agrees_with_the_struct() {
    let blocks: Vec<_> = (0..300).map(|i| Allocation::new(24 + i * 7).unwrap()).collect();
    let s = stats();
    let v: serde_json::Value = serde_json::from_str(&stats_json()).expect("stats_json is JSON");
    assert_eq!(v["version"], 2);
    let classes = v["classes"].as_array().unwrap();
    assert!(!classes.is_empty());
    for c in classes {
        let size = c["block_size"].as_u64().unwrap();
        let row = s
            .classes
            .iter()
            .find(|r| r.block_size == size)
            .expect("a class of the struct");
        // Counts only grow between the two reads (the JSON's is later).
        assert!(c["allocated"].as_u64().unwrap() >= row.allocated);
        assert!(c["allocated"].as_u64().unwrap() >= c["live"].as_u64().unwrap());
    }
    for key in ["mapped", "committed", "purged", "large_live", "large_cached"] {
        assert!(v["os"][key].is_u64(), "os.{key}");
    }
    assert!(v["allocated_bytes"].as_u64().unwrap() >= blocks.iter().map(|b| b.len() as u64).sum::<u64>());
    assert!(v["large"]["allocated"].is_u64());
}

#[test]
fn thread_counters_follow_the_threads_own_blocks() {
    std::thread::spawn(|| {
        let before = stats();
        let blocks: Vec<_> = (0..1000).map(|_| Allocation::new(200).unwrap()).collect();
        let big = Allocation::new(3 << 20).unwrap();
        let held = stats();
        let got = held.thread.allocated_bytes - before.thread.allocated_bytes;
        assert!(got >= 1000 * 200 + (3 << 20), "allocated {got}");
        assert!(
            got < 1000 * 256 + (4 << 20),
            "allocated {got}: other threads' blocks counted?"
        );
        assert!(held.allocated_bytes() >= before.allocated_bytes() + 1000 * 200);
        // Freed by another thread: counted as this thread's blocks freed
        // once collected (the next read collects them).
        std::thread::spawn(move || drop((blocks, big))).join().unwrap();
        let after = stats();
        let freed = after.thread.freed_bytes - held.thread.freed_bytes;
        assert!(freed >= 1000 * 200, "freed {freed}");
    })
    .join()
    .unwrap();
}

#[test]
fn a_class_row_counts_live_blocks_and_keeps_their_peak() {
    // 48 KiB blocks: no other test in this binary uses their class.
    const SIZE: usize = 48 << 10;
    let row = |s: &midl_alloc::Stats| {
        *s.classes
            .iter()
            .find(|c| c.block_size as usize >= SIZE)
            .expect("a class holds 48 KiB")
    };
    let before = row(&stats());
    let blocks: Vec<_> = (0..20).map(|_| Allocation::new(SIZE).unwrap()).collect();
    let held = row(&stats());
    assert_eq!(held.allocated - before.allocated, 20);
    assert_eq!(held.live, before.live + 20);
    assert!(held.peak >= held.live);
    drop(blocks);
    let after = row(&stats());
    assert_eq!(after.freed - before.freed, 20);
    assert_eq!(after.live, before.live);
    assert_eq!(after.allocated - after.freed, after.live);
    assert!(
        after.peak >= before.live + 20,
        "peak {} forgot the 20 blocks",
        after.peak
    );
}
