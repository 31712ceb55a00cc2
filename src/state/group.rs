//! The table's intents for whoever assigns partitions (explicit assignment and the consumer
//! group alike) and for committing.

use crate::types::{Event, Offset, TopicPartition};

use super::{PartitionTable, buffer::Delivery, partition::PartitionState};

/// A group's committed offset for one partition, with the leader epoch committed with it
/// (KIP-320) when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Committed {
    /// The committed offset.
    pub(crate) offset: i64,
    /// The leader epoch of the record before it.
    pub(crate) leader_epoch: Option<i32>,
}

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

    /// Starts the partitions a group assigned at their committed offsets (`None`: where
    /// `auto.offset.reset` says), records those as committed, and pushes `assigned` (the
    /// `Assigned` event) under the same lock: every delivery of these partitions lands in
    /// the buffer after the event. A committed offset with its leader epoch is validated
    /// against the leader's log before fetching (KIP-320).
    pub(crate) fn assign_committed(
        &self,
        committed: &[(TopicPartition, Option<Committed>)],
        assigned: Event,
    ) {
        let mut state = self.lock();
        for (tp, c) in committed {
            let generation = self.new_generation();
            self.buffer.purge_before(tp, generation);
            let offset = c.map_or(Offset::Default, |c| Offset::At(c.offset));
            let fetch = self.start_state(tp, generation, offset);
            let partition = match state.get_mut(tp) {
                Some(existing) => {
                    existing.move_to(generation, fetch);
                    existing
                }
                None => state
                    .entry(tp.clone())
                    .or_insert_with(|| PartitionState::new(generation, fetch)),
            };
            partition.committed_offset = c.map(|c| c.offset);
            if let Some(Committed {
                offset,
                leader_epoch: Some(epoch),
            }) = *c
            {
                partition.start_at(offset, Some(epoch));
            }
        }
        self.buffer.push(Delivery::Group(assigned));
    }

    /// The leader epoch to commit with `offset` for `tp`: that of the record before it, when
    /// `offset` is the stored offset and the record's epoch is known.
    /// A partition just removed (see [`Self::remove`]) still has its final offset's epoch.
    pub(crate) fn epoch_to_commit(&self, tp: &TopicPartition, offset: i64) -> Option<i32> {
        let assigned = self.lock().get(tp).map(|s| s.epoch_of_stored(offset));
        match assigned {
            Some(epoch) => epoch,
            None => self
                .removed_epochs
                .lock()
                .expect("removed epochs lock")
                .iter()
                .find(|(t, o, _)| t == tp && *o == offset)
                .map(|(_, _, epoch)| *epoch),
        }
    }

    /// Stops `partitions` and drops their buffered messages. Returns, for each partition that
    /// was assigned, the offset stored for commit when it is ahead of the committed one: from
    /// this moment the application can receive nothing more from these partitions, so the
    /// offsets are final.
    pub(crate) fn remove(&self, partitions: &[TopicPartition]) -> Vec<(TopicPartition, i64)> {
        let mut state = self.lock();
        let mut epochs = Vec::new();
        let removed = partitions
            .iter()
            .filter_map(|tp| {
                let s = state.remove(tp)?;
                let progress = s.retire();
                let offset = s.uncommitted(progress.stored)?;
                if let Some(epoch) = progress.stored_epoch {
                    epochs.push((tp.clone(), offset, epoch));
                }
                Some((tp.clone(), offset))
            })
            .collect();
        drop(state);
        // The commit of these final offsets (a revocation's) still finds their epochs.
        *self.removed_epochs.lock().expect("removed epochs lock") = epochs;
        for tp in partitions {
            self.buffer.purge(tp);
        }
        removed
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
