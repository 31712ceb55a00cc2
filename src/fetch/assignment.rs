//! Adding, moving and removing partitions of the fetcher; used by explicit assignment and by
//! the consumer group alike.

use crate::{
    consumer::{Offset, TopicPartition},
    error::Error,
};

use super::{
    Shared,
    buffer::Delivery,
    partition::{FetchState, PartitionState, ResolveTo},
};

impl Shared {
    /// Starts fetching `partitions` (each at its offset), keeping the others. A partition
    /// already assigned is moved to its new offset.
    pub(crate) fn add_partitions(&self, partitions: &[(TopicPartition, Offset)]) {
        let mut state = self.partitions.lock().expect("partitions lock");
        for (tp, offset) in partitions {
            let generation = self.new_generation();
            let fetch = self.start_state(tp, generation, *offset);
            self.buffer.purge(tp);
            match state.get_mut(tp) {
                Some(existing) => existing.move_to(generation, fetch),
                None => {
                    state.insert(tp.clone(), PartitionState::new(generation, fetch));
                }
            }
        }
        drop(state);
        self.notify_change();
    }

    /// Stops fetching `partitions` and drops their buffered messages. Returns, for each
    /// partition that was assigned, the offset stored for commit when it is ahead of the
    /// committed one (see [`PartitionState::stored_offset`]): from this moment the
    /// application can receive nothing more from these partitions, so the offsets are final.
    pub(crate) fn remove_partitions(
        &self,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, i64)> {
        let mut state = self.partitions.lock().expect("partitions lock");
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
        self.notify_change();
        removed
    }

    /// The assigned partitions, sorted.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        let state = self.partitions.lock().expect("partitions lock");
        let mut tps: Vec<TopicPartition> = state.keys().cloned().collect();
        tps.sort();
        tps
    }

    /// The fetch state a partition starts in for `offset`. Under `auto.offset.reset=error`, a
    /// partition without an explicit offset fails at once, with an error event.
    pub(crate) fn start_state(
        &self,
        tp: &TopicPartition,
        generation: u64,
        offset: Offset,
    ) -> FetchState {
        match offset {
            Offset::Beginning => FetchState::Resolve(ResolveTo::Earliest),
            Offset::End => FetchState::Resolve(ResolveTo::Latest),
            Offset::At(o) if o >= 0 => FetchState::Fetching(o),
            Offset::At(_) | Offset::Stored | Offset::Default => match self.reset_target() {
                Some(to) => FetchState::Resolve(to),
                None => {
                    self.buffer.push(Delivery::Error {
                        tp: Some((tp.clone(), generation)),
                        error: Error::OffsetOutOfRange {
                            topic: tp.topic.to_string(),
                            partition: tp.partition,
                            offset: -1,
                        },
                    });
                    FetchState::Failed
                }
            },
        }
    }
}
