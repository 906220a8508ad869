//! Model-based test: random allocate / free / realloc / zeroed sequences
//! through `GlobalAlloc`, checked against a model of the live blocks:
//! alignment, no overlap between live blocks, contents preserved (each
//! block is filled with its own byte pattern), zeroed memory zero, and
//! frees from another thread.

use midl_alloc::MidlAlloc;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log: u32, zeroed: bool },
    Free { pick: usize },
    Realloc { pick: usize, size: usize },
    FreeElsewhere { pick: usize },
}

fn size_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..=64,
        6 => 0usize..=1100,
        3 => 1000usize..=70_000,
        1 => 60_000usize..=600_000,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (size_strategy(), prop_oneof![4 => 0u32..=4, 1 => 5u32..=12], any::<bool>())
            .prop_map(|(size, align_log, zeroed)| Op::Alloc { size, align_log, zeroed }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<usize>(), size_strategy()).prop_map(|(pick, size)| Op::Realloc { pick, size }),
        1 => any::<usize>().prop_map(|pick| Op::FreeElsewhere { pick }),
    ]
}

struct Live {
    layout: Layout,
    tag: u8,
}

struct Model {
    live: BTreeMap<usize, Live>,
    next_tag: u8,
}

impl Model {
    fn check_no_overlap(&self, addr: usize, size: usize) {
        let end = addr + size.max(1);
        if let Some((a, l)) = self.live.range(..end).next_back() {
            assert!(
                *a + l.layout.size().max(1) <= addr,
                "block {addr:#x}+{size} overlaps {a:#x}+{}",
                l.layout.size()
            );
        }
    }

    fn check_contents(addr: usize, l: &Live) {
        // SAFETY: the block is live with `size` initialised bytes.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, l.layout.size()) };
        if let Some(i) = bytes.iter().position(|b| *b != l.tag) {
            panic!(
                "block {addr:#x} (size {}) byte {i} is {:#x}, expected {:#x}",
                l.layout.size(),
                bytes[i],
                l.tag
            );
        }
    }

    fn pick(&self, pick: usize) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        self.live.keys().nth(pick % self.live.len()).copied()
    }

    fn tag(&mut self) -> u8 {
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        self.next_tag
    }

    fn insert(&mut self, p: *mut u8, layout: Layout, tag: u8) {
        let addr = p as usize;
        assert_eq!(addr % layout.align(), 0, "{layout:?} at {addr:#x}");
        self.check_no_overlap(addr, layout.size());
        // SAFETY: `p` is a fresh block of `layout.size()` bytes.
        unsafe { std::ptr::write_bytes(p, tag, layout.size()) };
        self.live.insert(addr, Live { layout, tag });
    }
}

fn run(ops: Vec<Op>) {
    let a = MidlAlloc;
    let mut m = Model {
        live: BTreeMap::new(),
        next_tag: 0,
    };
    for op in ops {
        match op {
            Op::Alloc {
                size,
                align_log,
                zeroed,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
                // SAFETY: GlobalAlloc with a valid layout.
                let p = unsafe {
                    if zeroed {
                        a.alloc_zeroed(layout)
                    } else {
                        a.alloc(layout)
                    }
                };
                assert!(!p.is_null());
                if zeroed {
                    // SAFETY: fresh block of `size` bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(bytes.iter().all(|b| *b == 0), "alloc_zeroed({size}) not zero");
                }
                let tag = m.tag();
                m.insert(p, layout, tag);
            }
            Op::Free { pick } => {
                if let Some(addr) = m.pick(pick) {
                    let l = m.live.remove(&addr).unwrap();
                    Model::check_contents(addr, &l);
                    // SAFETY: live block with this layout.
                    unsafe { a.dealloc(addr as *mut u8, l.layout) };
                }
            }
            Op::FreeElsewhere { pick } => {
                if let Some(addr) = m.pick(pick) {
                    let l = m.live.remove(&addr).unwrap();
                    Model::check_contents(addr, &l);
                    let layout = l.layout;
                    // SAFETY: the block moves to the other thread, which frees it once.
                    std::thread::spawn(move || unsafe { MidlAlloc.dealloc(addr as *mut u8, layout) })
                        .join()
                        .unwrap();
                }
            }
            Op::Realloc { pick, size } => {
                if let Some(addr) = m.pick(pick) {
                    let l = m.live.remove(&addr).unwrap();
                    Model::check_contents(addr, &l);
                    // SAFETY: live block with this layout; new size non-zero-overflowing.
                    let q = unsafe { a.realloc(addr as *mut u8, l.layout, size) };
                    assert!(!q.is_null());
                    let kept = l.layout.size().min(size);
                    // SAFETY: `q` has at least `size` bytes.
                    let bytes = unsafe { std::slice::from_raw_parts(q, kept) };
                    assert!(bytes.iter().all(|b| *b == l.tag), "realloc lost contents");
                    let layout = Layout::from_size_align(size, l.layout.align()).unwrap();
                    let tag = m.tag();
                    m.insert(q, layout, tag);
                }
            }
        }
    }
    for (addr, l) in std::mem::take(&mut m.live) {
        Model::check_contents(addr, &l);
        // SAFETY: live block with this layout.
        unsafe { a.dealloc(addr as *mut u8, l.layout) };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_sequences_match_the_model(ops in proptest::collection::vec(op_strategy(), 1..400)) {
        run(ops);
    }
}

#[test]
fn a_long_sequence_matches_the_model() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let ops = proptest::collection::vec(op_strategy(), 20_000)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    run(ops);
}
