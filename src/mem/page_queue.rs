//! Page queues: a heap's queue of pages of one class with room, and its
//! list of full pages. Owner-only; the links live in the pages.

use super::page::Page;
use core::ptr;

/// A doubly linked queue of pages, linked through `PageLocal::prev/next`.
#[derive(Clone, Copy)]
pub(crate) struct PageQueue {
    pub(crate) first: *mut Page,
    pub(crate) last: *mut Page,
}

pub(crate) const EMPTY_QUEUE: PageQueue = PageQueue {
    first: ptr::null_mut(),
    last: ptr::null_mut(),
};

/// # Safety
/// The calling thread owns the queue and the page, which is on no queue.
pub(crate) unsafe fn queue_push_front(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and the page, which is on no queue.
    unsafe {
        let first = (*q).first;
        (*page).local(|l| {
            l.prev = ptr::null_mut();
            l.next = first;
        });
        if first.is_null() {
            (*q).last = page;
        } else {
            (*first).local(|l| l.prev = page);
        }
        (*q).first = page;
    }
}

/// # Safety
/// The calling thread owns the queue and the page, which is on no queue.
pub(crate) unsafe fn queue_push_back(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and the page, which is on no queue.
    unsafe {
        let last = (*q).last;
        (*page).local(|l| {
            l.prev = last;
            l.next = ptr::null_mut();
        });
        if last.is_null() {
            (*q).first = page;
        } else {
            (*last).local(|l| l.next = page);
        }
        (*q).last = page;
    }
}

/// # Safety
/// The calling thread owns the queue and the page, which is on it.
pub(crate) unsafe fn queue_remove(q: *mut PageQueue, page: *mut Page) {
    // SAFETY: the caller owns the queue and `page` is on it.
    unsafe {
        let (prev, next) = (*page).local(|l| {
            let links = (l.prev, l.next);
            l.prev = ptr::null_mut();
            l.next = ptr::null_mut();
            links
        });
        if prev.is_null() {
            (*q).first = next;
        } else {
            (*prev).local(|l| l.next = next);
        }
        if next.is_null() {
            (*q).last = prev;
        } else {
            (*next).local(|l| l.prev = prev);
        }
    }
}
