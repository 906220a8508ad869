//! Multi-threaded stress on a 2-core machine with 8+ threads: remote frees
//! (producer/consumer), thread churn with blocks freed after their
//! allocating thread exited (Larson-style slot array), and mixed local and
//! remote frees into the same pages. Every block carries a byte pattern
//! derived from its identity, checked before it is freed.

use crossbeam::channel;
use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

/// A small xorshift generator (deterministic per thread).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn size(&mut self) -> usize {
        match self.next() % 100 {
            0..=69 => 8 * (self.next() % 32) as usize + 24, // NDR-like small
            70..=94 => (self.next() % 4096) as usize,
            95..=98 => (self.next() % 65536) as usize,
            _ => 65536 + (self.next() % 300_000) as usize,
        }
    }
}

/// A block with its size in the first word and a pattern in the rest.
struct Tagged(usize);

impl Tagged {
    fn new(size: usize, id: u64) -> Tagged {
        let size = size.max(16);
        let p = MIDL_user_allocate(size).cast::<u8>();
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0);
        // SAFETY: `p` has `size` bytes.
        unsafe {
            p.cast::<usize>().write(size);
            p.add(8).cast::<u64>().write_unaligned(id);
            for i in 16..size {
                *p.add(i) = pattern(id, i);
            }
        }
        Tagged(p as usize)
    }

    fn check_and_free(self) {
        let p = self.0 as *mut u8;
        // SAFETY: a live block written by `new`.
        unsafe {
            let size = p.cast::<usize>().read();
            let id = p.add(8).cast::<u64>().read_unaligned();
            for i in 16..size {
                assert_eq!(
                    *p.add(i),
                    pattern(id, i),
                    "block {p:p} id {id} size {size}: byte {i} corrupted"
                );
            }
            MIDL_user_free(p.cast());
        }
    }
}

fn pattern(id: u64, i: usize) -> u8 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8)
}

#[test]
fn producers_and_consumers_free_remotely() {
    const PRODUCERS: u64 = 4;
    const CONSUMERS: usize = 4;
    const PER_PRODUCER: u64 = 60_000;
    let (tx, rx) = channel::bounded::<Vec<Tagged>>(64);
    let freed = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for t in 0..PRODUCERS {
        let tx = tx.clone();
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng(0x1234_5678 + t);
            let mut batch = Vec::new();
            for i in 0..PER_PRODUCER {
                batch.push(Tagged::new(rng.size(), t << 32 | i));
                if batch.len() == 32 {
                    tx.send(std::mem::take(&mut batch)).unwrap();
                }
            }
            tx.send(batch).unwrap();
        }));
    }
    drop(tx);
    for _ in 0..CONSUMERS {
        let rx = rx.clone();
        let freed = freed.clone();
        handles.push(std::thread::spawn(move || {
            for batch in rx {
                freed.fetch_add(batch.len(), Ordering::Relaxed);
                for b in batch {
                    b.check_and_free();
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(freed.load(Ordering::Relaxed) as u64, PRODUCERS * PER_PRODUCER);
}

#[test]
fn thread_churn_frees_after_the_owner_exited() {
    // Larson: a slot array shared by waves of short-lived threads; each
    // thread replaces random slots (freeing blocks other, often exited,
    // threads allocated) and exits.
    const SLOTS: usize = 4096;
    const WAVES: usize = 12;
    const THREADS: usize = 8;
    const ROUNDS: usize = 4000;
    let slots: Arc<Vec<AtomicPtr<u8>>> = Arc::new((0..SLOTS).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect());
    let ids = Arc::new(AtomicUsize::new(1));
    for wave in 0..WAVES {
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let slots = slots.clone();
                let ids = ids.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut rng = Rng(0xDEAD_BEEF ^ ((wave * THREADS + t) as u64 + 1));
                    for _ in 0..ROUNDS {
                        let i = (rng.next() % SLOTS as u64) as usize;
                        let id = ids.fetch_add(1, Ordering::Relaxed) as u64;
                        let new = Tagged::new(rng.size().min(5000), id).0 as *mut u8;
                        let old = slots[i].swap(new, Ordering::AcqRel);
                        if !old.is_null() {
                            Tagged(old as usize).check_and_free();
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    for s in slots.iter() {
        let p = s.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            Tagged(p as usize).check_and_free();
        }
    }
    let st = midl_alloc::os_stats();
    assert!(
        st.segments_abandoned > 0,
        "threads exited holding live blocks, so segments must have been abandoned: {st:?}"
    );
    assert!(
        st.segments_adopted > 0,
        "later threads must adopt abandoned segments: {st:?}"
    );
}

#[test]
fn owner_and_remote_threads_free_into_the_same_pages() {
    // The owner frees every other block locally while three threads free
    // the rest remotely, over and over, so pages see both paths at once and
    // empty out while remote frees are in flight.
    const ROUNDS: usize = 200;
    const N: usize = 3000;
    for round in 0..ROUNDS {
        let mut local = Vec::with_capacity(N / 2);
        let mut remote: Vec<Vec<Tagged>> = (0..3).map(|_| Vec::new()).collect();
        for i in 0..N {
            let b = Tagged::new(16 + (i % 5) * 16, (round * N + i) as u64);
            if i % 2 == 0 {
                local.push(b);
            } else {
                remote[i % 3].push(b);
            }
        }
        let handles: Vec<_> = remote
            .into_iter()
            .map(|v| std::thread::spawn(move || v.into_iter().for_each(Tagged::check_and_free)))
            .collect();
        for b in local {
            b.check_and_free();
        }
        for h in handles {
            h.join().unwrap();
        }
    }
}

#[test]
fn many_threads_hand_everything_to_one_freeing_thread() {
    // 16 threads allocate and exit at once; a single thread frees all.
    let (tx, rx) = channel::unbounded::<Tagged>();
    let handles: Vec<_> = (0..16u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(t + 99);
                for i in 0..5000 {
                    tx.send(Tagged::new(rng.size(), t << 32 | i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    let mut n = 0;
    for b in rx {
        b.check_and_free();
        n += 1;
    }
    assert_eq!(n, 16 * 5000);
}
