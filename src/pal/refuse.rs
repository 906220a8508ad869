//! The test-only hook that makes the OS refuse memory (cargo feature
//! `os-faults`, never in a release build): armed with `n`, the `n`-th
//! request for memory after it (a mapping, an aligned mapping, a mapping
//! grown in place or moved) fails as if the OS had none, once; the calls
//! after it succeed again. `mem::os` asks [`refused`] before each request.
//! Plain atomics: the hook orders nothing.

use crate::base::sync::plain::AtomicU64;
use crate::base::sync::Ordering;

/// Requests left until the refused one (0: disarmed).
static LEFT: AtomicU64 = AtomicU64::new(0);
/// Requests seen since the hook was last armed.
static SEEN: AtomicU64 = AtomicU64::new(0);

/// Arms the hook: the `n`-th request from now fails (`n == 0` disarms it).
pub(crate) fn arm(n: u64) {
    SEEN.store(0, Ordering::Relaxed);
    LEFT.store(n, Ordering::Relaxed);
}

/// Requests seen since the hook was last armed.
pub(crate) fn seen() -> u64 {
    SEEN.load(Ordering::Relaxed)
}

/// Counts a request; true when it is the one to refuse.
pub(crate) fn refused() -> bool {
    SEEN.fetch_add(1, Ordering::Relaxed);
    matches!(
        LEFT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)),
        Ok(1)
    )
}
