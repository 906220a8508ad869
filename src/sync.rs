//! The one place atomics and interior-mutable cells come from.
//!
//! Under `cfg(loom)` every type here is loom's, so the model tests in
//! `loom-tests/` check exactly the code the allocator runs. Without it the
//! types are the standard ones (the cell is a zero-cost wrapper with loom's
//! closure-based API, so both builds share one source).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

// `AtomicBool` serves settings outside the loom models only (`config`).
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

pub(crate) use core::sync::atomic::Ordering;

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's `with` / `with_mut` API.
#[cfg(not(loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline(always)]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with an exclusive raw pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// A statistics counter: relaxed increments that order nothing, so it stays
/// a plain `core` atomic even under loom (which cannot have `static` atomics
/// and has nothing to check in a counter no protocol reads).
pub(crate) struct RelaxedCounter(core::sync::atomic::AtomicUsize);

impl RelaxedCounter {
    pub(crate) const fn new() -> Self {
        Self(core::sync::atomic::AtomicUsize::new(0))
    }

    #[inline]
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A statistics gauge that can go up and down and remembers its highest
/// value; relaxed like [`RelaxedCounter`] and for the same reasons.
pub(crate) struct RelaxedGauge {
    value: core::sync::atomic::AtomicI64,
    peak: core::sync::atomic::AtomicI64,
}

impl RelaxedGauge {
    pub(crate) const fn new() -> Self {
        Self {
            value: core::sync::atomic::AtomicI64::new(0),
            peak: core::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Adds `delta` (possibly negative) and raises the peak to the result.
    #[inline]
    pub(crate) fn add(&self, delta: i64) {
        let now = self.value.fetch_add(delta, Ordering::Relaxed) + delta;
        if delta > 0 {
            self.peak.fetch_max(now, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    #[inline]
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn peak(&self) -> i64 {
        self.peak.load(Ordering::Relaxed)
    }
}
