//! A page's remote-free list: a lock-free multi-producer stack whose head
//! word also counts its nodes, so the owner learns how many blocks came
//! back without walking them (each a cache miss: the blocks were last
//! written by other threads). Push and take as in `stack`.

use super::stack::{publish_order, take_order};
use crate::base::fault::{self, Fault};
use crate::base::sync::{model_const_fn, AtomicUsize, Ordering};
use core::marker::PhantomData;
use core::ptr;

/// Bits of a [`CountedStack`]'s head word below the count: the first
/// node's address.
const COUNT_SHIFT: u32 = 48;

/// Nodes of a [`CountedStack`] lie below this address (user-space
/// addresses on x86-64 and AArch64 Linux do unless a mapping asks for
/// more; the heap checks each segment it maps).
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
    model_const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                word: AtomicUsize::new(0),
                _nodes: PhantomData,
            }
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
    pub(crate) unsafe fn push(&self, node: *mut T, link: impl FnMut(*mut T, *mut T)) {
        // SAFETY: forwarded; one node is a chain of one.
        unsafe { self.push_chain(node, node, 1, link) }
    }

    /// Pushes the chain `first ..= last` of `n` nodes, already linked from
    /// `first` to `last`: `link(last, head)` writes the last node's link to
    /// the current first node (null for none), then one CAS publishes
    /// `first` and a count `n` higher (retried, link and all, under
    /// contention).
    ///
    /// # Safety
    /// The chain's `n` nodes are live, owned by the caller, in no list,
    /// below [`ADDRESS_LIMIT`], and linked so that the consumer reaches
    /// `last` from `first`; ownership passes to the list. The list never
    /// holds more than [`COUNT_MAX`] nodes.
    #[inline]
    pub(crate) unsafe fn push_chain(
        &self,
        first: *mut T,
        last: *mut T,
        n: usize,
        mut link: impl FnMut(*mut T, *mut T),
    ) {
        debug_assert!((first as usize) < ADDRESS_LIMIT && !first.is_null() && !last.is_null() && n > 0);
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            debug_assert!((word >> COUNT_SHIFT) + n <= COUNT_MAX);
            link(last, (word & (ADDRESS_LIMIT - 1)) as *mut T);
            // The count `n` higher, the address replaced.
            let counted = if fault::injected(Fault::ChainCountsOne) { 1 } else { n };
            let new = ((word >> COUNT_SHIFT) + counted) << COUNT_SHIFT | first as usize;
            if fault::injected(Fault::PushLoadStore) {
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

    /// The list as it stands: its first node and the number of nodes
    /// (Acquire, so the consumer may walk them: nodes are only taken off by
    /// the consumer, and pushes only add in front).
    #[inline]
    pub(crate) fn peek(&self) -> (*mut T, u32) {
        let word = self.word.load(Ordering::Acquire);
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
