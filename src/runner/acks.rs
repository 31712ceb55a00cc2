//! Which offsets of a partition may be committed.
//!
//! Invariants: the commit position of a partition is the smallest offset the runner received
//! and has not finished, or, when everything received is finished, one past the highest offset
//! received or the consumer's position, whichever is further (the consumer's position moves
//! past the control markers and aborted data that follow the last message it handed out, and
//! everything it handed out was received). So a commit never passes an unfinished message,
//! gaps in the log (compaction, transaction markers, aborted data) never hold it back, a
//! partition ending in a transaction marker is committed at its log end, and it never moves
//! backwards. "Finished" means processed, safely in the dead-letter topic, or skipped by the
//! idempotency store.

use std::collections::BTreeSet;

/// Offsets received and finished for one partition.
#[derive(Debug, Default, Clone)]
pub(crate) struct Acks {
    /// Received and not finished yet.
    unfinished: BTreeSet<i64>,
    /// One past the highest offset received.
    next: Option<i64>,
    /// The last position committed (acknowledged by the coordinator).
    committed: Option<i64>,
}

impl Acks {
    /// A message at `offset` arrived. Offsets arrive in increasing order per partition; an
    /// offset at or below one already received is ignored (a refetch after a pause).
    /// Returns whether it is new.
    pub(crate) fn received(&mut self, offset: i64) -> bool {
        if self.next.is_some_and(|n| offset < n) {
            return false;
        }
        self.unfinished.insert(offset);
        self.next = Some(offset + 1);
        true
    }

    /// The message at `offset` is finished.
    pub(crate) fn finished(&mut self, offset: i64) {
        self.unfinished.remove(&offset);
    }

    /// The position everything before which is finished, if known: the first unfinished
    /// offset, else the further of one past the highest offset received and `consumer` (the
    /// consumer's position, which never passes a message it has not handed out).
    pub(crate) fn position(&self, consumer: Option<i64>) -> Option<i64> {
        if let Some(&first) = self.unfinished.first() {
            return Some(first);
        }
        match (self.next, consumer) {
            (Some(n), Some(c)) => Some(n.max(c)),
            (n, c) => n.or(c),
        }
    }

    /// The position to commit (see [`Acks::position`]), when it is ahead of what was
    /// committed.
    pub(crate) fn committable(&self, consumer: Option<i64>) -> Option<i64> {
        let p = self.position(consumer)?;
        match self.committed {
            Some(c) if c >= p => None,
            _ => Some(p),
        }
    }

    /// The coordinator acknowledged a commit of `position`.
    pub(crate) fn committed(&mut self, position: i64) {
        self.committed = Some(self.committed.map_or(position, |c| c.max(position)));
    }

    /// Received offsets not finished yet.
    #[cfg(test)]
    pub(crate) fn unfinished(&self) -> usize {
        self.unfinished.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commit_stops_at_the_first_unfinished_offset() {
        let mut a = Acks::default();
        assert_eq!(a.committable(None), None);
        for o in [10, 11, 13, 14] {
            a.received(o);
        }
        a.finished(11);
        a.finished(14);
        assert_eq!(a.committable(None), Some(10));
        a.finished(10);
        assert_eq!(a.committable(None), Some(13));
        a.finished(13);
        assert_eq!(a.committable(None), Some(15));
        a.committed(15);
        assert_eq!(a.committable(None), None);
        assert!(!a.received(12), "a refetched offset is not new");
    }

    #[test]
    fn the_consumer_position_past_trailing_markers_is_committed_once_everything_finished() {
        let mut a = Acks::default();
        // Nothing received yet: the consumer's position (e.g. past a partition's aborted
        // data and markers only).
        assert_eq!(a.committable(Some(7)), Some(7));
        a.received(10);
        a.received(11);
        // Offset 12 is the commit marker of the transaction 10 and 11 belong to.
        assert_eq!(a.committable(Some(13)), Some(10), "10 is unfinished");
        a.finished(11);
        assert_eq!(a.committable(Some(13)), Some(10), "10 is still unfinished");
        a.finished(10);
        assert_eq!(a.committable(Some(13)), Some(13), "past the marker");
        assert_eq!(a.committable(Some(12)), Some(12));
        assert_eq!(a.committable(None), Some(12));
        a.committed(13);
        assert_eq!(a.committable(Some(13)), None);
        assert_eq!(a.committable(Some(12)), None, "never backwards");
    }

    proptest! {
        /// Whatever the order messages finish in, the commit position is never past an
        /// unfinished offset, never moves back, and reaches one past the last offset once
        /// everything finished.
        #[test]
        fn commits_cover_exactly_the_contiguous_finished_prefix(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            seed in any::<u64>(),
        ) {
            let mut offsets = Vec::new();
            let mut o = 0;
            for g in gaps { o += g; offsets.push(o); }
            let mut a = Acks::default();
            for &o in &offsets { prop_assert!(a.received(o)); }
            // A permutation of the finishing order from the seed.
            let mut finish = offsets.clone();
            let mut s = seed | 1;
            for i in (1..finish.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                finish.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut done = BTreeSet::new();
            let mut last = None;
            for f in finish {
                a.finished(f);
                done.insert(f);
                let p = a.position(None).unwrap();
                // every received offset below p is finished
                for &o in offsets.iter().filter(|&&o| o < p) {
                    prop_assert!(done.contains(&o), "position {} passes unfinished {}", p, o);
                }
                // p is the first unfinished one, or the end
                match offsets.iter().find(|o| !done.contains(o)) {
                    Some(&first) => prop_assert_eq!(p, first),
                    None => prop_assert_eq!(p, offsets.last().unwrap() + 1),
                }
                if let Some(l) = last { prop_assert!(p >= l); }
                last = Some(p);
                if let Some(c) = a.committable(None) { a.committed(c); }
            }
            prop_assert_eq!(a.unfinished(), 0);
            prop_assert_eq!(a.committable(None), None);
        }
    }
}
