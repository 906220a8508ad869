//! The statistics as JSON (one object, no allocation: written through any
//! `fmt::Write`). The shape, versioned by `"version"`:
//!
//! ```text
//! {"version":2,
//!  "os":{"mapped":…,"committed":…,"purged":…,"segments_abandoned":…,
//!        "segments_adopted":…,"large_reused":…,"large_resized":…,
//!        "large_cached":…,"large_live":…},
//!  "allocated_bytes":…,
//!  "thread":{"allocated_bytes":…,"freed_bytes":…},
//!  "classes":[{"block_size":16,"allocated":…,"freed":…,"live":…,
//!              "peak":…,"remote_frees":…},…],
//!  "large":{"allocated":…,"freed":…,"live":…,"peak":…,"remote_frees":…}}
//! ```
//!
//! `classes` lists only the size classes that ever had a block.

use super::stats::{Stats, LARGE};
use core::fmt::{self, Write};

/// The version of the JSON shape and of the C statistics struct.
pub(crate) const STATS_VERSION: u32 = 2;

/// Writes `s` as JSON to `w`.
pub(crate) fn write_json(w: &mut impl Write, s: &Stats) -> fmt::Result {
    let o = &s.os;
    write!(
        w,
        "{{\"version\":{STATS_VERSION},\"os\":{{\"mapped\":{},\"committed\":{},\"purged\":{},\
         \"segments_abandoned\":{},\"segments_adopted\":{},\"large_reused\":{},\"large_resized\":{},\
         \"large_cached\":{},\"large_live\":{}}},\"allocated_bytes\":{},\
         \"thread\":{{\"allocated_bytes\":{},\"freed_bytes\":{}}},\"classes\":[",
        o.mapped,
        o.committed,
        o.purged,
        o.segments_abandoned,
        o.segments_adopted,
        o.large_reused,
        o.large_resized,
        o.large_cached,
        o.large_live,
        s.allocated_bytes(),
        s.thread.allocated_bytes,
        s.thread.freed_bytes
    )?;
    let mut first = true;
    for c in s.classes[..LARGE].iter().filter(|c| c.allocated != 0) {
        if !first {
            w.write_char(',')?;
        }
        first = false;
        write!(
            w,
            "{{\"block_size\":{},\"allocated\":{},\"freed\":{},\"live\":{},\"peak\":{},\"remote_frees\":{}}}",
            c.block_size, c.allocated, c.freed, c.live, c.peak, c.remote_frees
        )?;
    }
    let l = &s.classes[LARGE];
    write!(
        w,
        "],\"large\":{{\"allocated\":{},\"freed\":{},\"live\":{},\"peak\":{},\"remote_frees\":{}}}}}",
        l.allocated, l.freed, l.live, l.peak, l.remote_frees
    )
}

/// A `fmt::Write` into a byte buffer that keeps the first `buf.len() - 1`
/// bytes, NUL-terminates them, and counts every byte offered (as
/// `snprintf` does).
pub(crate) struct Truncating<'a> {
    buf: &'a mut [u8],
    /// Bytes offered so far.
    pub(crate) total: usize,
}

impl<'a> Truncating<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        if let Some(first) = buf.first_mut() {
            *first = 0;
        }
        Truncating { buf, total: 0 }
    }
}

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(1);
        if self.total < room {
            let n = s.len().min(room - self.total);
            self.buf[self.total..self.total + n].copy_from_slice(&s.as_bytes()[..n]);
            self.buf[self.total + n] = 0;
        }
        self.total += s.len();
        Ok(())
    }
}
