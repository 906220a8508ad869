//! Helpers shared by the memory-return test binaries.

/// The process's resident set size in KiB (VmRSS).
#[allow(dead_code)]
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Minor page faults so far of `who`: `libc::RUSAGE_SELF` (the process) or
/// `libc::RUSAGE_THREAD` (the calling thread).
#[allow(dead_code)]
pub fn minor_faults(who: libc::c_int) -> i64 {
    // SAFETY: getrusage writes the struct it is given.
    unsafe {
        let mut u: libc::rusage = core::mem::zeroed();
        assert_eq!(libc::getrusage(who, &mut u), 0);
        u.ru_minflt
    }
}

/// Allocates `count` blocks of `size` bytes through the C API and writes
/// every byte, so they are resident; returns their addresses.
#[allow(dead_code)]
pub fn resident_burst(count: usize, size: usize) -> Vec<usize> {
    (0..count)
        .map(|_| {
            let p = midl_alloc::MIDL_user_allocate(size).cast::<u8>();
            // SAFETY: `size` bytes, live.
            unsafe { std::ptr::write_bytes(p, 0x5A, size) };
            p as usize
        })
        .collect()
}

/// Allocates and frees a block of each size in `sizes`, `rounds` times.
#[allow(dead_code)]
pub fn pairs(sizes: &[usize], rounds: usize) {
    for &size in sizes {
        for _ in 0..rounds {
            let p = midl_alloc::MIDL_user_allocate(size);
            // SAFETY: freed once.
            unsafe { midl_alloc::MIDL_user_free(p) };
        }
    }
}

/// Light activity on this thread, `pairs(sizes, rounds)` every 10 ms,
/// until the RSS is at most `limit` KiB or `deadline` has passed; returns
/// the last RSS and the time taken.
#[allow(dead_code)]
pub fn activity_until_rss(
    limit: u64,
    deadline: std::time::Duration,
    sizes: &[usize],
    rounds: usize,
) -> (u64, std::time::Duration) {
    let start = std::time::Instant::now();
    let mut rss = rss_kib();
    while start.elapsed() < deadline && rss > limit {
        pairs(sizes, rounds);
        std::thread::sleep(std::time::Duration::from_millis(10));
        rss = rss_kib();
    }
    (rss, start.elapsed())
}

/// Fills block `p` (`size` bytes) with the pattern of `id`.
#[allow(dead_code)]
pub fn fill(p: usize, size: usize, id: usize) {
    // SAFETY: `p` is a live block of `size` bytes (caller's contract).
    unsafe { std::ptr::write_bytes(p as *mut u8, (id % 251) as u8 + 1, size) };
}

/// Whether block `p` (`size` bytes) still holds the pattern of `id`.
#[allow(dead_code)]
pub fn holds(p: usize, size: usize, id: usize) -> bool {
    // SAFETY: `p` is a live block of `size` bytes (caller's contract).
    let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    bytes.iter().all(|&b| b == (id % 251) as u8 + 1)
}
