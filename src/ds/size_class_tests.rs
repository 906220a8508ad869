//! Unit tests of `size_class`.

use super::*;

#[test]
fn classes_are_increasing_and_end_at_small_max() {
    for c in 1..NUM_CLASSES {
        assert!(block_size(c) > block_size(c - 1), "class {c}");
    }
    assert_eq!(block_size(NUM_CLASSES - 1), SMALL_MAX);
}

#[test]
fn every_size_gets_the_smallest_fitting_class() {
    for size in 0..=SMALL_MAX {
        let c = class_of(size);
        assert!(block_size(c) >= size, "size {size} class {c}");
        if c > 0 {
            assert!(block_size(c - 1) < size, "size {size} could use class {}", c - 1);
        }
    }
}

#[test]
fn alignment_and_waste_bounds() {
    for c in 0..NUM_CLASSES {
        let bs = block_size(c);
        assert!(
            bs >= 16 && bs.is_multiple_of(16),
            "class {c} block {bs} breaks 16-byte alignment"
        );
    }
    for size in 17..=SMALL_MAX {
        let bs = block_size(class_of(size));
        assert!(
            bs - size < 16 || (bs - size) * 8 <= size,
            "size {size} wastes {}",
            bs - size
        );
    }
}

#[test]
fn ndr_sizes_fit_snugly() {
    // The NDR wrapper asks for 8k + 24 bytes.
    for k in 0..=124 {
        let size = 8 * k + 24;
        assert!(block_size(class_of(size)) - size <= 8, "size {size}");
    }
}

#[test]
fn direct_slots_partition_the_table() {
    let mut owner = [usize::MAX; DIRECT_SLOTS];
    for c in 0..NUM_CLASSES {
        for i in direct_slots_of(c) {
            assert_eq!(owner[i], usize::MAX, "slot {i} claimed twice");
            owner[i] = c;
        }
    }
    for size in 0..=TABLE_MAX {
        assert_eq!(owner[direct_slot(size)], class_of(size), "size {size}");
    }
}

#[test]
fn powers_of_two_are_exact_classes() {
    let mut p = 16;
    while p <= SMALL_MAX {
        assert_eq!(block_size(class_of(p)), p);
        p *= 2;
    }
}
