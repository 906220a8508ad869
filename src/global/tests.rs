//! Tests of the process-wide instance that look inside its segments: the
//! descriptor slots the free fast path reads.

use super::entry as alloc;
use super::thread;
use crate::mem::heap::Heap;
use crate::mem::segment::{segment_of, slot_of, Segment, SegmentKind};

/// The slot a free reads names our heap exactly for blocks of small
/// pages and of the first 64 KiB of medium pages, and is the page's
/// descriptor then; every other block's slot has a null owner.
#[test]
fn slots_name_their_owner_only_where_they_describe_the_page() {
    for (size, count) in [(16usize, 5000usize), (8 * 1024, 64), (24 * 1024, 60), (64 * 1024, 20)] {
        let blocks: Vec<*mut u8> = (0..count).map(|_| alloc::malloc(size)).collect();
        let heap = Heap::owner_id(thread::current());
        let (mut fast, mut slow) = (0, 0);
        for &p in &blocks {
            let seg = segment_of(p);
            // SAFETY: `p` is a live small block, so `seg` is a live
            // small or medium segment of this thread's heap.
            unsafe {
                assert_eq!((*seg).owner(), heap);
                let page = Segment::page_of(seg, p);
                let slot = slot_of(p);
                if (*slot).owner() == heap {
                    assert_eq!(slot, page, "{size}-byte block {p:p}");
                    fast += 1;
                } else {
                    assert!((*slot).owner().is_null(), "{size}-byte block {p:p}");
                    assert_eq!((*seg).kind, SegmentKind::Medium);
                    slow += 1;
                }
            }
        }
        assert!(fast > 0);
        assert_eq!(slow > 0, size > 8 * 1024, "{size}: {fast} fast, {slow} slow");
        for p in blocks {
            // SAFETY: live blocks from `malloc`, freed once.
            unsafe { alloc::free(p) };
        }
    }
}

/// A large object aligned to 64 KiB or more maps past slot 0; its slot's
/// owner word is cleared even when an earlier object in the same
/// (reused) mapping left our heap's address there.
#[test]
fn over_aligned_large_objects_reuse_a_mapping_with_a_null_slot_owner() {
    let heap = Heap::owner_id(thread::current_or_create());
    for _ in 0..4 {
        let first = alloc::malloc(900 * 1024);
        assert!(!first.is_null());
        let seg = segment_of(first);
        // SAFETY: `first` is a live 900 KiB object starting at byte 128
        // of its mapping, so it covers the owner word of every slot past
        // 0; it is freed once.
        unsafe {
            assert_eq!((*seg).kind, SegmentKind::Large);
            let words = first.cast::<usize>();
            for i in 0..(64 * 1024) / 8 {
                words.add(i).write(heap as usize);
            }
            alloc::free(first);
        }
        // SAFETY: a fresh object of at least 300 KiB, freed once.
        unsafe {
            let second = alloc::malloc_aligned(300 * 1024, 512 * 1024);
            assert!(!second.is_null());
            assert_eq!(second as usize % (512 * 1024), 0);
            assert_eq!(segment_of(second), seg, "the heap's large cache reuses the mapping");
            let slot = slot_of(second);
            assert_ne!(slot, segment_of(second).cast(), "maps past slot 0");
            assert!((*slot).owner().is_null());
            second.write_bytes(0x5a, 300 * 1024);
            alloc::free(second);
        }
    }
}
