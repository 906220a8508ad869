//! Valgrind client requests (cargo feature `valgrind`, x86-64): the
//! instruction sequence `valgrind.h` emits, which does nothing on the bare
//! CPU (four rotations of `rdi` by 128 bits in all, and an `xchg` of `rbx`
//! with itself) and which valgrind's core recognises and turns into a
//! request to the tool. Memcheck then knows midl-alloc's blocks as it
//! knows malloc's (as mimalloc's `MI_TRACK_VALGRIND` does). The request
//! numbers are `valgrind.h`'s and `memcheck.h`'s.

/// `VG_USERREQ__MALLOCLIKE_BLOCK`: (address, size, red zone, zeroed).
const MALLOCLIKE_BLOCK: usize = 0x1301;
/// `VG_USERREQ__FREELIKE_BLOCK`: (address, red zone).
const FREELIKE_BLOCK: usize = 0x1302;
/// `VG_USERREQ__CHANGE_ERR_DISABLEMENT`: (+1 to disable, -1 to enable).
const CHANGE_ERR_DISABLEMENT: usize = 0x1801;
/// `VG_USERREQ__MAKE_MEM_DEFINED` (memcheck: `'M' << 24 | 'C' << 16`, + 2):
/// (address, length).
const MAKE_MEM_DEFINED: usize = 0x4D43_0002;

/// One client request with up to five arguments; returns the tool's answer
/// (`default` when not running under valgrind).
#[inline(always)]
fn request(default: usize, args: [usize; 6]) -> usize {
    let mut result = default;
    // SAFETY: the sequence only rotates rdi by 3+13+61+51 = 128 bits (back
    // to itself) and exchanges rbx with itself; under valgrind the core
    // reads the six words at rax and writes rdx. No other register or
    // memory is touched.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") result,
            out("rdi") _,
            options(nostack),
        );
    }
    result
}

/// Tells memcheck `p` is a new block of `size` bytes (defined if `zeroed`).
#[inline(always)]
pub(crate) fn malloclike(p: *mut u8, size: usize, zeroed: bool) {
    request(0, [MALLOCLIKE_BLOCK, p as usize, size, 0, zeroed as usize, 0]);
}

/// Tells memcheck the block at `p` is freed (it reports a free of
/// anything that is not a live block).
#[inline(always)]
pub(crate) fn freelike(p: *mut u8) {
    request(0, [FREELIKE_BLOCK, p as usize, 0, 0, 0, 0]);
}

/// Stops (`true`) or resumes (`false`) memcheck's error reports for the
/// calling thread: the allocator's own reads of freed blocks (their free
/// list links) are not the program's errors.
#[inline(always)]
pub(crate) fn quiet(on: bool) {
    let delta = if on { 1usize } else { usize::MAX }; // +1 / -1
    request(0, [CHANGE_ERR_DISABLEMENT, delta, 0, 0, 0, 0]);
}

/// A pointer whose shadow bits are defined: one loaded from a freed
/// block's link is, to memcheck, undefined, and the program would be
/// blamed for using it.
#[inline(always)]
pub(crate) fn defined(p: *mut u8) -> *mut u8 {
    let mut slot = p;
    request(
        0,
        [
            MAKE_MEM_DEFINED,
            &mut slot as *mut *mut u8 as usize,
            core::mem::size_of::<*mut u8>(),
            0,
            0,
            0,
        ],
    );
    // SAFETY: a local, read back after the request (which the asm's memory
    // effects order before this read).
    unsafe { core::ptr::read_volatile(&slot) }
}
