//! Deliberate protocol faults for loom's expected-failure tests.
//!
//! Under `cfg(loom)` a model may switch on one fault (see `loom_api`) to
//! show that the model catches it; in every other build `injected` is a
//! constant `false` and the branches that test it compile away.

/// One deliberate fault (a bit of [`ACTIVE`] under loom).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(dead_code)]
pub enum Fault {
    /// A list push's CAS replaced by a load and a store.
    PushLoadStore = 1,
    /// A list push (remote frees, pools, RpcSs chunks) publishes with
    /// `Relaxed` instead of `Release`.
    PushRelaxed = 2,
    /// A list is taken whole with `Relaxed` instead of `Acquire`.
    TakeRelaxed = 4,
    /// The owner forgets that blocks on the remote-free list are still in use
    /// and retires a page whose remote list it has not collected.
    RetireIgnoresRemote = 8,
    /// An exiting thread publishes its abandoned segment before it has
    /// finished writing the segment's state.
    AbandonBeforeDone = 16,
    /// An RpcSs early free checks and marks a block with a load and a store
    /// instead of one CAS.
    SsFreeLoadStore = 32,
    /// A chain of remote frees pushed at once counts as one block.
    ChainCountsOne = 64,
}

#[cfg(loom)]
pub(crate) static ACTIVE: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

#[cfg(loom)]
#[inline]
pub(crate) fn injected(f: Fault) -> bool {
    ACTIVE.load(core::sync::atomic::Ordering::Relaxed) & f as u32 != 0
}

#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn injected(_: Fault) -> bool {
    false
}
