//! Test-only hooks (cargo feature `os-faults`, for `tests/os_faults.rs`):
//! make the OS refuse memory in the middle of a workload.

use crate::pal::refuse;

/// Makes the `n`-th request for memory to the OS from now on fail, once, as
/// if the OS had none (`n == 0`: no request fails).
pub fn refuse_os_memory(n: u64) {
    refuse::arm(n);
}

/// Requests for memory made to the OS since [`refuse_os_memory`] was last
/// called.
pub fn os_memory_requests() -> u64 {
    refuse::seen()
}
