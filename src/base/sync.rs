//! The one place atomics and interior-mutable cells come from, and the
//! only module (with `fault`) that `cfg(loom)` switches.
//!
//! Under `cfg(loom)` every protocol type here is loom's, so the model tests
//! in `loom-tests/` check exactly the code the allocator runs. Without it
//! the types are the standard ones (the cell is a zero-cost wrapper with
//! loom's closure-based API, so both builds share one source). The rest of
//! the crate adapts to the switch through what this module exports, never
//! through `cfg(loom)` of its own:
//!
//! * [`MODEL_CHECKING`]: the types are loom's, so they have another size,
//!   must be constructed (zeroed memory is not a valid value) and the
//!   process must not stop on a fatal error (a model observes a panic);
//! * [`model_const_fn!`]: a `const fn` that is a plain `fn` under loom
//!   (loom's constructors are not `const`);
//! * [`no_unwind_fn!`]: an `extern "C"` function (no unwinding, so callers
//!   reach it with a tail call) that is a Rust function under loom, where
//!   the expected-failure models panic through it;
//! * [`plain`]: atomics loom never sees, for settings and statistics
//!   (relaxed, ordering nothing, and `static`, which loom's cannot be).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// Locks `m` (the large-object tier's one lock, see `mem::span_cache`;
/// a futex, which never allocates). A poisoned lock is taken as it is:
/// nothing panics while holding it, and a panic elsewhere must not stop
/// the allocator.
pub(crate) fn lock<T>(m: &Mutex<T>) -> Guard<'_, T> {
    let inner = m.lock().unwrap_or_else(|e| e.into_inner());
    #[cfg(midl_tsan)]
    // SAFETY: an annotation of ThreadSanitizer's runtime, which the
    // `midl_tsan` build links.
    unsafe {
        tsan::__tsan_acquire(m as *const Mutex<T> as *mut core::ffi::c_void)
    };
    Guard { lock: m, inner }
}

/// A held lock (see [`lock`]). In the ThreadSanitizer build (`--cfg
/// midl_tsan`, `scripts/tsan.sh`) taking and dropping it tell the sanitizer
/// about the order the lock gives: the standard library is not
/// instrumented there, so its futex would look like no synchronisation at
/// all.
pub(crate) struct Guard<'a, T> {
    #[cfg_attr(not(midl_tsan), allow(dead_code))]
    lock: &'a Mutex<T>,
    inner: MutexGuard<'a, T>,
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // (Before `inner` unlocks the mutex.)
        #[cfg(midl_tsan)]
        // SAFETY: as in `lock`.
        unsafe {
            tsan::__tsan_release(self.lock as *const Mutex<T> as *mut core::ffi::c_void)
        };
    }
}

/// ThreadSanitizer's annotation interface (its runtime's
/// `tsan_interface.h`), in the `midl_tsan` build only.
#[cfg(midl_tsan)]
mod tsan {
    extern "C" {
        pub(super) fn __tsan_acquire(addr: *mut core::ffi::c_void);
        pub(super) fn __tsan_release(addr: *mut core::ffi::c_void);
    }
}

/// Whether the protocol types are loom's (see the module docs).
pub(crate) const MODEL_CHECKING: bool = cfg!(loom);

/// Atomics that are the standard ones in every build: for settings and
/// statistics, which no protocol reads, and which must be `static`.
pub(crate) mod plain {
    #[allow(unused_imports)] // AtomicU32: checked mode's only
    pub(crate) use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize};
}

/// `model_const_fn! { fn ... }`: the function is `const` outside loom.
#[cfg(not(loom))]
macro_rules! model_const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$m])* $vis const fn $($rest)*
    };
}

#[cfg(loom)]
macro_rules! model_const_fn {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use model_const_fn;

/// `no_unwind_fn! { [unsafe] fn ... }`: an `extern "C"` function outside
/// loom, a Rust function under it (see the module docs).
#[cfg(not(loom))]
macro_rules! no_unwind_fn {
    ($(#[$m:meta])* $vis:vis unsafe fn $($rest:tt)*) => {
        $(#[$m])* $vis unsafe extern "C" fn $($rest)*
    };
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$m])* $vis extern "C" fn $($rest)*
    };
}

#[cfg(loom)]
macro_rules! no_unwind_fn {
    ($(#[$m:meta])* $vis:vis unsafe fn $($rest:tt)*) => {
        $(#[$m])* $vis unsafe fn $($rest)*
    };
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use no_unwind_fn;

pub(crate) use core::sync::atomic::Ordering;

/// One step of a bounded wait for another thread: a spin-loop hint (under
/// loom, a yield, which loom requires of every spin loop).
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
}

/// Whether `atomic` holds `value`, read Relaxed. On x86-64 (outside loom)
/// the load is folded into the compare: one instruction on the free fast
/// path fewer, since LLVM does not fold an atomic load into an arithmetic
/// instruction (`load() == value` is a load and a compare). The asm block
/// reads the word with one aligned 8-byte load, which x86-64 performs
/// atomically: a Relaxed load.
#[inline(always)]
pub(crate) fn relaxed_ptr_is<T>(atomic: &AtomicPtr<T>, value: *mut T) -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
    // SAFETY: `atomic` is a live, aligned pointer-sized atomic; the asm only
    // reads it (an atomic load on x86-64) and sets flags.
    unsafe {
        core::arch::asm!(
            "cmp qword ptr [{word}], {value}",
            "jne {other}",
            word = in(reg) atomic.as_ptr(),
            value = in(reg) value,
            other = label { return false; },
            options(nostack, readonly),
        );
        true
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux", not(loom))))]
    {
        atomic.load(Ordering::Relaxed) == value
    }
}

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
pub(crate) struct RelaxedCounter(plain::AtomicUsize);

impl RelaxedCounter {
    pub(crate) const fn new() -> Self {
        Self(plain::AtomicUsize::new(0))
    }

    #[inline]
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds `n` and returns the sum.
    #[inline]
    pub(crate) fn add_fetch(&self, n: usize) -> usize {
        self.0.fetch_add(n, Ordering::Relaxed).wrapping_add(n)
    }

    #[inline]
    pub(crate) fn sub(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    /// Raises the value to `n` if it is lower (a read-modify-write only
    /// then).
    #[inline]
    pub(crate) fn raise_to(&self, n: usize) {
        if n > self.get() {
            self.0.fetch_max(n, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A statistics gauge that can go up and down; relaxed like
/// [`RelaxedCounter`] and for the same reasons. One read-modify-write an
/// update.
pub(crate) struct RelaxedGauge(plain::AtomicI64);

impl RelaxedGauge {
    pub(crate) const fn new() -> Self {
        Self(plain::AtomicI64::new(0))
    }

    /// Adds `delta` (possibly negative).
    #[inline]
    pub(crate) fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}
