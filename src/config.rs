//! Settings read from the environment once, at the first heap's creation,
//! with `getenv` (no allocation, so it works under a malloc override):
//!
//! * `MIDL_ALLOC_PURGE_DELAY_MS` — how long freed memory waits before going
//!   back to the OS (default 100);
//! * `MIDL_ALLOC_STATS` — `1`: print statistics to standard error at exit;
//! * `MIDL_ALLOC_CHECKED` — `0` / `1`: turn the checked mode of a build with
//!   the `checked` feature off / on (on by default there); a build without
//!   the feature says so on standard error when asked for it.
//!
//! The values are settings, not protocols: relaxed atomics, written once.

use crate::heap::DEFAULT_PURGE_DELAY_MS;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use core::ffi::CStr;
use std::sync::Once;

static ONCE: Once = Once::new();
static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_PURGE_DELAY_MS);
static SECRET: AtomicU64 = AtomicU64::new(0);
static CHECKED: AtomicBool = AtomicBool::new(false);
/// `MIDL_ALLOC_STATS` asked for the exit-time table and it is not yet
/// registered.
static PRINT_STATS: AtomicBool = AtomicBool::new(false);
/// `MIDL_ALLOC_HUGE_PAGES` asked for huge pages on new segments.
static HUGE_PAGES: AtomicBool = AtomicBool::new(false);

/// Reads the environment (first call only).
pub(crate) fn load() {
    ONCE.call_once(|| {
        PURGE_DELAY_MS.store(
            env_u64(c"MIDL_ALLOC_PURGE_DELAY_MS").unwrap_or(DEFAULT_PURGE_DELAY_MS),
            Ordering::Relaxed,
        );
        SECRET.store(random_u64(), Ordering::Relaxed);
        let checked = env_u64(c"MIDL_ALLOC_CHECKED");
        if cfg!(feature = "checked") {
            CHECKED.store(checked != Some(0), Ordering::Relaxed);
        } else if checked.is_some_and(|v| v != 0) {
            crate::report::eprint(format_args!(
                "midl-alloc: MIDL_ALLOC_CHECKED is set but this build has no checked mode \
                 (build with the cargo feature `checked`); running unchecked\n"
            ));
        }
        PRINT_STATS.store(env_u64(c"MIDL_ALLOC_STATS").is_some_and(|v| v != 0), Ordering::Relaxed);
        HUGE_PAGES.store(
            env_u64(c"MIDL_ALLOC_HUGE_PAGES").is_some_and(|v| v != 0),
            Ordering::Relaxed,
        );
    });
}

/// Registers the exit-time statistics printer if asked for (once). Called
/// with the calling thread's heap installed, since `atexit` may allocate.
pub(crate) fn register_exit_hooks() {
    if PRINT_STATS.swap(false, Ordering::Relaxed) {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(print_stats_at_exit) };
    }
}

/// The purge delay in milliseconds.
pub(crate) fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.load(Ordering::Relaxed)
}

/// Whether new segments are to be backed by transparent huge pages
/// (`MIDL_ALLOC_HUGE_PAGES=1`; see `os::advise_huge_pages`).
pub(crate) fn huge_pages() -> bool {
    HUGE_PAGES.load(Ordering::Relaxed)
}

/// The process secret free-list keys are derived from.
pub(crate) fn secret() -> u64 {
    SECRET.load(Ordering::Relaxed)
}

/// Whether checked mode is on (always false without the `checked` feature).
#[inline(always)]
#[cfg_attr(not(feature = "checked"), allow(dead_code))]
pub(crate) fn checked() -> bool {
    cfg!(feature = "checked") && CHECKED.load(Ordering::Relaxed)
}

extern "C" fn print_stats_at_exit() {
    crate::stats::print(&crate::stats(), 2);
}

/// 64 random bits from the kernel, or from the clock and ASLR when
/// `getrandom` is unavailable (the key then only resists accidents).
fn random_u64() -> u64 {
    let mut v = 0u64;
    // SAFETY: `v` is a valid 8-byte out-buffer.
    let n = unsafe { libc::getrandom((&mut v as *mut u64).cast(), 8, libc::GRND_NONBLOCK) };
    if n != 8 {
        let stack = &v as *const u64 as u64;
        v = crate::os::now_ms().rotate_left(32) ^ stack ^ (random_u64 as fn() -> u64 as usize as u64);
    }
    v
}

/// A decimal environment variable, read without allocating (getenv).
pub(crate) fn env_u64(name: &CStr) -> Option<u64> {
    // SAFETY: getenv with a NUL-terminated name; the result is NULL or a
    // NUL-terminated string that stays valid while we read it (nothing here
    // changes the environment).
    let v = unsafe { libc::getenv(name.as_ptr()) };
    if v.is_null() {
        return None;
    }
    // SAFETY: as above.
    let bytes = unsafe { CStr::from_ptr(v) }.to_bytes();
    if bytes.is_empty() || bytes.len() > 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::env_u64;

    #[test]
    fn environment_numbers_parse_without_allocating() {
        // SAFETY (set_var): this variable is read by this test only.
        std::env::set_var("MIDL_ALLOC_TEST_NUMBER", "250");
        assert_eq!(env_u64(c"MIDL_ALLOC_TEST_NUMBER"), Some(250));
        for bad in ["", "-1", "12ms", "99999999999999"] {
            std::env::set_var("MIDL_ALLOC_TEST_NUMBER", bad);
            assert_eq!(env_u64(c"MIDL_ALLOC_TEST_NUMBER"), None, "{bad:?}");
        }
        assert_eq!(env_u64(c"MIDL_ALLOC_TEST_UNSET_NUMBER"), None);
    }
}
