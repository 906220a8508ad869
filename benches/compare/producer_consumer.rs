//! Workload 3: producer/consumer (every free is remote).

use super::*;

pub(crate) const BATCH: usize = 64;

/// A consumer thread that frees every block of every batch sent to it;
/// the returned sender feeds it and the handle joins it.
pub(crate) fn consumer<A: Allocator>(a: A) -> (channel::Sender<Vec<usize>>, std::thread::JoinHandle<()>) {
    let (tx, rx) = channel::bounded::<Vec<usize>>(16);
    let consumer = spawn(a, move || {
        for batch in rx {
            for p in batch {
                // SAFETY: allocated by the producer, freed once here.
                unsafe { a.free(p as *mut u8) };
            }
        }
    });
    (tx, consumer)
}

pub(crate) fn producer_consumer<A: Allocator>(a: A, items: u64) -> Duration {
    let start = Instant::now();
    let (tx, consumer) = consumer(a);
    let mut rng = Rng(7);
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..items {
        let p = alloc_checked(a, ndr(rng.range(8, 256)));
        // SAFETY: at least 8 bytes.
        unsafe { p.cast::<u64>().write(1) };
        batch.push(p as usize);
        if batch.len() == BATCH {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .unwrap();
        }
    }
    tx.send(batch).unwrap();
    drop(tx);
    consumer.join().unwrap();
    start.elapsed()
}

pub(crate) fn bench_threads<A: Allocator>(
    a: A,
    g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    run: fn(A, u64) -> Duration,
) {
    g.bench_function(A::NAME, |b| b.iter_custom(|iters| run(a, iters)));
}
