//! Workload 3b: a stream of small blocks freed by another thread, in the
//! manner of xmalloc-test: a producer allocates 64-byte blocks in batches
//! of 4,096 and writes them, a consumer frees them. The producer's pages
//! empty and refill at a steady rate; an allocator that gives their memory
//! back as they empty faults it in again at once.

use super::*;

const STREAM_BATCH: usize = 4096;

pub(crate) fn remote_stream<A: Allocator>(a: A, blocks: u64) -> Duration {
    let start = Instant::now();
    let (tx, consumer) = consumer(a);
    let mut left = blocks as usize;
    while left > 0 {
        let n = left.min(STREAM_BATCH);
        let batch: Vec<usize> = (0..n)
            .map(|_| {
                let p = alloc_checked(a, 64);
                // SAFETY: 64 bytes.
                unsafe { std::ptr::write_bytes(p, 1, 64) };
                p as usize
            })
            .collect();
        tx.send(batch).unwrap();
        left -= n;
    }
    drop(tx);
    consumer.join().unwrap();
    start.elapsed()
}
