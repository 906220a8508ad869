//! Bit helpers shared by the layers above: iterating the set bits of a
//! mask, a 64-bit mixing function, and integer rounding. The rounding
//! helpers stand in for `usize::div_ceil`, `next_multiple_of` and
//! `is_multiple_of`, which Rust 1.63 (the compiler of the Windows build,
//! see `scripts/windows.sh`) does not have.

/// The indices of the set bits of `mask`, lowest first.
#[inline]
pub(crate) fn ones(mut mask: u64) -> impl Iterator<Item = usize> {
    core::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let i = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(i)
    })
}

/// splitmix64's finaliser: every input bit affects every output bit, so
/// neighbouring inputs (addresses, counters) give unrelated outputs.
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `a / b` rounded up (`b` > 0).
#[inline(always)]
pub(crate) const fn div_ceil(a: usize, b: usize) -> usize {
    a / b + !is_multiple_of(a, b) as usize
}

/// The smallest multiple of `b` (> 0) not below `a`; overflows as `+` does.
#[inline(always)]
pub(crate) const fn round_up(a: usize, b: usize) -> usize {
    div_ceil(a, b) * b
}

/// `a` rounded up to a multiple of `align`, a power of two (a mask, not a
/// division); `a + align - 1` must not overflow.
#[inline(always)]
pub(crate) const fn align_up(a: usize, align: usize) -> usize {
    debug_assert!(align.is_power_of_two());
    (a + align - 1) & !(align - 1)
}

/// [`round_up`], None where it would overflow.
#[inline(always)]
pub(crate) const fn checked_round_up(a: usize, b: usize) -> Option<usize> {
    match a % b {
        0 => Some(a),
        r => a.checked_add(b - r),
    }
}

/// Whether `a` is a multiple of `b` (> 0).
#[inline(always)]
#[allow(clippy::manual_is_multiple_of)] // the method is newer than Rust 1.63
pub(crate) const fn is_multiple_of(a: usize, b: usize) -> bool {
    a % b == 0
}

#[cfg(test)]
#[path = "bits_tests.rs"]
mod tests;
