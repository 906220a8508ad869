//! Bit helpers shared by the layers above: iterating the set bits of a
//! mask, and a 64-bit mixing function.

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

#[cfg(test)]
#[path = "bits_tests.rs"]
mod tests;
