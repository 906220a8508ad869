//! Unit tests of `heap`.

use super::*;

/// The sentinel's offset, computed by hand for Rust 1.63, is the field's.
#[test]
fn empty_offset_is_the_fields() {
    assert_eq!(EMPTY_OFFSET, core::mem::offset_of!(Heap, empty));
}
