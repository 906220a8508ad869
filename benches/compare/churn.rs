//! Workload 5: thread churn, Larson-style. Short-lived threads replace random
//! slots of a shared array, freeing blocks that other (often exited) threads
//! allocated.

use super::*;

pub(crate) const SLOTS: usize = 1024;
pub(crate) const CHURN_THREADS: usize = 4;
pub(crate) const CHURN_PER_THREAD: u64 = 2000;

pub(crate) fn churn<A: Allocator>(a: A, replacements: u64) -> Duration {
    let slots: Arc<Vec<AtomicPtr<u8>>> = Arc::new((0..SLOTS).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect());
    let rounds = replacements.div_ceil(CHURN_THREADS as u64 * CHURN_PER_THREAD).max(1);
    let start = Instant::now();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(CHURN_THREADS));
        let handles: Vec<_> = (0..CHURN_THREADS)
            .map(|t| {
                let slots = slots.clone();
                let barrier = barrier.clone();
                spawn(a, move || {
                    let mut rng = Rng(round * 31 + t as u64 + 1);
                    barrier.wait();
                    for _ in 0..CHURN_PER_THREAD {
                        let p = alloc_checked(a, rng.range(16, 512));
                        // SAFETY: at least 16 bytes.
                        unsafe { p.cast::<u64>().write(round) };
                        let old = slots[rng.range(0, SLOTS - 1)].swap(p, Ordering::AcqRel);
                        if !old.is_null() {
                            // SAFETY: taken out of the array, so ours; freed once.
                            unsafe { a.free(old) };
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let elapsed = start.elapsed();
    for s in slots.iter() {
        let p = s.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { a.free(p) };
        }
    }
    // Report time per replacement actually done.
    elapsed.mul_f64(replacements as f64 / (rounds * CHURN_THREADS as u64 * CHURN_PER_THREAD) as f64)
}
