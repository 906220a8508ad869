//! A Rust service with midl-alloc as its global allocator: worker threads
//! take requests from a channel, build their replies with ordinary `Vec`s,
//! `String`s and maps, and hand them to a writer thread that drops them
//! (frees on another thread than the allocating one, as a server's are).
//! At the end it prints the allocator's figures.
//!
//! ```sh
//! cargo run --release --example service [REQUESTS]
//! ```

use midl_alloc::MidlAlloc;
use std::collections::HashMap;
use std::sync::mpsc;

#[global_allocator]
static GLOBAL: MidlAlloc = MidlAlloc;

struct Reply {
    id: u64,
    body: String,
    fields: HashMap<String, Vec<u32>>,
}

fn handle(id: u64) -> Reply {
    let mut fields = HashMap::new();
    for f in 0..(id % 7 + 1) {
        fields.insert(format!("field-{f}"), (0..(id % 50) as u32 + f as u32).collect());
    }
    let body = format!("reply to request {id}: {} fields", fields.len());
    Reply { id, body, fields }
}

fn main() {
    let requests: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let workers = 4;
    let (reply_tx, reply_rx) = mpsc::sync_channel::<Reply>(1024);
    let writer = std::thread::spawn(move || {
        let (mut n, mut bytes) = (0u64, 0usize);
        for r in reply_rx {
            assert!(r.body.starts_with("reply to request"));
            assert_eq!(r.fields.len() as u64, r.id % 7 + 1);
            bytes += r.body.len() + r.fields.values().map(|v| v.len() * 4).sum::<usize>();
            n += 1;
        }
        (n, bytes)
    });
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let tx = reply_tx.clone();
            std::thread::spawn(move || {
                for id in (w..requests).step_by(workers as usize) {
                    tx.send(handle(id)).unwrap();
                }
            })
        })
        .collect();
    drop(reply_tx);
    for h in handles {
        h.join().unwrap();
    }
    let (n, bytes) = writer.join().unwrap();
    assert_eq!(n, requests);
    let s = midl_alloc::stats();
    let (allocated, freed, live) = s.totals();
    println!("{n} requests served, {} MiB of replies", bytes >> 20);
    println!(
        "midl-alloc: {allocated} blocks allocated, {freed} freed, {live} live; {} MiB mapped, {} KiB allocated now",
        s.os.mapped >> 20,
        s.allocated_bytes() >> 10
    );
}
