//! Settings read from the environment once, at the first heap's creation,
//! with `getenv` (no allocation, so it works under a malloc override), and
//! changed at run time by the setters below (`api::options`), which read
//! the environment first so that a value set explicitly wins:
//!
//! * `MIDL_ALLOC_PURGE_DELAY_MS` — how long freed memory waits before going
//!   back to the OS (default 100);
//! * `MIDL_ALLOC_STATS` — `1`: print statistics to standard error at exit;
//! * `MIDL_ALLOC_CHECKED` — `0` / `1`: turn the checked mode of a build with
//!   the `checked` feature off / on (on by default there); a build without
//!   the feature says so on standard error when asked for it.
//!
//! * `MIDL_ALLOC_HUGE_PAGES` — transparent huge pages (see
//!   `mem::os::advise_huge_pages`): unset, only for fresh large buffers of
//!   4 to 64 MiB (see `mem::large`); `1`: for new segments and every large
//!   object from 4 MiB; `0`: never.
//!
//! The values are settings, not protocols: relaxed atomics, written once.

use crate::base::sync::plain::{AtomicBool, AtomicU32, AtomicU64};
use crate::base::sync::Ordering;
use crate::pal;
use std::sync::Once;

/// Default delay before retired pages and cached empty segments go back to
/// the OS.
pub(crate) const DEFAULT_PURGE_DELAY_MS: u64 = 100;

static ONCE: Once = Once::new();
static PURGE_DELAY_MS: AtomicU64 = AtomicU64::new(DEFAULT_PURGE_DELAY_MS);
static SECRET: AtomicU64 = AtomicU64::new(0);
static CHECKED: AtomicBool = AtomicBool::new(false);
/// The exit-time statistics table is wanted (`MIDL_ALLOC_STATS`, or set).
static PRINT_STATS: AtomicBool = AtomicBool::new(false);
/// The exit-time printer has been registered (it checks `PRINT_STATS`).
static PRINT_STATS_REGISTERED: AtomicBool = AtomicBool::new(false);
/// `MIDL_ALLOC_HUGE_PAGES`: which memory is advised huge pages.
static HUGE_PAGES: AtomicU32 = AtomicU32::new(HugePages::Buffers as u32);

/// Which memory is advised transparent huge pages (`MIDL_ALLOC_HUGE_PAGES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HugePages {
    /// `0`: none.
    Never = 0,
    /// Unset: fresh large buffers of the large-object tier's sizes.
    Buffers = 1,
    /// `1`: new segments too, and large objects of any size.
    All = 2,
}

/// Reads the environment (first call only).
pub(crate) fn load() {
    ONCE.call_once(|| {
        PURGE_DELAY_MS.store(
            env_u64(b"MIDL_ALLOC_PURGE_DELAY_MS\0").unwrap_or(DEFAULT_PURGE_DELAY_MS),
            Ordering::Relaxed,
        );
        SECRET.store(random_u64(), Ordering::Relaxed);
        let checked = env_u64(b"MIDL_ALLOC_CHECKED\0");
        if cfg!(feature = "checked") {
            CHECKED.store(checked != Some(0), Ordering::Relaxed);
        } else if matches!(checked, Some(v) if v != 0) {
            super::report::eprint(format_args!(
                "midl-alloc: MIDL_ALLOC_CHECKED is set but this build has no checked mode \
                 (build with the cargo feature `checked`); running unchecked\n"
            ));
        }
        PRINT_STATS.store(
            matches!(env_u64(b"MIDL_ALLOC_STATS\0"), Some(v) if v != 0),
            Ordering::Relaxed,
        );
        let huge = match env_u64(b"MIDL_ALLOC_HUGE_PAGES\0") {
            Some(0) => HugePages::Never,
            Some(_) => HugePages::All,
            None => HugePages::Buffers,
        };
        HUGE_PAGES.store(huge as u32, Ordering::Relaxed);
    });
}

/// Whether the exit-time statistics table is wanted and its printer is
/// not yet registered, marking it registered (the caller registers it).
pub(crate) fn take_stats_at_exit() -> bool {
    PRINT_STATS.load(Ordering::Relaxed) && !PRINT_STATS_REGISTERED.swap(true, Ordering::Relaxed)
}

/// Whether the exit-time statistics table is wanted.
pub(crate) fn stats_at_exit() -> bool {
    PRINT_STATS.load(Ordering::Relaxed)
}

/// Sets whether the exit-time statistics table is wanted.
pub(crate) fn set_stats_at_exit(on: bool) {
    load();
    PRINT_STATS.store(on, Ordering::Relaxed);
}

/// Longest purge delay a setter accepts (a day).
pub(crate) const MAX_PURGE_DELAY_MS: u64 = 86_400_000;

/// The purge delay in milliseconds.
pub(crate) fn purge_delay_ms() -> u64 {
    PURGE_DELAY_MS.load(Ordering::Relaxed)
}

/// Sets the purge delay (heaps take it at their next maintenance pass).
/// False, and nothing changed, past [`MAX_PURGE_DELAY_MS`].
pub(crate) fn set_purge_delay_ms(ms: u64) -> bool {
    if ms > MAX_PURGE_DELAY_MS {
        return false;
    }
    load();
    PURGE_DELAY_MS.store(ms, Ordering::Relaxed);
    true
}

/// Which memory is advised transparent huge pages (see [`HugePages`]).
pub(crate) fn huge_pages() -> HugePages {
    match HUGE_PAGES.load(Ordering::Relaxed) {
        0 => HugePages::Never,
        1 => HugePages::Buffers,
        _ => HugePages::All,
    }
}

/// Sets which memory is advised huge pages from now on.
pub(crate) fn set_huge_pages(h: HugePages) {
    load();
    HUGE_PAGES.store(h as u32, Ordering::Relaxed);
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

/// 64 random bits from the kernel, or from the clock and ASLR when the
/// kernel has none to give (the key then only resists accidents).
fn random_u64() -> u64 {
    pal::random_u64().unwrap_or_else(|| {
        let local = 0u8;
        let stack = &local as *const u8 as u64;
        pal::now_ms().rotate_left(32) ^ stack ^ (random_u64 as fn() -> u64 as usize as u64)
    })
}

/// A decimal environment variable, read without allocating (getenv).
pub(crate) fn env_u64(name: &[u8]) -> Option<u64> {
    let bytes = pal::env_var(name)?;
    if bytes.is_empty() || bytes.len() > 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
