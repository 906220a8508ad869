//! Workload: short-lived threads that hand blocks on, in the manner of
//! mimalloc-bench's mstress: rounds of 4 threads, each allocating 500
//! blocks of mixed sizes (mostly 8 B to 1 KiB, one in 16 up to 32 KiB),
//! filled, then freeing the blocks of a shared pool that earlier threads
//! left (remote frees, often into the heap of a thread that has exited),
//! leaving half of its own there and freeing the rest, and exiting. The
//! unit is one thread lifetime: what starting a thread's heap, serving it
//! and giving its memory back at exit cost.

use super::*;
use std::sync::Mutex;

const THREADS: usize = 4;
const BLOCKS: usize = 500;

fn size(rng: &mut Rng) -> usize {
    if rng.next().is_multiple_of(16) {
        rng.range(1025, 32 << 10)
    } else {
        rng.range(8, 1024)
    }
}

/// (address, size, fill byte) of a block left in the pool.
type Left = (usize, usize, u8);

fn check_and_free<A: Allocator>(a: A, (p, n, b): Left) {
    // SAFETY: a live block of `a` of `n` bytes filled with `b`, freed once.
    unsafe {
        let p = p as *mut u8;
        assert!(*p == b && *p.add(n - 1) == b, "{}: block of {n} B corrupted", A::NAME);
        a.free(p);
    }
}

pub(crate) fn thread_lifetimes<A: Allocator>(a: A, lifetimes: u64) -> Duration {
    let pool: Arc<Mutex<Vec<Left>>> = Arc::new(Mutex::new(Vec::new()));
    let rounds = lifetimes.div_ceil(THREADS as u64).max(1);
    let start = Instant::now();
    for round in 0..rounds {
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|t| {
                let pool = pool.clone();
                spawn(a, move || {
                    let mut rng = Rng(round * 131 + t + 1);
                    let mine: Vec<Left> = (0..BLOCKS)
                        .map(|i| {
                            let n = size(&mut rng);
                            let p = alloc_checked(a, n);
                            let b = (i as u8) | 1;
                            // SAFETY: `n` bytes.
                            unsafe { std::ptr::write_bytes(p, b, n) };
                            (p as usize, n, b)
                        })
                        .collect();
                    let theirs = std::mem::take(&mut *pool.lock().unwrap());
                    for l in theirs {
                        check_and_free(a, l);
                    }
                    let mut keep = Vec::with_capacity(BLOCKS / 2);
                    for (i, l) in mine.into_iter().enumerate() {
                        if i % 2 == 0 {
                            keep.push(l);
                        } else {
                            check_and_free(a, l);
                        }
                    }
                    pool.lock().unwrap().extend(keep);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    let elapsed = start.elapsed();
    for l in std::mem::take(&mut *pool.lock().unwrap()) {
        check_and_free(a, l);
    }
    elapsed.mul_f64(lifetimes as f64 / (rounds * THREADS as u64) as f64)
}
