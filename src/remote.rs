//! Lock-free multi-producer stacks whose consumer takes everything at once.
//!
//! * `push` links a node in with one CAS (a retry only under contention),
//!   with `Release` so the pusher's writes to the node reach the consumer;
//! * `take_all` detaches the whole list with one `swap(null, Acquire)`.
//!
//! There is no single-node pop, so a node can never be popped, freed,
//! reused and pushed again between a consumer's load and CAS: no ABA, and no
//! tags or epochs needed.
//!
//! Two kinds: [`CountedStack`], a page's remote-free list, whose head word
//! also counts its nodes, so the owner learns how many blocks came back
//! without walking them (each a cache miss: the blocks were last written
//! by other threads); and [`AtomicStack`], for the arena's lists (segments
//! abandoned by exiting threads, pooled segments and heaps).

use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use core::marker::PhantomData;
use core::ptr;

/// The ordering a push publishes its node with: `Release` (`Relaxed` only
/// when a loom expected-failure test asks for the fault).
#[inline(always)]
fn publish_order() -> Ordering {
    if crate::fault::injected(crate::fault::Fault::PushRelaxed) {
        Ordering::Relaxed
    } else {
        Ordering::Release
    }
}

/// The ordering a consumer takes a whole list with: `Acquire` (`Relaxed`
/// only when a loom expected-failure test asks for the fault).
#[inline(always)]
fn take_order() -> Ordering {
    if crate::fault::injected(crate::fault::Fault::TakeRelaxed) {
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
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
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
            if crate::fault::injected(crate::fault::Fault::PushLoadStore) {
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

/// Bits of a [`CountedStack`]'s head word below the count: the first
/// node's address.
const COUNT_SHIFT: u32 = 48;

/// Nodes of a [`CountedStack`] lie below this address (user-space
/// addresses on x86-64 and AArch64 Linux do unless a mapping asks for
/// more; `Heap` checks each segment it maps).
pub(crate) const ADDRESS_LIMIT: usize = 1 << COUNT_SHIFT;

/// The most nodes a [`CountedStack`] can count.
pub(crate) const COUNT_MAX: usize = (1 << (usize::BITS - COUNT_SHIFT)) - 1;

/// A page's remote-free list: a multi-producer stack whose head word holds
/// the first node's address in its low 48 bits and the number of nodes in
/// the 16 above, both changed by the one CAS of a push and taken by the one
/// swap of `take_all`. The consumer learns the length without walking the
/// list. The links are the caller's to write (`push` takes a function
/// for it), so a page keeps them in the form its owner reads.
pub(crate) struct CountedStack<T> {
    word: AtomicUsize,
    _nodes: PhantomData<*mut T>,
}

impl<T> CountedStack<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            word: AtomicUsize::new(0),
            _nodes: PhantomData,
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            word: AtomicUsize::new(0),
            _nodes: PhantomData,
        }
    }

    /// Pushes `node`: `link(node, first)` writes the node's link to the
    /// current first node (null for none), then one CAS publishes the node
    /// and a count one higher (retried, link and all, under contention).
    ///
    /// # Safety
    /// `node` is live, owned by the caller, in no list, and below
    /// [`ADDRESS_LIMIT`]; ownership passes to the list. The list never
    /// holds more than [`COUNT_MAX`] nodes.
    #[inline]
    pub(crate) unsafe fn push(&self, node: *mut T, mut link: impl FnMut(*mut T, *mut T)) {
        debug_assert!((node as usize) < ADDRESS_LIMIT && !node.is_null());
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            debug_assert!(word >> COUNT_SHIFT < COUNT_MAX);
            link(node, (word & (ADDRESS_LIMIT - 1)) as *mut T);
            // The count one higher, the address replaced.
            let new = ((word >> COUNT_SHIFT) + 1) << COUNT_SHIFT | node as usize;
            if crate::fault::injected(crate::fault::Fault::PushLoadStore) {
                // Broken on purpose (loom expected-failure tests only): a
                // plain store loses a concurrent push.
                self.word.store(new, Ordering::Release);
                return;
            }
            let success = publish_order();
            match self.word.compare_exchange_weak(word, new, success, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }

    /// Detaches the whole list: its first node (null if empty) and the
    /// number of nodes on it. Skips the read-modify-write when the list
    /// looks empty.
    #[inline]
    pub(crate) fn take_all(&self) -> (*mut T, u32) {
        if self.word.load(Ordering::Relaxed) == 0 {
            return (ptr::null_mut(), 0);
        }
        let order = take_order();
        let word = self.word.swap(0, order);
        ((word & (ADDRESS_LIMIT - 1)) as *mut T, (word >> COUNT_SHIFT) as u32)
    }

    /// How many nodes the list held at some recent moment (Relaxed: pushes
    /// may be under way). Only the consumer takes nodes off, so for the
    /// consumer it is a lower bound of what `take_all` would return.
    #[inline]
    pub(crate) fn count_hint(&self) -> u32 {
        (self.word.load(Ordering::Relaxed) >> COUNT_SHIFT) as u32
    }

    /// Whether the list looked empty (a hint: pushes may be under way).
    #[inline]
    pub(crate) fn is_empty_hint(&self) -> bool {
        self.word.load(Ordering::Relaxed) == 0
    }
}
