//! Unit tests of `config`.

use super::env_u64;

#[test]
fn environment_numbers_parse_without_allocating() {
    // SAFETY (set_var): this variable is read by this test only.
    std::env::set_var("MIDL_ALLOC_TEST_NUMBER", "250");
    assert_eq!(env_u64(b"MIDL_ALLOC_TEST_NUMBER\0"), Some(250));
    for bad in ["", "-1", "12ms", "99999999999999"] {
        std::env::set_var("MIDL_ALLOC_TEST_NUMBER", bad);
        assert_eq!(env_u64(b"MIDL_ALLOC_TEST_NUMBER\0"), None, "{bad:?}");
    }
    assert_eq!(env_u64(b"MIDL_ALLOC_TEST_UNSET_NUMBER\0"), None);
}
