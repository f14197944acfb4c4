//! The `WSK_BUF` model: a byte range over an MDL chain, independent of real memory.
//!
//! A `WSK_BUF` is `{ Mdl, Offset, Length }`: `Offset` lies in the *first* MDL and the
//! `Length` bytes may span the following MDLs. Here a chain is described only by the
//! byte count of each MDL, so the rules can be checked and the range split into
//! per-MDL [`Segment`]s without touching memory. On Windows a `WSK_BUF` whose range runs
//! past the end of its chain is not detected and crashes the system; here it is
//! rejected with `STATUS_INVALID_PARAMETER`.

use crate::status::NtStatus;

/// A contiguous piece of a buffer that lies inside a single MDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Index of the MDL in the chain (0 is the first MDL).
    pub mdl: usize,
    /// Byte offset of the piece inside that MDL.
    pub start: usize,
    /// Length of the piece in bytes.
    pub len: usize,
}

/// Checks that a `WSK_BUF` `{ Mdl, Offset, Length }` is well formed.
///
/// `chain` holds the byte count of each MDL in order; `None` stands for a NULL `Mdl`
/// (an empty slice is treated the same way). The rules:
/// - a NULL chain is valid only with `length == 0` and `offset == 0`;
/// - `offset` must be `<=` the first MDL's byte count, and strictly less when
///   `length > 0` — except when the first MDL is empty and `offset` is 0, in which case
///   the data starts in the following MDLs;
/// - `length` must not exceed the bytes of the chain from `offset` on.
///
/// The arithmetic cannot overflow, whatever the values.
///
/// # Errors
///
/// [`NtStatus::INVALID_PARAMETER`] if any rule is violated.
pub fn validate(chain: Option<&[usize]>, offset: usize, length: usize) -> Result<(), NtStatus> {
    let Some((&first, rest)) = chain.and_then(<[usize]>::split_first) else {
        return if offset == 0 && length == 0 { Ok(()) } else { Err(NtStatus::INVALID_PARAMETER) };
    };
    let offset_ok = if length == 0 { offset <= first } else { offset < first || (first == 0 && offset == 0) };
    if !offset_ok {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    // Bytes available from `offset` to the end of the chain. Saturating at usize::MAX
    // is exact for the comparison because `length` itself is at most usize::MAX.
    let mut available = first - offset;
    for &mdl_len in rest {
        if available >= length {
            break;
        }
        available = available.saturating_add(mdl_len);
    }
    if available >= length {
        Ok(())
    } else {
        Err(NtStatus::INVALID_PARAMETER)
    }
}

/// Validates a `WSK_BUF` like [`validate`] (with `Some(chain)`) and maps its range onto
/// the chain as a list of per-MDL [`Segment`]s, in chain order.
///
/// Segments of zero length are omitted, so a zero-length buffer yields no segments and
/// the lengths of the returned segments always sum to `length`. Only the first segment
/// can start at a non-zero offset, and only if it lies in MDL 0.
///
/// # Errors
///
/// [`NtStatus::INVALID_PARAMETER`] if [`validate`] rejects the buffer.
pub fn segments(chain: &[usize], offset: usize, length: usize) -> Result<Vec<Segment>, NtStatus> {
    validate(Some(chain), offset, length)?;
    let mut out = Vec::new();
    let mut remaining = length;
    let mut start = offset;
    for (mdl, &mdl_len) in chain.iter().enumerate() {
        if remaining == 0 {
            break;
        }
        let len = (mdl_len - start).min(remaining);
        if len > 0 {
            out.push(Segment { mdl, start, len });
            remaining -= len;
        }
        start = 0;
    }
    debug_assert_eq!(remaining, 0, "validate() guarantees the chain is long enough");
    Ok(out)
}

/// Sans-IO progress through a list of [`Segment`]s, used to copy data into (receive)
/// or out of (send) an MDL chain in several steps.
///
/// The caller asks for the [`current`](Cursor::current) segment, transfers some bytes
/// of it, and reports them with [`advance`](Cursor::advance) until
/// [`is_finished`](Cursor::is_finished).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The segments, without zero-length ones.
    segments: Vec<Segment>,
    /// Index of the current segment (`segments.len()` when finished).
    seg: usize,
    /// Bytes already consumed of the current segment (always `< its len`).
    pos: usize,
    /// Bytes consumed in total.
    done: usize,
    /// Sum of all segment lengths.
    total: usize,
}

impl Cursor {
    /// Creates a cursor at the start of `segments` (zero-length segments are dropped).
    ///
    /// # Panics
    ///
    /// If the segment lengths sum to more than `usize::MAX` (impossible for segments
    /// returned by [`segments`], whose lengths sum to the buffer length).
    pub fn new(mut segments: Vec<Segment>) -> Self {
        segments.retain(|s| s.len > 0);
        let total =
            segments.iter().try_fold(0usize, |acc, s| acc.checked_add(s.len)).expect("segment lengths overflow usize");
        Cursor { segments, seg: 0, pos: 0, done: 0, total }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.total - self.done
    }

    /// Bytes consumed so far (e.g. the `IoStatus.Information` of a partial transfer).
    pub fn done(&self) -> usize {
        self.done
    }

    /// Total bytes described by the segments.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Marks `n` more bytes as consumed, moving across segment boundaries as needed.
    ///
    /// # Panics
    ///
    /// If `n > self.remaining()`.
    pub fn advance(&mut self, n: usize) {
        assert!(
            n <= self.remaining(),
            "advance({n}) past the end of the buffer ({} bytes remaining)",
            self.remaining()
        );
        self.done += n;
        let mut n = n;
        while n > 0 {
            let left = self.segments[self.seg].len - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.seg += 1;
            self.pos = 0;
        }
    }

    /// The unconsumed part of the current segment, or `None` when finished.
    ///
    /// The returned segment is never empty.
    pub fn current(&self) -> Option<Segment> {
        self.segments.get(self.seg).map(|s| Segment { mdl: s.mdl, start: s.start + self.pos, len: s.len - self.pos })
    }

    /// True when every byte has been consumed (always true for an empty buffer).
    pub fn is_finished(&self) -> bool {
        self.seg >= self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BAD: Result<(), NtStatus> = Err(NtStatus::INVALID_PARAMETER);

    fn seg(mdl: usize, start: usize, len: usize) -> Segment {
        Segment { mdl, start, len }
    }

    #[test]
    fn null_chain() {
        assert_eq!(validate(None, 0, 0), Ok(()));
        assert_eq!(validate(None, 0, 1), BAD);
        assert_eq!(validate(None, 1, 0), BAD);
        assert_eq!(validate(Some(&[]), 0, 0), Ok(()));
        assert_eq!(validate(Some(&[]), 0, 1), BAD);
        assert_eq!(segments(&[], 0, 0), Ok(vec![]));
        assert_eq!(segments(&[], 0, 5), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn zero_length() {
        assert_eq!(validate(Some(&[10]), 0, 0), Ok(()));
        assert_eq!(validate(Some(&[10]), 10, 0), Ok(()), "offset at end, nothing to read");
        assert_eq!(validate(Some(&[10]), 11, 0), BAD);
        assert_eq!(validate(Some(&[0]), 0, 0), Ok(()));
        assert_eq!(segments(&[10, 20], 4, 0), Ok(vec![]));
    }

    #[test]
    fn offset_in_first_mdl() {
        assert_eq!(validate(Some(&[10, 20]), 9, 1), Ok(()));
        assert_eq!(validate(Some(&[10, 20]), 9, 21), Ok(()));
        // At or after the end of the first MDL is invalid even if later MDLs have room.
        assert_eq!(validate(Some(&[10, 20]), 10, 1), BAD);
        assert_eq!(validate(Some(&[10, 20]), 11, 1), BAD);
        assert_eq!(validate(Some(&[10, 20]), usize::MAX, 1), BAD);
    }

    #[test]
    fn empty_first_mdl() {
        assert_eq!(validate(Some(&[0, 8]), 0, 8), Ok(()));
        assert_eq!(segments(&[0, 8], 0, 8), Ok(vec![seg(1, 0, 8)]));
        assert_eq!(validate(Some(&[0, 8]), 0, 9), BAD);
        assert_eq!(validate(Some(&[0, 8]), 1, 1), BAD);
        assert_eq!(validate(Some(&[0]), 0, 1), BAD);
    }

    #[test]
    fn exact_fit_and_one_over() {
        assert_eq!(validate(Some(&[10]), 0, 10), Ok(()));
        assert_eq!(validate(Some(&[10]), 0, 11), BAD);
        assert_eq!(validate(Some(&[10]), 3, 7), Ok(()));
        assert_eq!(validate(Some(&[10]), 3, 8), BAD);
        assert_eq!(validate(Some(&[10, 5, 7]), 3, 19), Ok(()));
        assert_eq!(validate(Some(&[10, 5, 7]), 3, 20), BAD);
        assert_eq!(segments(&[10], 0, 10), Ok(vec![seg(0, 0, 10)]));
        assert_eq!(segments(&[10], 0, 11), Err(NtStatus::INVALID_PARAMETER));
    }

    #[test]
    fn multi_mdl_spans() {
        assert_eq!(segments(&[10, 5, 7], 3, 19), Ok(vec![seg(0, 3, 7), seg(1, 0, 5), seg(2, 0, 7)]));
        assert_eq!(segments(&[10, 5, 7], 3, 9), Ok(vec![seg(0, 3, 7), seg(1, 0, 2)]));
        assert_eq!(segments(&[10, 0, 0, 4], 8, 6), Ok(vec![seg(0, 8, 2), seg(3, 0, 4)]));
        assert_eq!(segments(&[10, 5, 7], 2, 4), Ok(vec![seg(0, 2, 4)]));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let max = usize::MAX;
        assert_eq!(validate(Some(&[max]), max - 1, 1), Ok(()));
        assert_eq!(validate(Some(&[max]), max - 1, 2), BAD);
        assert_eq!(validate(Some(&[max, 5]), max - 1, 6), Ok(()));
        assert_eq!(validate(Some(&[max, 5]), max - 1, 7), BAD);
        assert_eq!(validate(Some(&[max, max, max]), 1, max), Ok(()));
        assert_eq!(validate(Some(&[max]), max, max), BAD);
        assert_eq!(validate(Some(&[1, max]), 0, max), Ok(()));
        assert_eq!(validate(Some(&[1, 2]), 0, max), BAD);
        assert_eq!(validate(None, max, max), BAD);
        assert_eq!(segments(&[max, max], 1, max), Ok(vec![seg(0, 1, max - 1), seg(1, 0, 1)]));
    }

    #[test]
    fn cursor_walks_segments() {
        let mut c = Cursor::new(segments(&[10, 5, 7], 3, 19).unwrap());
        assert_eq!((c.total(), c.remaining(), c.done()), (19, 19, 0));
        assert_eq!(c.current(), Some(seg(0, 3, 7)));
        c.advance(4);
        assert_eq!(c.current(), Some(seg(0, 7, 3)));
        c.advance(3);
        assert_eq!(c.current(), Some(seg(1, 0, 5)));
        c.advance(0);
        assert_eq!(c.current(), Some(seg(1, 0, 5)));
        c.advance(6);
        assert_eq!(c.current(), Some(seg(2, 1, 6)));
        assert_eq!((c.remaining(), c.done()), (6, 13));
        assert!(!c.is_finished());
        c.advance(6);
        assert!(c.is_finished());
        assert_eq!(c.current(), None);
        assert_eq!((c.remaining(), c.done()), (0, 19));
        c.advance(0);
        assert!(c.is_finished());
    }

    #[test]
    fn cursor_empty_and_zero_length_segments() {
        let c = Cursor::new(Vec::new());
        assert!(c.is_finished());
        assert_eq!((c.total(), c.remaining(), c.current()), (0, 0, None));
        let mut c = Cursor::new(vec![seg(0, 0, 0), seg(1, 2, 3), seg(2, 0, 0)]);
        assert_eq!(c.current(), Some(seg(1, 2, 3)));
        c.advance(3);
        assert!(c.is_finished());
    }

    #[test]
    #[should_panic(expected = "past the end")]
    fn cursor_advance_past_end_panics() {
        let mut c = Cursor::new(vec![seg(0, 0, 3)]);
        c.advance(4);
    }

    /// A chain with a valid (offset, length) on it.
    fn valid_buf() -> impl Strategy<Value = (Vec<usize>, usize, usize)> {
        prop::collection::vec(0usize..64, 1..8)
            .prop_flat_map(|chain| {
                let first = chain[0];
                (Just(chain), 0..=first)
            })
            .prop_flat_map(|(chain, offset)| {
                let total: usize = chain.iter().sum();
                let max_len = if offset == chain[0] && offset > 0 { 0 } else { total - offset };
                (Just(chain), Just(offset), 0..=max_len)
            })
    }

    proptest! {
        #[test]
        fn segments_cover_exactly_length((chain, offset, length) in valid_buf()) {
            let segs = segments(&chain, offset, length).unwrap();
            prop_assert_eq!(segs.iter().map(|s| s.len).sum::<usize>(), length);
            // Flatten each segment to its absolute position in the concatenated chain;
            // the segments must tile [offset, offset + length) in order.
            let base: Vec<usize> = chain
                .iter()
                .scan(0, |acc, &l| { let b = *acc; *acc += l; Some(b) })
                .collect();
            let mut next = offset;
            let mut last_mdl = None;
            for (i, s) in segs.iter().enumerate() {
                prop_assert!(s.len > 0);
                prop_assert!(s.start + s.len <= chain[s.mdl]);
                prop_assert!(last_mdl.is_none_or(|m| s.mdl > m));
                if i > 0 {
                    prop_assert_eq!(s.start, 0);
                }
                prop_assert_eq!(base[s.mdl] + s.start, next);
                next += s.len;
                last_mdl = Some(s.mdl);
            }
            prop_assert_eq!(next, offset + length);
        }

        #[test]
        fn too_long_is_rejected((chain, offset, _len) in valid_buf(), extra in 1usize..100) {
            let total: usize = chain.iter().sum();
            let length = total - offset + extra;
            prop_assert_eq!(validate(Some(&chain), offset, length), BAD);
            prop_assert_eq!(segments(&chain, offset, length), Err(NtStatus::INVALID_PARAMETER));
        }

        #[test]
        fn cursor_consumes_everything(
            (chain, offset, length) in valid_buf(),
            steps in prop::collection::vec(0usize..20, 0..64),
        ) {
            let segs = segments(&chain, offset, length).unwrap();
            let mut c = Cursor::new(segs.clone());
            let mut seen = Vec::new();
            for step in steps.into_iter().chain(std::iter::repeat(usize::MAX)) {
                let Some(cur) = c.current() else { break };
                prop_assert!(cur.len > 0);
                let n = step.min(cur.len);
                seen.push(Segment { len: n, ..cur });
                c.advance(n);
                prop_assert_eq!(c.done() + c.remaining(), length);
            }
            prop_assert!(c.is_finished());
            prop_assert_eq!(c.done(), length);
            // Re-joining the consumed pieces per MDL gives back the original segments.
            let mut merged: Vec<Segment> = Vec::new();
            for p in seen.into_iter().filter(|p| p.len > 0) {
                match merged.last_mut() {
                    Some(m) if m.mdl == p.mdl && m.start + m.len == p.start => m.len += p.len,
                    _ => merged.push(p),
                }
            }
            prop_assert_eq!(merged, segs);
        }
    }
}
