//! Java's `PartitionMovements`: where partitions moved during one balancing, so that a move back
//! undoes an earlier move instead of shuffling more partitions.
//!
//! Invariant: every recorded partition maps to (its owner before the balancing, its owner now),
//! and the two differ.

use std::collections::HashMap;

use crate::group::assignor::{Tp, java_bucket, java_hash_capacity};

/// Java's `TopicPartition.hashCode`, from its topic's hash.
fn java_topic_partition_hash(topic_hash: i32, partition: i32) -> i32 {
    31i32
        .wrapping_add(partition)
        .wrapping_mul(31)
        .wrapping_add(topic_hash)
}

/// A `java.util.HashSet<TopicPartition>` reduced to what `PartitionMovements` needs from it:
/// its iteration order (bucket, then insertion order within a bucket).
#[derive(Debug, Default)]
struct JavaHashSet {
    items: Vec<(u64, Tp)>,
    max_len: usize,
}

impl JavaHashSet {
    fn insert(&mut self, seq: u64, tp: Tp) {
        if !self.items.iter().any(|&(_, x)| x == tp) {
            self.items.push((seq, tp));
            self.max_len = self.max_len.max(self.items.len());
        }
    }

    fn remove(&mut self, tp: Tp) {
        self.items.retain(|&(_, x)| x != tp);
    }

    fn first(&self, topic_hashes: &[i32]) -> Option<Tp> {
        let capacity = java_hash_capacity(self.max_len);
        self.items
            .iter()
            .min_by_key(|&&(seq, (t, p))| {
                let hash = java_topic_partition_hash(topic_hashes[t], p);
                (java_bucket(hash, capacity), seq)
            })
            .map(|&(_, tp)| tp)
    }
}

/// Java's `PartitionMovements`: where partitions moved during this balancing, so that a move
/// back reverses an earlier one instead of shuffling more partitions.
#[derive(Debug, Default)]
pub(super) struct Movements {
    /// Partition to (original owner, current owner).
    by_partition: HashMap<Tp, (usize, usize)>,
    /// Topic to (from, to) to the partitions that moved that way.
    by_topic: HashMap<usize, HashMap<(usize, usize), JavaHashSet>>,
    seq: u64,
}

impl Movements {
    fn remove_record(&mut self, tp: Tp) -> Option<(usize, usize)> {
        let pair = self.by_partition.remove(&tp)?;
        if let Some(topic) = self.by_topic.get_mut(&tp.0) {
            if let Some(set) = topic.get_mut(&pair) {
                set.remove(tp);
                if set.items.is_empty() {
                    topic.remove(&pair);
                }
            }
            if topic.is_empty() {
                self.by_topic.remove(&tp.0);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: Tp, pair: (usize, usize)) {
        self.by_partition.insert(tp, pair);
        self.seq += 1;
        self.by_topic
            .entry(tp.0)
            .or_default()
            .entry(pair)
            .or_default()
            .insert(self.seq, tp);
    }

    pub(super) fn record_move(&mut self, tp: Tp, from: usize, to: usize) {
        match self.remove_record(tp) {
            Some((origin, _)) if origin == to => {}
            Some((origin, _)) => self.add_record(tp, (origin, to)),
            None => self.add_record(tp, (from, to)),
        }
    }

    /// The partition to move so that `tp`'s move from `from` to `to` undoes an earlier move of
    /// the same topic the other way, if there was one.
    pub(super) fn partition_to_move(
        &self,
        tp: Tp,
        from: usize,
        to: usize,
        topic_hashes: &[i32],
    ) -> Tp {
        let Some(topic) = self.by_topic.get(&tp.0) else {
            return tp;
        };
        let from = self
            .by_partition
            .get(&tp)
            .map_or(from, |&(origin, _)| origin);
        topic
            .get(&(to, from))
            .and_then(|set| set.first(topic_hashes))
            .unwrap_or(tp)
    }
}
