//! The floor of the heaps' retained cap, learned process-wide.
//!
//! A heap keeps the retired pages of its segments backed while they wait
//! out the purge delay, up to a cap (`heap::retain_cap`); past it they all
//! go back to the OS at once. When pages a cap gave back are set up again
//! within the purge delay, half the floor's worth, the process is
//! refilling what it just emptied, and the floor doubles (to at most
//! [`RETAIN_CEILING`]); it halves again once ten purge delays pass
//! without that ([`relaxed`]). Each heap also learns a floor of its own
//! the same way (`heap::State::retain_floor`, for a long-lived thread's
//! rounds); this one is shared: under thread churn each heap lives a
//! fraction of a millisecond, far too short to learn anything, while the
//! pages one heap's cap gives back are the pages the next thread faults in
//! again (the benchmark's `thread_lifetimes` row: with a
//! floor each heap learned alone, 20 page faults a thread lifetime,
//! rpmalloc's 0.35).
//!
//! The fields are hints read and written with relaxed atomics: a race
//! loses at most one doubling or one halving, and no memory is reached
//! through them.

use super::os;
use crate::base::sync::{model_const_fn, AtomicU64, AtomicUsize, Ordering};

/// The smallest cap on the bytes of retired pages a heap keeps backed
/// while they wait out the purge delay (`heap::retain_cap`), the shared
/// floor's and each heap's own: past the cap they all go back to the OS at
/// once, so a thread that frees a burst and then idles does not sit on it.
pub(crate) const RETAIN_MAX: usize = 8 << 20;
/// The highest the shared floor rises: it applies to every young heap at
/// once, so it stays below what one heap may learn alone (64 MiB,
/// `heap::RETAIN_CEILING`). Under churn (`tests/memory/churn_refaults.rs`)
/// a ceiling of 16 MiB left 3.7-9.5 page faults a thread lifetime, more
/// than twice what 32 leaves.
pub(crate) const RETAIN_CEILING: usize = 32 << 20;

/// A raised floor `floor`, last changed at `changed_ms`, halved (to no less
/// than [`RETAIN_MAX`]) once ten purge delays (`delay`, ms) have passed
/// by `now`; `None` while it stays. The rule of both floors, the shared
/// one and each heap's.
pub(crate) fn relaxed(floor: usize, changed_ms: u64, now: u64, delay: u64) -> Option<usize> {
    (floor > RETAIN_MAX && now.saturating_sub(changed_ms) >= delay.saturating_mul(10))
        .then(|| (floor / 2).max(RETAIN_MAX))
}

pub(crate) struct RetainFloor {
    /// Bytes: the least a heap's retained cap gives.
    floor: AtomicUsize,
    /// When a heap's cap last gave its retired pages back (0: no such
    /// purge waiting to be judged).
    cap_purge_ms: AtomicU64,
    /// Bytes of given-back pages set up again since the window opened.
    refaulted: AtomicUsize,
    /// When `floor` last changed.
    changed_ms: AtomicU64,
}

impl RetainFloor {
    model_const_fn! {
        pub(crate) fn new() -> Self {
            RetainFloor {
                floor: AtomicUsize::new(RETAIN_MAX),
                cap_purge_ms: AtomicU64::new(0),
                refaulted: AtomicUsize::new(0),
                changed_ms: AtomicU64::new(0),
            }
        }
    }

    /// The floor now.
    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.floor.load(Ordering::Relaxed)
    }

    /// A heap's cap gave its retired pages back at `now`: pages set up
    /// again within the purge delay from now count as refaults. (The bytes
    /// already counted stay: under churn, heaps pass the cap one after the
    /// other, each before the last window saw its refaults.)
    pub(crate) fn note_cap_purge(&self, now: u64) {
        self.cap_purge_ms.store(now.max(1), Ordering::Relaxed);
    }

    /// A given-back page of `size` bytes was set up again, with the purge
    /// delay `delay` (ms). Cheap when no cap purge is being judged; else a
    /// clock read and an add (it replaces a page fault per 4 KiB).
    pub(crate) fn note_refault(&self, size: usize, delay: u64) {
        let since = self.cap_purge_ms.load(Ordering::Relaxed);
        if since == 0 {
            return;
        }
        let now = os::now_ms();
        if now.saturating_sub(since) > delay {
            // The window closed without the floor's worth coming back.
            self.cap_purge_ms.store(0, Ordering::Relaxed);
            self.refaulted.store(0, Ordering::Relaxed);
            return;
        }
        let refaulted = self.refaulted.fetch_add(size, Ordering::Relaxed) + size;
        let floor = self.get();
        if refaulted >= floor / 2 {
            let raised = (floor * 2).min(RETAIN_CEILING);
            if self
                .floor
                .compare_exchange(floor, raised, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                self.changed_ms.store(now, Ordering::Relaxed);
            }
            self.refaulted.store(0, Ordering::Relaxed);
            self.cap_purge_ms.store(0, Ordering::Relaxed);
        }
    }

    /// Halves a raised floor once ten purge delays (`delay`, ms) have
    /// passed since it last changed (a heap's maintenance, at `now`).
    pub(crate) fn relax(&self, now: u64, delay: u64) {
        let floor = self.get();
        if let Some(lowered) = relaxed(floor, self.changed_ms.load(Ordering::Relaxed), now, delay) {
            if self
                .floor
                .compare_exchange(floor, lowered, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                self.changed_ms.store(now, Ordering::Relaxed);
            }
        }
    }
}
