//! A set of free address ranges ("spans"), the bookkeeping of the
//! large-object tier (`mem::span_cache`): kept sorted by address, with
//! neighbours merged as they come in, served best fit at an alignment, and
//! bounded in count. It only does arithmetic on addresses; the ranges it
//! gives up to stay within its bounds go into a [`Spill`] for the caller
//! to hand back to the OS.
//!
//! The set is small (at most [`MAX_SPANS`] entries) and its operations are
//! linear in it, which at that size costs less than the one system call a
//! reused span saves.

/// Most spans a set holds.
pub(crate) const MAX_SPANS: usize = 64;

/// A free range `[base, base + len)` and when it became free (the newest
/// of its parts, once merged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) base: usize,
    pub(crate) len: usize,
    pub(crate) freed_at: u64,
}

const NONE: Span = Span {
    base: 0,
    len: 0,
    freed_at: 0,
};

/// Ranges a set gave up, for the caller to release.
pub(crate) struct Spill {
    items: [(usize, usize); MAX_SPANS + 2],
    len: usize,
}

impl Spill {
    pub(crate) const fn new() -> Spill {
        Spill {
            items: [(0, 0); MAX_SPANS + 2],
            len: 0,
        }
    }

    /// Records a range. A set spills at most one span per `give` or
    /// `take` and at most all it holds per `trim`, so one spill serves one
    /// call of each.
    fn push(&mut self, base: usize, len: usize) {
        self.items[self.len] = (base, len);
        self.len += 1;
    }

    /// The ranges given up, as `(base, len)`.
    pub(crate) fn ranges(&self) -> &[(usize, usize)] {
        &self.items[..self.len]
    }
}

/// The set (see the module docs).
pub(crate) struct SpanSet {
    spans: [Span; MAX_SPANS],
    len: usize,
    bytes: usize,
}

impl SpanSet {
    pub(crate) const fn new() -> SpanSet {
        SpanSet {
            spans: [NONE; MAX_SPANS],
            len: 0,
            bytes: 0,
        }
    }

    /// Bytes in the set.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The spans, in address order.
    pub(crate) fn spans(&self) -> &[Span] {
        &self.spans[..self.len]
    }

    fn remove(&mut self, i: usize) -> Span {
        let s = self.spans[i];
        self.spans.copy_within(i + 1..self.len, i);
        self.len -= 1;
        self.bytes -= s.len;
        s
    }

    /// Inserts `s` at index `i` (address order); the caller made room.
    fn insert_at(&mut self, i: usize, s: Span) {
        debug_assert!(self.len < MAX_SPANS && s.len > 0);
        self.spans.copy_within(i..self.len, i + 1);
        self.spans[i] = s;
        self.len += 1;
        self.bytes += s.len;
    }

    /// Takes `len` bytes starting at an `align`-aligned address (a power of
    /// two) from the span that leaves least over, lowest address first
    /// among equals; what is left either side stays in the set (or, when
    /// the set has no room for it, goes to `spill`). None if no span fits.
    pub(crate) fn take(&mut self, len: usize, align: usize, spill: &mut Spill) -> Option<usize> {
        debug_assert!(align.is_power_of_two() && len > 0);
        let mut best: Option<(usize, usize, usize)> = None; // (waste, index, start)
        for (i, s) in self.spans().iter().enumerate() {
            let start = s.base.checked_add(align - 1)? & !(align - 1);
            let end = s.base + s.len;
            if matches!(start.checked_add(len), Some(e) if e <= end) {
                let waste = s.len - len;
                if match best {
                    None => true,
                    Some((w, _, _)) => waste < w,
                } {
                    best = Some((waste, i, start));
                }
            }
        }
        let (_, i, start) = best?;
        let s = self.remove(i);
        let head = Span {
            base: s.base,
            len: start - s.base,
            freed_at: s.freed_at,
        };
        let tail = Span {
            base: start + len,
            len: s.base + s.len - (start + len),
            freed_at: s.freed_at,
        };
        let mut at = i;
        for piece in [head, tail] {
            if piece.len == 0 {
                continue;
            }
            if self.len < MAX_SPANS {
                self.insert_at(at, piece);
                at += 1;
            } else {
                spill.push(piece.base, piece.len);
            }
        }
        Some(start)
    }

    /// Removes and returns the longest span of `min..=max` bytes (lowest
    /// address first among equals), if any.
    pub(crate) fn take_longest(&mut self, min: usize, max: usize) -> Option<Span> {
        let mut best: Option<usize> = None;
        for (i, s) in self.spans().iter().enumerate() {
            if (min..=max).contains(&s.len) && !matches!(best, Some(b) if s.len <= self.spans[b].len) {
                best = Some(i);
            }
        }
        best.map(|i| self.remove(i))
    }

    /// Takes `len` bytes starting exactly at `base`, if a span begins there
    /// and is long enough (the rest of it stays): how a block grows in place
    /// into the free range right after it.
    pub(crate) fn take_at(&mut self, base: usize, len: usize) -> bool {
        let i = match self.spans().iter().position(|s| s.base == base && s.len >= len) {
            Some(i) => i,
            None => return false,
        };
        let s = &mut self.spans[i];
        if s.len == len {
            self.remove(i);
        } else {
            s.base += len;
            s.len -= len;
            self.bytes -= len;
        }
        true
    }

    /// Adds the free range `[base, base + len)` (overlapping no span),
    /// merged with the spans that end where it starts or start where it
    /// ends. When the set is full, the oldest span goes to `spill` first.
    pub(crate) fn give(&mut self, base: usize, len: usize, freed_at: u64, spill: &mut Spill) {
        debug_assert!(len > 0);
        let i = self.spans().partition_point(|s| s.base < base);
        debug_assert!(i == 0 || self.spans[i - 1].base + self.spans[i - 1].len <= base);
        debug_assert!(i == self.len || base + len <= self.spans[i].base);
        let joins_prev = i > 0 && self.spans[i - 1].base + self.spans[i - 1].len == base;
        let joins_next = i < self.len && base + len == self.spans[i].base;
        match (joins_prev, joins_next) {
            (true, true) => {
                let next = self.remove(i);
                let prev = &mut self.spans[i - 1];
                prev.len += len + next.len;
                prev.freed_at = prev.freed_at.max(freed_at).max(next.freed_at);
                self.bytes += len + next.len;
            }
            (true, false) => {
                let prev = &mut self.spans[i - 1];
                prev.len += len;
                prev.freed_at = prev.freed_at.max(freed_at);
                self.bytes += len;
            }
            (false, true) => {
                let next = &mut self.spans[i];
                next.base = base;
                next.len += len;
                next.freed_at = next.freed_at.max(freed_at);
                self.bytes += len;
            }
            (false, false) => {
                let mut at = i;
                if self.len == MAX_SPANS {
                    let oldest = self.oldest();
                    let s = self.remove(oldest);
                    spill.push(s.base, s.len);
                    if oldest < at {
                        at -= 1;
                    }
                }
                self.insert_at(at, Span { base, len, freed_at });
            }
        }
    }

    fn oldest(&self) -> usize {
        (0..self.len).min_by_key(|&i| self.spans[i].freed_at).unwrap_or(0)
    }

    /// Gives up, to `spill`, the spans free since before `now - delay`,
    /// then the oldest others until at most `max_bytes` are left.
    pub(crate) fn trim(&mut self, now: u64, delay: u64, max_bytes: usize, spill: &mut Spill) {
        let mut i = 0;
        while i < self.len {
            if now.saturating_sub(self.spans[i].freed_at) >= delay {
                let s = self.remove(i);
                spill.push(s.base, s.len);
            } else {
                i += 1;
            }
        }
        while self.bytes > max_bytes {
            let s = self.remove(self.oldest());
            spill.push(s.base, s.len);
        }
    }
}

#[cfg(test)]
#[path = "spans_tests.rs"]
mod tests;
