//! Unit tests of `bits`.

use super::*;

#[test]
fn ones_lists_every_set_bit_in_order() {
    assert_eq!(ones(0).count(), 0);
    assert_eq!(ones(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
    assert_eq!(ones(1 << 63).collect::<Vec<_>>(), [63]);
    assert_eq!(ones(u64::MAX).count(), 64);
}

#[test]
fn mix64_is_the_splitmix64_finaliser() {
    // splitmix64 seeded with 0 yields mix64(0x9e3779b97f4a7c15) first.
    assert_eq!(mix64(0x9e37_79b9_7f4a_7c15), 0xe220_a839_7b1d_cdaf);
    assert_ne!(mix64(1), mix64(2));
}
