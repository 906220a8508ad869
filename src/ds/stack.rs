//! Lock-free multi-producer stacks whose consumer takes everything at once.
//! This file: the [`Linked`] node trait and [`AtomicStack`]; the counted
//! kind is in `counted_stack`.
//!
//! * `push` links a node in with one CAS (a retry only under contention),
//!   with `Release` so the pusher's writes to the node reach the consumer;
//! * `take_all` detaches the whole list with one `swap(null, Acquire)`.
//!
//! There is no single-node pop, so a node can never be popped, freed,
//! reused and pushed again between a consumer's load and CAS: no ABA, and no
//! tags or epochs needed.
//!
//! Two kinds: `counted_stack::CountedStack`, a page's remote-free list,
//! whose head word also counts its nodes; and [`AtomicStack`], for the
//! arena's lists (segments abandoned by exiting threads, pooled segments
//! and heaps) and an RpcSs environment's chunks.

use crate::base::fault::{self, Fault};
use crate::base::sync::{model_const_fn, AtomicPtr, Ordering};
use core::ptr;

/// The ordering a push publishes its node with: `Release` (`Relaxed` only
/// when a loom expected-failure test asks for the fault).
#[inline(always)]
pub(crate) fn publish_order() -> Ordering {
    if fault::injected(Fault::PushRelaxed) {
        Ordering::Relaxed
    } else {
        Ordering::Release
    }
}

/// The ordering a consumer takes a whole list with: `Acquire` (`Relaxed`
/// only when a loom expected-failure test asks for the fault).
#[inline(always)]
pub(crate) fn take_order() -> Ordering {
    if fault::injected(Fault::TakeRelaxed) {
        Ordering::Relaxed
    } else {
        Ordering::Acquire
    }
}

/// An intrusive singly-linked node.
pub(crate) trait Linked: Sized {
    /// Reads the link of `this`.
    ///
    /// # Safety
    /// `this` points to a live node the caller owns or has acquired.
    unsafe fn next(this: *mut Self) -> *mut Self;

    /// Writes the link of `this`.
    ///
    /// # Safety
    /// `this` points to a live node the caller owns exclusively.
    unsafe fn set_next(this: *mut Self, next: *mut Self);
}

pub(crate) struct AtomicStack<T> {
    head: AtomicPtr<T>,
}

impl<T: Linked> AtomicStack<T> {
    model_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                head: AtomicPtr::new(ptr::null_mut()),
            }
        }
    }

    /// Pushes one node.
    ///
    /// # Safety
    /// `node` is live, owned by the caller, and in no list; ownership passes
    /// to the list.
    #[inline]
    pub(crate) unsafe fn push(&self, node: *mut T) {
        // SAFETY: forwarded from the caller; a single node is a chain.
        unsafe { self.push_chain(node, node) }
    }

    /// Pushes the chain `first ..= last` (already linked through `next`).
    ///
    /// # Safety
    /// The chain is owned by the caller, in no other list, and `last` is
    /// reachable from `first`; ownership passes to the list.
    pub(crate) unsafe fn push_chain(&self, first: *mut T, last: *mut T) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `last` is still exclusively ours until the CAS below
            // publishes it.
            unsafe { T::set_next(last, head) };
            if fault::injected(Fault::PushLoadStore) {
                // Broken on purpose (loom expected-failure tests only): a
                // plain store loses a concurrent push.
                self.head.store(first, Ordering::Release);
                return;
            }
            let success = publish_order();
            match self.head.compare_exchange_weak(head, first, success, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Pushes back a detached chain starting at `first` (null: nothing).
    /// When the list is empty (nothing pushed since the caller took it, the
    /// usual case), the chain, which ends in null, becomes the list with one
    /// CAS; otherwise its last node is found by walking it. (Walking every
    /// time made the window in which the list looks empty to other threads
    /// as long as the chain: threads starting together each found the heap
    /// pool empty, mapped a fresh heap, and the pool, and the walk, grew
    /// with every such race.)
    ///
    /// # Safety
    /// As for `push_chain`: the chain is the caller's and in no other list.
    pub(crate) unsafe fn push_list(&self, first: *mut T) {
        if first.is_null() {
            return;
        }
        if self
            .head
            .compare_exchange(ptr::null_mut(), first, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
        let mut last = first;
        // SAFETY: the chain is owned by the caller (contract).
        unsafe {
            while !T::next(last).is_null() {
                last = T::next(last);
            }
            self.push_chain(first, last);
        }
    }

    /// Detaches and returns the whole list (null if empty). Skips the
    /// read-modify-write when the list looks empty.
    #[inline]
    pub(crate) fn take_all(&self) -> *mut T {
        if self.head.load(Ordering::Relaxed).is_null() {
            return ptr::null_mut();
        }
        let order = take_order();
        self.head.swap(ptr::null_mut(), order)
    }

    /// Makes `node` the whole list, when nothing else can reach the list yet
    /// (its owner is setting it up; publishing the owner orders this): a
    /// store, no read-modify-write.
    ///
    /// # Safety
    /// The list is empty and unshared; `node` is owned by the caller, in no
    /// other list; ownership passes to the list.
    pub(crate) unsafe fn set_unshared(&self, node: *mut T) {
        // SAFETY: the caller owns the node.
        unsafe { T::set_next(node, ptr::null_mut()) };
        self.head.store(node, Ordering::Relaxed);
    }

    /// Detaches and returns the whole list when nothing can push to it any
    /// more (its owner is ending it): a load and a store, no
    /// read-modify-write.
    #[inline]
    pub(crate) fn take_all_unshared(&self) -> *mut T {
        let head = self.head.load(Ordering::Acquire);
        self.head.store(ptr::null_mut(), Ordering::Relaxed);
        head
    }

    /// The current first node (Acquire), for readers of a list whose nodes
    /// are never removed while they read it.
    #[inline]
    pub(crate) fn head(&self) -> *mut T {
        self.head.load(Ordering::Acquire)
    }

    /// Whether the list looked empty (a hint: pushes may be under way).
    #[inline]
    pub(crate) fn is_empty_hint(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }
}
