//! Sequences of allocate / zeroed / aligned / free / realloc / cross-thread
//! free, driven by the fuzzer's bytes, on `MidlAlloc`. Every live block's
//! bytes carry a pattern, checked before it is freed or resized and after
//! realloc; zeroed blocks must read zero; blocks must not overlap; and
//! alignment must hold. Any failure panics (libFuzzer keeps the input).

#![no_main]

use libfuzzer_sys::fuzz_target;
use midl_alloc::MidlAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

struct Live {
    size: usize,
    align: usize,
    seed: u8,
}

fn byte(p: usize, seed: u8, i: usize) -> u8 {
    (p as u8) ^ seed ^ (i as u8).wrapping_mul(13)
}

/// The bytes of a block that carry its pattern: all of a small one, every
/// 61st (and the last) of a large one.
fn marked(size: usize) -> impl Iterator<Item = usize> {
    let step = if size <= 4096 { 1 } else { 61 };
    (0..size).step_by(step).chain(size.checked_sub(1))
}

fn fill(p: *mut u8, l: &Live) {
    for i in marked(l.size) {
        // SAFETY: i < size of a live block.
        unsafe { *p.add(i) = byte(p as usize, l.seed, i) };
    }
}

fn check(p: *mut u8, l: &Live, from: usize, upto: usize) {
    for i in marked(l.size).filter(|&i| i < upto) {
        // SAFETY: as in `fill`.
        let got = unsafe { *p.add(i) };
        assert_eq!(got, byte(from, l.seed, i), "byte {i} of a {}-byte block", l.size);
    }
}

/// A thread that frees what it is sent (blocks of another thread).
fn remote() -> &'static Mutex<mpsc::Sender<(usize, Layout)>> {
    static TX: OnceLock<Mutex<mpsc::Sender<(usize, Layout)>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(usize, Layout)>();
        std::thread::spawn(move || {
            for (p, layout) in rx {
                // SAFETY: a live block of this layout, sent once.
                unsafe { MidlAlloc.dealloc(p as *mut u8, layout) };
            }
        });
        Mutex::new(tx)
    })
}

fn no_overlap(live: &BTreeMap<usize, Live>, p: usize, size: usize) {
    if let Some((&q, l)) = live.range(..=p).next_back() {
        assert!(q + l.size.max(1) <= p, "block {p:#x} overlaps {q:#x} (+{})", l.size);
    }
    if let Some((&q, _)) = live.range(p..).next() {
        assert!(p + size.max(1) <= q, "block {p:#x} (+{size}) overlaps {q:#x}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut bytes = data.iter().copied();
    let mut next = || bytes.next();
    while let Some(op) = next() {
        let a = next().unwrap_or(0) as usize;
        let b = next().unwrap_or(0) as usize;
        // Sizes: mostly small, some medium, a few large.
        let size = match op >> 6 {
            0 | 1 => a * 4 + b % 4,
            2 => (a << 8 | b) + 1,
            _ => ((a << 8 | b) << 6) + 1,
        };
        let pick = |live: &BTreeMap<usize, Live>| live.keys().nth(a % live.len().max(1)).copied();
        match op % 6 {
            0 | 1 | 2 => {
                let align = if op % 6 == 2 { 1usize << (b % 13) } else { 16 };
                let layout = Layout::from_size_align(size.max(1), align).unwrap();
                let zeroed = op % 6 == 1;
                // SAFETY: non-zero size.
                let p = unsafe {
                    if zeroed {
                        MidlAlloc.alloc_zeroed(layout)
                    } else {
                        MidlAlloc.alloc(layout)
                    }
                };
                if p.is_null() {
                    continue;
                }
                assert_eq!(p as usize % align, 0, "misaligned block");
                if zeroed {
                    // SAFETY: a fresh block of `size` bytes.
                    let s = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(s.iter().all(|&x| x == 0), "zeroed block not zero");
                }
                no_overlap(&live, p as usize, size);
                let l = Live {
                    size,
                    align,
                    seed: b as u8,
                };
                fill(p, &l);
                live.insert(p as usize, l);
            }
            3 | 4 => {
                let Some(p) = pick(&live) else { continue };
                let l = live.remove(&p).unwrap();
                check(p as *mut u8, &l, p, usize::MAX);
                let layout = Layout::from_size_align(l.size.max(1), l.align).unwrap();
                if op % 6 == 4 {
                    remote().lock().unwrap().send((p, layout)).unwrap();
                } else {
                    // SAFETY: a live block of this layout, freed once.
                    unsafe { MidlAlloc.dealloc(p as *mut u8, layout) };
                }
            }
            _ => {
                let Some(p) = pick(&live) else { continue };
                let l = live.remove(&p).unwrap();
                check(p as *mut u8, &l, p, usize::MAX);
                let layout = Layout::from_size_align(l.size.max(1), l.align).unwrap();
                // SAFETY: a live block of this layout.
                let q = unsafe { MidlAlloc.realloc(p as *mut u8, layout, size.max(1)) };
                if q.is_null() {
                    live.insert(p, l);
                    continue;
                }
                assert_eq!(q as usize % l.align, 0, "realloc lost the alignment");
                check(q, &l, p, size);
                no_overlap(&live, q as usize, size);
                let n = Live {
                    size,
                    align: l.align,
                    seed: l.seed.wrapping_add(1),
                };
                fill(q, &n);
                live.insert(q as usize, n);
            }
        }
    }
    for (p, l) in live {
        check(p as *mut u8, &l, p, usize::MAX);
        // SAFETY: live, freed once.
        unsafe { MidlAlloc.dealloc(p as *mut u8, Layout::from_size_align(l.size.max(1), l.align).unwrap()) };
    }
});
