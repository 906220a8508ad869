//! A Rust program with `MidlAlloc` as its global allocator, built by Rust
//! 1.63 for x86_64-pc-windows-gnu and run under Wine (scripts/windows-test.sh):
//! collections on several threads, values dropped on threads other than the
//! ones that made them (some after those exited), every byte checked, and
//! the statistics showing the blocks went through midl-alloc and came back.

use midl_alloc::MidlAlloc;
use std::collections::HashMap;
use std::sync::mpsc;
use std::thread;

#[global_allocator]
static GLOBAL: MidlAlloc = MidlAlloc;

const THREADS: usize = 4;
const ITEMS: usize = 20_000;

fn text(t: usize, i: usize) -> String {
    format!("thread {t} item {i} {}", "x".repeat(i % 300))
}

fn main() {
    let before = midl_alloc::stats();
    let (tx, rx) = mpsc::channel::<(usize, Vec<String>, HashMap<usize, Vec<u8>>)>();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut strings = Vec::new();
                let mut map = HashMap::new();
                for i in 0..ITEMS {
                    strings.push(text(t, i));
                    map.insert(i, vec![(t + i) as u8; i % 5000]);
                    if i % 1000 == 999 {
                        // Sent away: dropped by the receiver, on another thread.
                        tx.send((t, std::mem::take(&mut strings), std::mem::take(&mut map))).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    for w in workers {
        w.join().unwrap();
    }
    // Every sender has exited; the values were made on their threads.
    let mut batches = 0;
    for (t, strings, map) in rx {
        for s in &strings {
            let i: usize = s.split(' ').nth(3).unwrap().parse().unwrap();
            assert_eq!(*s, text(t, i), "string changed");
        }
        for (i, v) in &map {
            assert_eq!(v.len(), i % 5000);
            assert!(v.iter().all(|&b| b == (t + i) as u8), "bytes changed");
        }
        batches += 1;
    }
    assert_eq!(batches, THREADS * ITEMS / 1000);
    midl_alloc::collect();
    let after = midl_alloc::stats();
    let allocated = after.totals().0 - before.totals().0;
    println!(
        "global allocator: {} batches checked, {} blocks through midl-alloc, segments abandoned {}, adopted {}",
        batches, allocated, after.os.segments_abandoned, after.os.segments_adopted
    );
    assert!(allocated as usize >= THREADS * ITEMS * 2, "the collections did not go through midl-alloc");
    println!("global allocator: checks passed");
}
