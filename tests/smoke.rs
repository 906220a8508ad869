use midl_alloc::{MIDL_user_allocate, MIDL_user_free};

#[test]
fn smoke() {
    let mut v = Vec::new();
    for size in [0usize, 1, 8, 9, 16, 24, 100, 1000, 1025, 5000, 9000, 65536, 65537, 1 << 20] {
        for _ in 0..1000 {
            let p = MIDL_user_allocate(size) as *mut u8;
            assert!(!p.is_null());
            unsafe { std::ptr::write_bytes(p, 0xAB, size) };
            v.push(p);
        }
    }
    for p in v {
        unsafe { MIDL_user_free(p.cast()) };
    }
}
