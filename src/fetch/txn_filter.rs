//! read_committed filtering of aborted transactions, for one partition of one fetch response.
//!
//! The broker sends, with each partition's data, the aborted transactions (producer id, first
//! offset) that overlap the returned range. Walking the batches in offset order, a producer id
//! becomes "aborted" once a batch at or past its first offset is reached, every transactional
//! batch of an aborted producer is dropped, and the producer is released again at its ABORT
//! marker. The list is sorted by first offset here, whatever order the broker used.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashSet},
};

use crate::{record::BatchHeader, wire::fetch::AbortedTransaction};

/// Tracks which producers' transactional batches must be dropped.
#[derive(Debug, Default)]
pub(crate) struct AbortedFilter {
    /// Aborted transactions not reached yet, smallest first offset first.
    pending: BinaryHeap<Reverse<(i64, i64)>>,
    /// Producers whose current transaction was aborted.
    aborted: HashSet<i64>,
}

impl AbortedFilter {
    /// A filter for one partition's aborted-transaction list.
    pub(crate) fn new(list: Option<&[AbortedTransaction]>) -> Self {
        let pending = list
            .unwrap_or_default()
            .iter()
            .map(|t| Reverse((t.first_offset, t.producer_id)))
            .collect();
        Self {
            pending,
            aborted: HashSet::new(),
        }
    }

    /// Whether the data batch `header` must be dropped. Call for every batch, in order.
    pub(crate) fn is_aborted(&mut self, header: &BatchHeader) -> bool {
        self.reach(header);
        header.is_transactional() && self.aborted.contains(&header.producer_id)
    }

    /// Records an ABORT marker of `header`'s producer: its later batches are a new transaction.
    pub(crate) fn on_abort_marker(&mut self, header: &BatchHeader) {
        self.reach(header);
        self.aborted.remove(&header.producer_id);
    }

    fn reach(&mut self, header: &BatchHeader) {
        while let Some(Reverse((first_offset, producer_id))) = self.pending.peek().copied() {
            if first_offset > header.last_offset() {
                break;
            }
            self.pending.pop();
            self.aborted.insert(producer_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base_offset: i64, count: i32, producer_id: i64, transactional: bool) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 0,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: if transactional { 0x10 } else { 0 },
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id,
            producer_epoch: 0,
            base_sequence: 0,
            record_count: count,
        }
    }

    fn aborted(producer_id: i64, first_offset: i64) -> AbortedTransaction {
        AbortedTransaction {
            producer_id,
            first_offset,
        }
    }

    #[test]
    fn aborted_batches_are_dropped_until_the_abort_marker() {
        let list = [aborted(7, 10)];
        let mut f = AbortedFilter::new(Some(&list));
        assert!(
            !f.is_aborted(&batch(0, 10, 7, true)),
            "before the aborted txn"
        );
        assert!(f.is_aborted(&batch(10, 5, 7, true)));
        assert!(!f.is_aborted(&batch(15, 5, 8, true)), "another producer");
        f.on_abort_marker(&batch(20, 1, 7, true));
        assert!(
            !f.is_aborted(&batch(21, 5, 7, true)),
            "next txn of the same producer"
        );
    }

    #[test]
    fn non_transactional_batches_are_never_dropped() {
        let list = [aborted(7, 0)];
        let mut f = AbortedFilter::new(Some(&list));
        assert!(!f.is_aborted(&batch(0, 3, 7, false)));
    }

    #[test]
    fn list_order_from_the_broker_does_not_matter() {
        let list = [aborted(7, 30), aborted(7, 10)];
        let mut f = AbortedFilter::new(Some(&list));
        assert!(f.is_aborted(&batch(10, 5, 7, true)));
        f.on_abort_marker(&batch(15, 1, 7, true));
        assert!(
            !f.is_aborted(&batch(20, 5, 7, true)),
            "committed txn between two aborted"
        );
        assert!(f.is_aborted(&batch(30, 5, 7, true)));
    }

    #[test]
    fn a_fetch_starting_inside_an_aborted_transaction_still_drops_it() {
        // The aborted txn began at 5, before this response's first batch at 12.
        let list = [aborted(9, 5)];
        let mut f = AbortedFilter::new(Some(&list));
        assert!(f.is_aborted(&batch(12, 4, 9, true)));
    }
}
