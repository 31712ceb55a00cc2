//! The table's intents for whoever assigns partitions (explicit assignment and the consumer
//! group alike) and for committing.

use crate::types::{Offset, TopicPartition};

use super::{PartitionTable, partition::PartitionState};

impl PartitionTable {
    /// Starts `partitions` (each at its offset), keeping the others. A partition already
    /// assigned is moved to its new offset under a new generation.
    pub(crate) fn add(&self, partitions: &[(TopicPartition, Offset)]) {
        let mut state = self.lock();
        for (tp, offset) in partitions {
            let generation = self.new_generation();
            // Purge first: start_state may push this generation's out-of-range error.
            self.buffer.purge_before(tp, generation);
            let fetch = self.start_state(tp, generation, *offset);
            match state.get_mut(tp) {
                Some(existing) => existing.move_to(generation, fetch),
                None => {
                    state.insert(tp.clone(), PartitionState::new(generation, fetch));
                }
            }
        }
    }

    /// Stops `partitions` and drops their buffered messages. Returns, for each partition that
    /// was assigned, the offset stored for commit when it is ahead of the committed one: from
    /// this moment the application can receive nothing more from these partitions, so the
    /// offsets are final.
    pub(crate) fn remove(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        let mut state = self.lock();
        let removed = partitions
            .iter()
            .filter_map(|tp| {
                let s = state.remove(tp)?;
                let stored = s.retire().stored;
                s.uncommitted(stored).map(|o| (tp.clone(), o))
            })
            .collect();
        drop(state);
        for tp in partitions {
            self.buffer.purge(tp);
        }
        removed
    }

    /// Records the group's committed offsets as fetched from the coordinator (`None`: nothing
    /// committed).
    pub(crate) fn set_committed(&self, committed: &[(TopicPartition, Option<i64>)]) {
        let mut state = self.lock();
        for (tp, c) in committed {
            if let Some(s) = state.get_mut(tp) {
                s.committed_offset = *c;
            }
        }
    }

    /// Records that `offsets` were committed; a partition's committed offset never moves
    /// backwards here.
    pub(crate) fn mark_committed(&self, offsets: &[(TopicPartition, i64)]) {
        let mut state = self.lock();
        for (tp, o) in offsets {
            if let Some(s) = state.get_mut(tp) {
                s.committed_offset = Some(s.committed_offset.map_or(*o, |c| c.max(*o)));
            }
        }
    }

    /// Those of `offsets` whose partition is still assigned and not yet committed at (or past)
    /// that offset: what a commit retried under a newer generation may still carry.
    pub(crate) fn still_uncommitted(
        &self,
        offsets: &[(TopicPartition, i64)],
    ) -> Vec<(TopicPartition, i64)> {
        let state = self.lock();
        offsets
            .iter()
            .filter(|(tp, o)| {
                state
                    .get(tp)
                    .is_some_and(|s| s.committed_offset.is_none_or(|c| c < *o))
            })
            .cloned()
            .collect()
    }

    /// The stored offsets of `partitions` (all assigned when `None`) that are ahead of what
    /// was committed.
    pub(crate) fn pending_offsets(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, i64)> {
        let only: Option<std::collections::HashSet<&TopicPartition>> =
            partitions.map(|ps| ps.iter().collect());
        let state = self.lock();
        state
            .iter()
            .filter(|(tp, _)| only.as_ref().is_none_or(|only| only.contains(tp)))
            .filter_map(|(tp, s)| s.uncommitted(s.stored_offset()).map(|o| (tp.clone(), o)))
            .collect()
    }
}
