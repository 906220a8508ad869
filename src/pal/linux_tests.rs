//! Unit tests of `linux`.

use super::*;

#[test]
fn page_size_matches_the_os() {
    // SAFETY: sysconf has no preconditions.
    assert_eq!(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize, PAGE_SIZE);
}

#[test]
fn environment_variables_read_without_allocating() {
    std::env::set_var("MIDL_ALLOC_PAL_TEST", "a=b");
    assert_eq!(env_var(b"MIDL_ALLOC_PAL_TEST\0"), Some(&b"a=b"[..]));
    assert_eq!(env_var(b"MIDL_ALLOC_PAL_TEST_UNSET\0"), None);
}
