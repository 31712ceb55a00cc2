//! Partition state, with one owner: the partition table and the delivery buffer.
//!
//! Also home of [`Shared`], the context the fetcher, the group member and the consumer facade
//! share, so that fetch and group (siblings) need nothing from each other.
//!
//! Invariants (of the partition table, see `partition` for one partition's):
//! - Every assigned partition has exactly one [`PartitionState`](partition::PartitionState),
//!   reachable only through [`PartitionTable`]'s methods. Callers name an intent (seek, pause,
//!   take the ready partitions, apply a fetch, mark an offset committed); nobody outside this
//!   module locks the map.
//! - Generations come from one counter and are never reused: each assign, seek, pause and
//!   out-of-range reset gives the partition a new one, and anything fetched or buffered under
//!   an older one is stale.
//! - A partition is removed from the table before its final progress is read (see
//!   [`PartitionTable::remove`]), so nothing more can be handed out for it afterwards.
//!
//! # Lock order
//!
//! Three kinds of lock guard partition state. A thread holding one may take only those listed
//! after it, never one before it:
//!
//! 1. the partition map (inside [`PartitionTable`]);
//! 2. one partition's progress (`Mutex<Progress>`, shared with its buffered deliveries so
//!    `poll` can hand messages out without the map lock);
//! 3. the buffer's queue (inside [`Buffer`](buffer::Buffer)).
//!
//! Progress (2) and the queue (3) are never held together: popping clones the progress handle
//! and releases the queue before the progress is locked. None of these locks is held across an
//! `.await`, and no other lock of the crate is taken while one of them is held. (The table's
//! `removed_epochs` is locked only when the map lock is not held, and holds no other lock.)

pub(crate) mod buffer;
mod fetched;
mod fetcher;
mod group;
mod partition;
mod shared;
mod stored;
#[cfg(test)]
mod tests;
mod validation;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{
    config::{ConsumerConfig, IsolationLevel, OffsetReset},
    error::{Error, Result},
    types::{Offset, TopicPartition, Watermarks},
};

use buffer::{Buffer, Delivery};
use partition::{FetchState, PartitionState, Progress};

pub(crate) use fetched::FetchedBatch;
pub(crate) use fetcher::{FetchOutcome, Lookup, LookupAnswer, Requested};
pub(crate) use group::Committed;
pub(crate) use partition::ResolveTo;
pub(crate) use shared::Shared;
pub(crate) use stored::CommittedLookup;
pub(crate) use validation::{EpochEnd, Validation, ValidationAnswer};

/// The consumer's settings the table applies.
#[derive(Debug, Clone, Copy)]
struct Policy {
    /// Where `auto.offset.reset` sends a partition without a valid position; `None` for
    /// `error`.
    reset: Option<ResolveTo>,
    isolation: IsolationLevel,
    partition_eof: bool,
    auto_offset_store: bool,
    /// A `group.id` is configured: [`Offset::Stored`] reads the group's committed offset.
    group: bool,
    /// `max.partition.fetch.bytes`.
    max_partition_bytes: i32,
    /// How far a partition's size limit may grow when a fetch makes no progress: at least
    /// `fetch.max.bytes`.
    max_partition_bytes_cap: i32,
}

/// Every assigned partition's state, the generation counter, and the delivery buffer.
#[derive(Debug)]
pub(crate) struct PartitionTable {
    partitions: Mutex<HashMap<TopicPartition, PartitionState>>,
    /// The leader epochs of the final offsets the last [`PartitionTable::remove`] returned
    /// (partition, offset, epoch), for the commit that follows a revocation (KIP-320).
    removed_epochs: Mutex<Vec<(TopicPartition, i64, i32)>>,
    next_generation: AtomicU64,
    buffer: Arc<Buffer>,
    policy: Policy,
}

impl PartitionTable {
    /// An empty table for a consumer configured by `config`, delivering into `buffer`.
    pub(crate) fn new(config: &ConsumerConfig, buffer: Arc<Buffer>) -> Self {
        Self {
            partitions: Mutex::new(HashMap::new()),
            removed_epochs: Mutex::new(Vec::new()),
            next_generation: AtomicU64::new(1),
            buffer,
            policy: Policy {
                reset: match config.auto_offset_reset {
                    OffsetReset::Earliest => Some(ResolveTo::Earliest),
                    OffsetReset::Latest => Some(ResolveTo::Latest),
                    OffsetReset::Error => None,
                },
                isolation: config.isolation_level,
                partition_eof: config.enable_partition_eof,
                auto_offset_store: config.group.enable_auto_offset_store,
                group: config.group.group_id.is_some(),
                max_partition_bytes: config.max_partition_fetch_bytes,
                max_partition_bytes_cap: config
                    .fetch_max_bytes
                    .max(config.max_partition_fetch_bytes),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<TopicPartition, PartitionState>> {
        self.partitions.lock().expect("partitions lock")
    }

    /// A generation number never used before.
    fn new_generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::Relaxed)
    }

    /// The fetch state a partition starts in for `offset`. Under `auto.offset.reset=error`, a
    /// partition without an explicit offset fails at once, with an error event pushed now:
    /// callers purge the partition's old deliveries before, never after.
    fn start_state(&self, tp: &TopicPartition, generation: u64, offset: Offset) -> FetchState {
        match offset {
            Offset::Beginning => FetchState::Resolve(ResolveTo::Earliest),
            Offset::End => FetchState::Resolve(ResolveTo::Latest),
            Offset::At(o) if o >= 0 => FetchState::Fetching(o),
            Offset::Stored if self.policy.group => FetchState::Committed,
            Offset::At(_) | Offset::Stored | Offset::Default => self.reset_state(tp, generation),
        }
    }

    /// Where `auto.offset.reset` sends a partition without a valid position; under `error`,
    /// `Failed` with the error event pushed now (purge the partition's old deliveries first).
    fn reset_state(&self, tp: &TopicPartition, generation: u64) -> FetchState {
        match self.policy.reset {
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
        }
    }

    /// Runs `f` on `tp`'s state; [`Error::NotAssigned`] if it is not assigned.
    fn with_partition<T>(
        &self,
        tp: &TopicPartition,
        f: impl FnOnce(&mut PartitionState) -> T,
    ) -> Result<T> {
        let mut state = self.lock();
        let partition = state.get_mut(tp).ok_or_else(|| Error::NotAssigned {
            topic: tp.topic.to_string(),
            partition: tp.partition,
        })?;
        Ok(f(partition))
    }

    // --- The consumer's intents ---

    /// Whether `tp` is assigned.
    pub(crate) fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.lock().contains_key(tp)
    }

    /// The assigned partitions, sorted.
    pub(crate) fn assigned(&self) -> Vec<TopicPartition> {
        let state = self.lock();
        let mut tps: Vec<TopicPartition> = state.keys().cloned().collect();
        tps.sort();
        tps
    }

    /// Moves an assigned partition to `offset` under a new generation and drops what was
    /// buffered for it before. The purge runs under the map lock and spares the new
    /// generation, so a fetch applied meanwhile is never lost. The next commit sends the new
    /// position even when it is below the committed offset (see
    /// [`PartitionState::moved_by_application`]).
    ///
    /// The purge comes before [`start_state`](Self::start_state), which may push the
    /// partition's out-of-range error: that error belongs to the new generation.
    pub(crate) fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        self.with_partition(tp, |state| {
            let generation = self.new_generation();
            self.buffer.purge_before(tp, generation);
            let fetch = self.start_state(tp, generation, offset);
            state.move_to(generation, fetch);
            state.moved_by_application(self.policy.auto_offset_store);
        })
    }

    /// Stops fetching `partitions`: each gets a new generation, its position stays where the
    /// application reached, and its buffered messages are dropped (fetched again on resume).
    pub(crate) fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            let generation = self.new_generation();
            self.with_partition(tp, |state| {
                state.paused = true;
                let epoch = state.consumer_epoch();
                let confirmed_under = state.confirmed_under;
                let fetch = match (state.fetch, state.consumer_position()) {
                    (FetchState::Fetching(_) | FetchState::Validating(_), Some(position)) => {
                        FetchState::Fetching(position)
                    }
                    (other, _) => other,
                };
                state.move_to(generation, fetch);
                // The application's position keeps its epoch: the leader may change while
                // the partition is paused, and the position is validated on resume then.
                state.fetch_epoch = epoch;
                state.confirmed_under = confirmed_under;
                state.progress.lock().expect("progress lock").epoch = epoch;
                state.validate_if_leader_changed();
                state.paused = true;
                // Under the map lock, so no fetch of the new generation can land before it.
                self.buffer.purge_before(tp, generation);
            })?;
        }
        Ok(())
    }

    /// Resumes fetching `partitions`.
    pub(crate) fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.with_partition(tp, |state| state.paused = false)?;
        }
        Ok(())
    }

    /// Stores `offset` for the next commit of `tp`.
    pub(crate) fn store(&self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.with_partition(tp, |state| state.set_stored_offset(offset))
    }

    /// The offset of the next message the application will receive from `tp`, once known.
    pub(crate) fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.lock().get(tp).and_then(|s| s.consumer_position())
    }

    /// `tp`'s watermarks as of the last fetch.
    pub(crate) fn watermarks(&self, tp: &TopicPartition) -> Option<Watermarks> {
        self.lock().get(tp).and_then(|s| s.watermarks)
    }

    /// How far `tp`'s position is behind the end (the last stable offset under
    /// read_committed, the high watermark otherwise), as of the last fetch.
    pub(crate) fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let state = self.lock();
        let s = state.get(tp)?;
        let w = s.watermarks?;
        let end = w.end(self.policy.isolation);
        Some((end - s.consumer_position()?).max(0))
    }

    /// Every assigned partition's observable values (see [`crate::hooks::PartitionStats`]),
    /// sorted. Takes the map lock, then each partition's progress lock in turn.
    pub(crate) fn stats(&self) -> Vec<crate::hooks::PartitionStats> {
        let state = self.lock();
        let mut out: Vec<crate::hooks::PartitionStats> = state
            .iter()
            .map(|(tp, s)| {
                let position = s.consumer_position();
                let end = s.watermarks.map(|w| w.end(self.policy.isolation));
                let behind = |o: Option<i64>| Some((end? - o?).max(0));
                crate::hooks::PartitionStats {
                    topic: Arc::clone(&tp.topic),
                    partition: tp.partition,
                    position,
                    committed: s.committed_offset,
                    high_watermark: s.watermarks.map(|w| w.high_watermark),
                    last_stable_offset: s.watermarks.map(|w| w.last_stable_offset),
                    end,
                    lag: behind(position),
                    committed_lag: behind(s.committed_offset),
                    paused: s.paused,
                }
            })
            .collect();
        drop(state);
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        out
    }

    /// Whether `tp` is assigned and still in `generation` (a buffered event of it is current).
    pub(crate) fn is_current(&self, tp: &TopicPartition, generation: u64) -> bool {
        self.lock()
            .get(tp)
            .is_some_and(|s| s.generation == generation)
    }

    /// Moves the position past data the application never sees (a fetch ending in control
    /// batches or aborted data), once everything before was handed out: Java's position
    /// follows the fetch, so lag reaches 0 and commits reach the end. Takes only the
    /// partition's progress lock.
    pub(crate) fn advance(&self, progress: &Mutex<Progress>, generation: u64, offset: i64) {
        progress.lock().expect("progress lock").advance(
            generation,
            offset,
            self.policy.auto_offset_store,
        );
    }

    /// Records that the messages up to and including `offset` (one message, or the last of a
    /// run of one partition), fetched under `generation`, go to the application (advancing
    /// the position, and the stored offset with `enable.auto.offset.store`, to `offset + 1`);
    /// `false` if the delivery is stale. Takes only the partition's progress lock, not the
    /// map's: once per run, not per message.
    pub(crate) fn hand_out(
        &self,
        progress: &Mutex<Progress>,
        generation: u64,
        offset: i64,
        epoch: Option<i32>,
    ) -> bool {
        progress.lock().expect("progress lock").hand_out(
            generation,
            offset,
            epoch,
            self.policy.auto_offset_store,
        )
    }
}
