//! Model-based test of sparse pages: random sequences that fill pages of a
//! few small classes, free runs and scattered blocks (so pages go sparse
//! and their free OS pages are given back, taking the blocks in them off
//! the free lists), free on another thread, and carve fresh memory (the
//! trigger of the purge), checked against a model of the live blocks: no
//! block handed out twice or overlapping a live one, every live block
//! keeps its pattern.

use midl_alloc::{MIDL_user_allocate, MIDL_user_free};
use proptest::prelude::*;
use std::collections::BTreeMap;

const SIZES: [usize; 5] = [24, 200, 1000, 3000, 7000];

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        class: usize,
        count: usize,
    },
    Free {
        pick: usize,
    },
    FreeRun {
        pick: usize,
        len: usize,
    },
    FreeElsewhere {
        pick: usize,
        len: usize,
    },
    /// Allocates 1.1 MiB of fresh blocks of `size` (kept live).
    Carve {
        size: usize,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..SIZES.len(), 1usize..=120).prop_map(|(class, count)| Op::Alloc { class, count }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        3 => (any::<usize>(), 1usize..=200).prop_map(|(pick, len)| Op::FreeRun { pick, len }),
        1 => (any::<usize>(), 1usize..=50).prop_map(|(pick, len)| Op::FreeElsewhere { pick, len }),
        1 => (4100usize..16_000).prop_map(|size| Op::Carve { size }),
    ]
}

/// Live blocks by address: (size, pattern byte).
type Model = BTreeMap<usize, (usize, u8)>;

fn check(p: usize, size: usize, byte: u8) {
    // SAFETY: `p` is a live block of `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    if let Some(i) = bytes.iter().position(|&b| b != byte) {
        panic!("block {p:#x} ({size} B) byte {i} is {:#x}, want {byte:#x}", bytes[i]);
    }
}

fn alloc(model: &mut Model, size: usize, serial: &mut u8) {
    let p = MIDL_user_allocate(size) as usize;
    assert!(p != 0, "allocation of {size} failed");
    if let Some((&q, &(qs, _))) = model.range(..=p).next_back() {
        assert!(q + qs <= p, "block {p:#x} overlaps live block {q:#x}");
    }
    if let Some((&q, _)) = model.range(p..).next() {
        assert!(p + size <= q, "block {p:#x} overlaps live block {q:#x}");
    }
    *serial = serial.wrapping_add(1).max(1);
    // SAFETY: `size` bytes, live.
    unsafe { std::ptr::write_bytes(p as *mut u8, *serial, size) };
    model.insert(p, (size, *serial));
}

/// Takes `len` blocks in address order from the `pick`-th one.
fn take(model: &mut Model, pick: usize, len: usize) -> Vec<(usize, usize, u8)> {
    if model.is_empty() {
        return Vec::new();
    }
    let from = *model.keys().nth(pick % model.len()).unwrap();
    let taken: Vec<_> = model.range(from..).take(len).map(|(&p, &(s, b))| (p, s, b)).collect();
    for (p, s, b) in &taken {
        check(*p, *s, *b);
        model.remove(p);
    }
    taken
}

fn free_all(blocks: &[(usize, usize, u8)]) {
    for &(p, _, _) in blocks {
        // SAFETY: taken out of the model, freed once.
        unsafe { MIDL_user_free(p as *mut _) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sparse_pages_lose_and_duplicate_no_block(ops in prop::collection::vec(op_strategy(), 1..250)) {
        let mut model = Model::new();
        let mut serial = 0u8;
        for op in ops {
            match op {
                Op::Alloc { class, count } => {
                    for _ in 0..count {
                        alloc(&mut model, SIZES[class], &mut serial);
                    }
                }
                Op::Free { pick } => free_all(&take(&mut model, pick, 1)),
                Op::FreeRun { pick, len } => {
                    // Every other block of the run stays: scattered frees.
                    let run = take(&mut model, pick, len);
                    let (gone, kept): (Vec<_>, Vec<_>) = run.iter().enumerate().partition(|(i, _)| i % 8 != 0);
                    free_all(&gone.into_iter().map(|(_, b)| *b).collect::<Vec<_>>());
                    for (_, &(p, s, b)) in kept {
                        model.insert(p, (s, b));
                    }
                }
                Op::FreeElsewhere { pick, len } => {
                    let run = take(&mut model, pick, len);
                    std::thread::spawn(move || free_all(&run)).join().unwrap();
                }
                Op::Carve { size } => {
                    for _ in 0..(1100 * 1024) / size + 1 {
                        alloc(&mut model, size, &mut serial);
                    }
                }
            }
        }
        for (&p, &(s, b)) in &model {
            check(p, s, b);
        }
        let all: Vec<_> = model.iter().map(|(&p, &(s, b))| (p, s, b)).collect();
        free_all(&all);
    }
}
