//! The RpcSs package from Rust: allocation environments whose blocks are
//! all released at once when the environment is disabled (or dropped), and
//! which several threads can share by attaching to its handle. The
//! process-wide state is `global::rpcss`; the C exports share it.

use crate::global::rpcss as raw;
pub use crate::global::rpcss::{client_alloc_free, swap_client_alloc_free, ClientAlloc, ClientFree};
pub use crate::mem::rpcss::{RPC_S_INVALID_ARG, RPC_S_OK, RPC_S_OUT_OF_MEMORY};
use core::ffi::c_void;
use core::fmt;
use core::num::NonZeroU64;
use core::ptr::NonNull;

/// A failed RpcSs call: the `RPC_STATUS` it reports.
///
/// ```
/// use midl_alloc::environment::{allocate, set_thread_handle, RpcError, RPC_S_INVALID_ARG};
/// set_thread_handle(None)?;
/// assert_eq!(allocate(8), Err(RpcError(RPC_S_INVALID_ARG))); // no environment
/// # Ok::<(), RpcError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcError(pub i32);

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            RPC_S_OUT_OF_MEMORY => write!(f, "RPC_S_OUT_OF_MEMORY (14)"),
            RPC_S_INVALID_ARG => {
                write!(
                    f,
                    "RPC_S_INVALID_ARG (87): no such environment, or not a live block of it"
                )
            }
            s => write!(f, "RPC status {s}"),
        }
    }
}

impl std::error::Error for RpcError {}

fn status(s: i32) -> Result<(), RpcError> {
    if s == RPC_S_OK {
        Ok(())
    } else {
        Err(RpcError(s))
    }
}

/// An environment's handle: copy it to another thread and attach that
/// thread with [`set_thread_handle`] to share the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ThreadHandle(NonZeroU64);

impl ThreadHandle {
    /// The opaque C `RPC_SS_THREAD_HANDLE` value.
    ///
    /// ```
    /// use midl_alloc::environment::{Environment, ThreadHandle};
    /// let env = Environment::enable()?;
    /// let raw = env.handle().as_raw();
    /// assert_eq!(ThreadHandle::from_raw(raw), Some(env.handle()));
    /// # Ok::<(), midl_alloc::environment::RpcError>(())
    /// ```
    pub fn as_raw(self) -> *mut c_void {
        self.0.get() as usize as *mut c_void
    }

    /// From a C `RPC_SS_THREAD_HANDLE` (None for NULL). Any value is safe:
    /// unknown ones are rejected when used.
    pub fn from_raw(raw: *mut c_void) -> Option<ThreadHandle> {
        NonZeroU64::new(raw as usize as u64).map(ThreadHandle)
    }
}

/// The handle of an environment just enabled or reset as its owner's.
fn owned_handle(raw: Result<u64, i32>) -> Result<ThreadHandle, RpcError> {
    NonZeroU64::new(raw.map_err(RpcError)?)
        .map(ThreadHandle)
        .ok_or(RpcError(RPC_S_INVALID_ARG))
}

/// An allocation environment created by [`Environment::enable`]: every
/// block allocated in it is released when it is disabled (or dropped).
///
/// It is `Sync`, and `&Environment` is an allocator (the `Allocator` trait
/// of allocator-api2, or of core with the `nightly` feature) that any
/// thread can allocate from at once, attached or not: the blocks of one
/// call's collections, built by several threads, all go when the
/// environment does. The borrow keeps the environment alive as long as
/// they are.
///
/// ```
/// use midl_alloc::allocator_api2::vec::Vec;
/// use midl_alloc::environment::Environment;
///
/// let env = Environment::enable().unwrap();
/// std::thread::scope(|s| {
///     for t in 0..2u32 {
///         let env = &env;
///         s.spawn(move || {
///             let mut v = Vec::new_in(env);
///             v.extend(0..1000 * t);
///             assert_eq!(v.len() as u32, 1000 * t);
///         });
///     }
/// });
/// env.disable().unwrap(); // everything at once
/// ```
///
/// Only the owner ends it: `RpcSmDisableAllocate` on a thread attached to
/// it is refused with `RPC_S_INVALID_ARG`.
#[derive(Debug)]
pub struct Environment {
    handle: ThreadHandle,
}

impl Environment {
    /// Creates an environment and attaches the calling thread to it
    /// (replacing any previous attachment; save that with [`thread_handle`]).
    ///
    /// ```
    /// let env = midl_alloc::environment::Environment::enable()?;
    /// drop(env); // disabled: every block released
    /// # Ok::<(), midl_alloc::environment::RpcError>(())
    /// ```
    pub fn enable() -> Result<Environment, RpcError> {
        Ok(Environment {
            handle: owned_handle(raw::enable_owned_raw())?,
        })
    }

    /// The handle other threads attach with (needed only for
    /// [`allocate`]; the `Allocator` front end needs no attachment).
    pub fn handle(&self) -> ThreadHandle {
        self.handle
    }

    /// The handle's raw value, for the `Allocator` front end.
    #[cfg_attr(not(feature = "allocator-api2"), allow(dead_code))] // the `Allocator` front end's
    pub(crate) fn raw(&self) -> u64 {
        self.handle.0.get()
    }

    /// Releases every block allocated in the environment at once and
    /// starts it again, empty, for the next call: the same as disabling it
    /// and enabling a new one, without giving back its slot or its first
    /// chunk. The `&mut` borrow proves no collection holds its blocks.
    ///
    /// The environment gets a new [`handle`](Environment::handle): threads
    /// attached to the old one are detached (their RpcSs calls fail with
    /// `RPC_S_INVALID_ARG` until they attach again), and none may use it
    /// during the reset, as for [`disable`](Environment::disable). The
    /// calling thread stays attached if it was.
    ///
    /// ```
    /// use midl_alloc::allocator_api2::vec::Vec;
    /// use midl_alloc::environment::Environment;
    ///
    /// let mut env = Environment::enable()?;
    /// for call in 0..3u32 {
    ///     let mut v = Vec::new_in(&env);
    ///     v.extend(0..100 * call);
    ///     drop(v);
    ///     env.reset()?; // everything of this call at once
    /// }
    /// # Ok::<(), midl_alloc::environment::RpcError>(())
    /// ```
    #[inline]
    pub fn reset(&mut self) -> Result<(), RpcError> {
        self.handle = owned_handle(raw::reset_owned_raw(self.handle.0.get()))?;
        Ok(())
    }

    /// Releases every block still allocated in the environment at once.
    pub fn disable(self) -> Result<(), RpcError> {
        let h = self.handle;
        core::mem::forget(self);
        status(raw::disable_handle_raw(h.0.get()))
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        let _ = raw::disable_handle_raw(self.handle.0.get());
    }
}

/// A block of `size` bytes from the calling thread's environment.
///
/// ```
/// use midl_alloc::environment::{allocate, Environment};
/// let env = Environment::enable()?;
/// let p = allocate(100)?;
/// // SAFETY: 100 bytes of a live block of the environment.
/// unsafe { p.as_ptr().write_bytes(1, 100) };
/// env.disable()?; // `p` goes with it
/// # Ok::<(), midl_alloc::environment::RpcError>(())
/// ```
pub fn allocate(size: usize) -> Result<NonNull<u8>, RpcError> {
    let (p, s) = raw::allocate_raw(size);
    NonNull::new(p).ok_or(RpcError(s))
}

/// Frees a block of the calling thread's environment before it ends.
///
/// # Safety
/// If `p` is a live block of the environment, it is not used again. (Any
/// other pointer is rejected without being dereferenced.)
///
/// ```
/// use midl_alloc::environment::{allocate, free, Environment};
/// let env = Environment::enable()?;
/// let p = allocate(100)?;
/// // SAFETY: a live block of the environment, not used again.
/// unsafe { free(p.as_ptr())? };
/// # Ok::<(), midl_alloc::environment::RpcError>(())
/// ```
pub unsafe fn free(p: *mut u8) -> Result<(), RpcError> {
    status(raw::free_raw(p))
}

/// The calling thread's environment, if it has one.
///
/// ```
/// use midl_alloc::environment::{thread_handle, Environment};
/// let env = Environment::enable()?;
/// assert_eq!(thread_handle(), Some(env.handle()));
/// # Ok::<(), midl_alloc::environment::RpcError>(())
/// ```
pub fn thread_handle() -> Option<ThreadHandle> {
    NonZeroU64::new(raw::thread_handle_raw()).map(ThreadHandle)
}

/// Attaches the calling thread to an environment (None detaches).
///
/// ```
/// use midl_alloc::environment::{allocate, set_thread_handle, Environment};
/// let env = Environment::enable()?;
/// let h = env.handle();
/// std::thread::spawn(move || {
///     set_thread_handle(Some(h)).unwrap(); // share the environment
///     allocate(10).unwrap();
///     set_thread_handle(None).unwrap();
/// })
/// .join()
/// .unwrap();
/// # Ok::<(), midl_alloc::environment::RpcError>(())
/// ```
pub fn set_thread_handle(h: Option<ThreadHandle>) -> Result<(), RpcError> {
    status(raw::set_thread_handle_raw(h.map_or(0, |h| h.0.get())))
}
