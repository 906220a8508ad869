//! Workload 4: a server in miniature. A receive thread allocates request
//! buffers; two workers unmarshal (allocate, write and free parameters), free
//! the request and allocate a reply; a send thread frees the replies.

use super::*;

pub(crate) fn server<A: Allocator>(a: A, requests: u64) -> Duration {
    let (req_tx, req_rx) = channel::bounded::<(usize, usize)>(256);
    let (rep_tx, rep_rx) = channel::bounded::<usize>(256);
    let start = Instant::now();
    let sender = spawn(a, move || {
        for p in rep_rx {
            // SAFETY: a reply allocated by a worker, freed once here.
            unsafe { a.free(p as *mut u8) };
        }
    });
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let req_rx = req_rx.clone();
            let rep_tx = rep_tx.clone();
            spawn(a, move || {
                let mut rng = Rng(100 + w);
                let mut params = Vec::with_capacity(4);
                for (req, len) in req_rx {
                    // SAFETY: `req` has `len` bytes written by the receiver.
                    let first = unsafe { *(req as *const u8) };
                    for _ in 0..4 {
                        let n = rng.range(16, 256);
                        let p = alloc_checked(a, ndr(n));
                        // SAFETY: at least n bytes.
                        unsafe { std::ptr::write_bytes(p, first, n) };
                        params.push(p);
                    }
                    for p in params.drain(..) {
                        // SAFETY: allocated above, freed once.
                        unsafe { a.free(p) };
                    }
                    // SAFETY: the request is ours now; freed once (remote).
                    unsafe { a.free(req as *mut u8) };
                    let n = rng.range(64, 1024).min(len + 64);
                    let reply = alloc_checked(a, ndr(n));
                    // SAFETY: at least n bytes.
                    unsafe { std::ptr::write_bytes(reply, 0x5A, n) };
                    rep_tx.send(reply as usize).unwrap();
                }
            })
        })
        .collect();
    drop(rep_tx);
    drop(req_rx);
    let mut rng = Rng(99);
    for _ in 0..requests {
        let len = rng.range(256, 4096);
        let p = alloc_checked(a, len);
        // SAFETY: `len` bytes.
        unsafe { std::ptr::write_bytes(p, 0x11, len) };
        req_tx.send((p as usize, len)).unwrap();
    }
    drop(req_tx);
    for w in workers {
        w.join().unwrap();
    }
    sender.join().unwrap();
    start.elapsed()
}
