//! Unit tests of `os`.

use super::*;

#[test]
fn aligned_maps_are_aligned_and_zeroed() {
    for _ in 0..8 {
        let len = 4 << 20;
        let p = map_aligned(len, len);
        assert!(!p.is_null());
        assert_eq!(p as usize % len, 0);
        // SAFETY: p maps len bytes.
        unsafe {
            assert_eq!(*p, 0);
            assert_eq!(*p.add(len - 1), 0);
            *p.add(len - 1) = 7;
            purge(p, len);
            assert_eq!(*p.add(len - 1), 0);
            unmap(p, len);
        }
    }
}

#[test]
fn impossible_maps_fail_cleanly() {
    assert!(map(usize::MAX).is_null());
    assert!(map(1 << 60).is_null());
    assert!(map_aligned(1 << 60, 4 << 20).is_null());
}
