//! The table's intents for the fetcher: which partitions to fetch or look up, and what a
//! fetch, a lookup or a metadata refresh did to them.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    cluster::ClusterMetadata,
    error::{Error, KafkaCode},
    types::{TopicPartition, Watermarks},
};

use super::{
    PartitionTable,
    buffer::Delivery,
    fetched::FetchedBatch,
    partition::{FetchState, Leader, PartitionState, ResolveTo},
    validation::EpochEnd,
};

/// A partition in one fetch request: its generation and fetch offset when sent.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    pub(crate) tp: TopicPartition,
    pub(crate) generation: u64,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    /// The leader epoch of the record before `offset` (KIP-320), −1 when unknown: the broker
    /// answers with a diverging epoch if its log does not hold `offset` in that epoch.
    pub(crate) last_fetched_epoch: i32,
    /// The partition's size limit (`max.partition.fetch.bytes`, or more after no progress).
    pub(crate) max_bytes: i32,
}

/// What one fetch response said about one requested partition.
#[derive(Debug)]
pub(crate) enum FetchOutcome {
    /// The response did not cover the partition.
    Missing,
    /// An incremental fetch session's response left the partition out: the broker has no
    /// records for it at the fetch offset and its watermarks are those last reported.
    Unchanged,
    /// The broker answered with an error code for it.
    Error(KafkaCode),
    /// The leader's log diverges from the fetch position's epoch (KIP-320): it ends that
    /// epoch here, before the position, or does not know it.
    Diverging(EpochEnd),
    /// The partition's data held only an incomplete batch: no progress at its size limit.
    Incomplete {
        /// The offsets bounding the partition, as the response reported them.
        watermarks: Watermarks,
    },
    /// The partition's data, decoded.
    Data {
        /// The data batches to hand out, in offset order, undecoded.
        batches: Vec<FetchedBatch>,
        /// The position after this data.
        next_offset: i64,
        /// The leader epoch of the last batch passed (the record before `next_offset`).
        last_epoch: Option<i32>,
        /// A corrupt batch that stopped decoding.
        error: Option<Error>,
        /// The offsets bounding the partition, as the response reported them.
        watermarks: Watermarks,
    },
}

/// One partition to resolve: its generation when the lookup was sent, which end, and the
/// leader epoch the lookup is sent with.
pub(crate) type Lookup = (TopicPartition, u64, ResolveTo, i32);

/// What a ListOffsets request said about one [`Lookup`].
#[derive(Debug)]
pub(crate) enum LookupAnswer<'a> {
    /// The request failed as a whole.
    RequestFailed(&'a Error),
    /// The response did not cover the partition.
    Missing,
    /// The partition's answer: an error code (0 for none) and the offset.
    Found {
        /// The partition's error code.
        error_code: i16,
        /// The offset found.
        offset: i64,
        /// The leader epoch the broker gives with it (−1: unknown); as in Java, the epoch of
        /// the new position (KIP-320).
        leader_epoch: i32,
    },
}

impl PartitionTable {
    /// Marks the ready partitions led by `node` in flight and returns them, or when none is
    /// ready, the earliest instant one leaves its backoff.
    pub(crate) fn take_ready(&self, node: i32, now: Instant) -> (Vec<Requested>, Option<Instant>) {
        let mut partitions = self.lock();
        let mut requested = Vec::new();
        let mut wake_at: Option<Instant> = None;
        for (tp, state) in partitions.iter_mut() {
            let (Some(leader), FetchState::Fetching(offset)) = (state.leader, state.fetch) else {
                continue;
            };
            if leader.node != node || state.paused || state.in_flight {
                continue;
            }
            if let Some(until) = state.backoff_until.filter(|t| *t > now) {
                wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
                continue;
            }
            state.in_flight = true;
            requested.push(Requested {
                tp: tp.clone(),
                generation: state.generation,
                offset,
                leader_epoch: leader.epoch,
                last_fetched_epoch: state.fetch_epoch.unwrap_or(-1),
                max_bytes: state
                    .grown_max_bytes
                    .unwrap_or(self.policy.max_partition_bytes),
            });
        }
        (requested, wake_at)
    }

    /// The fetch of `requested` failed as a whole: their leaders are looked up again after
    /// `backoff`.
    pub(crate) fn fetch_failed(&self, requested: &[Requested], backoff: Instant) {
        let mut partitions = self.lock();
        for r in requested {
            if let Some(state) = partitions.get_mut(&r.tp) {
                state.in_flight = false;
                state.leader = None;
                state.backoff_until = Some(backoff);
            }
        }
    }

    /// Applies one partition's part of a fetch response (dropped if the partition moved since
    /// the fetch was sent). Returns whether the manager must run (a reset to resolve, a leader
    /// to look up).
    pub(crate) fn apply_fetch(
        &self,
        r: &Requested,
        outcome: FetchOutcome,
        backoff: Instant,
    ) -> bool {
        let mut partitions = self.lock();
        let Some(state) = partitions.get_mut(&r.tp) else {
            return false;
        };
        state.in_flight = false;
        if state.generation != r.generation || state.fetch != FetchState::Fetching(r.offset) {
            // The watermarks are the partition's, whatever its generation: an incremental
            // session reports them only when they change, so they must not be lost.
            if let FetchOutcome::Data { watermarks, .. } | FetchOutcome::Incomplete { watermarks } =
                outcome
            {
                state.watermarks = Some(watermarks);
            }
            return false;
        }
        let (batches, next_offset, error, watermarks) = match outcome {
            FetchOutcome::Missing => return false,
            FetchOutcome::Unchanged => {
                state.confirmed_under = Some(r.leader_epoch);
                if let Some(watermarks) = state.watermarks {
                    self.maybe_eof(state, r, r.offset, watermarks);
                }
                return false;
            }
            FetchOutcome::Error(code) if code == KafkaCode::OFFSET_OUT_OF_RANGE => {
                return match self.policy.reset {
                    Some(to) => {
                        tracing::info!(tp = %r.tp, offset = r.offset, "offset out of range, resetting");
                        // A move like a seek: what was buffered before it is stale (handing it
                        // out would set the position back below the reset one).
                        let generation = self.new_generation();
                        self.buffer.purge_before(&r.tp, generation);
                        state.move_to(generation, FetchState::Resolve(to));
                        true // wake the manager to resolve it
                    }
                    None => {
                        state.fetch = FetchState::Failed;
                        self.buffer.push(Delivery::Error {
                            tp: Some((r.tp.clone(), r.generation)),
                            error: Error::OffsetOutOfRange {
                                topic: r.tp.topic.to_string(),
                                partition: r.tp.partition,
                                offset: r.offset,
                            },
                        });
                        false
                    }
                };
            }
            FetchOutcome::Diverging(end) => {
                tracing::info!(tp = %r.tp, offset = r.offset, epoch = r.last_fetched_epoch, ?end, "fetch: the leader's log diverges");
                self.check_position(state, &r.tp, r.offset, r.leader_epoch, end);
                return true; // a reset may need the manager
            }
            FetchOutcome::Error(code) if code.is_leader_change() => {
                tracing::debug!(tp = %r.tp, %code, "fetch: leadership moved; looking the leader up again");
                state.leader = None;
                state.backoff_until = Some(backoff);
                return true;
            }
            FetchOutcome::Error(code) => {
                state.backoff_until = Some(backoff);
                self.buffer.push(Delivery::Error {
                    tp: Some((r.tp.clone(), r.generation)),
                    error: Error::Kafka {
                        api: "Fetch",
                        code,
                        context: Some(r.tp.to_string()),
                    },
                });
                return false;
            }
            FetchOutcome::Incomplete { watermarks } => {
                state.watermarks = Some(watermarks);
                self.no_progress(state, r, backoff);
                return false;
            }
            FetchOutcome::Data {
                batches,
                next_offset,
                last_epoch,
                error,
                watermarks,
            } => {
                state.confirmed_under = Some(r.leader_epoch);
                if last_epoch.is_some() {
                    state.fetch_epoch = last_epoch;
                }
                (batches, next_offset, error, watermarks)
            }
        };
        state.watermarks = Some(watermarks);
        state.grown_max_bytes = None;
        if !batches.is_empty() {
            self.buffer.push(Delivery::Messages {
                tp: r.tp.clone(),
                generation: r.generation,
                progress: Arc::clone(&state.progress),
                ready: VecDeque::new(),
                ready_bytes: 0,
                batches: batches.into(),
            });
        }
        // Which records the batches hold is known only once they are decoded: the position
        // moves to the fetch's end after them in any case (past compacted-away records,
        // control batches and aborted data; a no-op when the last message got it there).
        if next_offset > r.offset {
            self.buffer.push(Delivery::Advance {
                tp: r.tp.clone(),
                generation: r.generation,
                progress: Arc::clone(&state.progress),
                offset: next_offset,
            });
        }
        state.fetch = FetchState::Fetching(next_offset);
        if let Some(error) = error {
            state.backoff_until = Some(backoff);
            self.buffer.push(Delivery::Error {
                tp: Some((r.tp.clone(), r.generation)),
                error,
            });
            return false;
        }
        self.maybe_eof(state, r, next_offset, watermarks);
        false
    }

    /// A fetch of `r` made no progress (its data held only an incomplete batch). Fetching
    /// again with the same limit would spin, so the limit doubles (as librdkafka does), up to
    /// `fetch.max.bytes`; at that cap the partition backs off with [`Error::NoProgress`].
    fn no_progress(&self, state: &mut PartitionState, r: &Requested, backoff: Instant) {
        let cap = self.policy.max_partition_bytes_cap;
        if r.max_bytes < cap {
            let grown = r.max_bytes.saturating_mul(2).min(cap);
            tracing::debug!(tp = %r.tp, offset = r.offset, grown, "fetch made no progress; growing the partition's size limit");
            state.grown_max_bytes = Some(grown);
            return;
        }
        state.backoff_until = Some(backoff);
        self.buffer.push(Delivery::Error {
            tp: Some((r.tp.clone(), r.generation)),
            error: Error::NoProgress {
                topic: r.tp.topic.to_string(),
                partition: r.tp.partition,
                offset: r.offset,
                max_bytes: r.max_bytes,
            },
        });
    }

    /// Reports EOF if `next_offset` is at the end and no EOF was reported there yet.
    fn maybe_eof(
        &self,
        state: &mut PartitionState,
        r: &Requested,
        next_offset: i64,
        watermarks: Watermarks,
    ) {
        let end = watermarks.end(self.policy.isolation);
        if self.policy.partition_eof && next_offset >= end && state.last_eof != Some(next_offset) {
            state.last_eof = Some(next_offset);
            self.buffer.push(Delivery::Eof {
                tp: r.tp.clone(),
                generation: r.generation,
                offset: next_offset,
            });
        }
    }

    /// Topics with partitions that need a leader, and every assigned topic.
    pub(crate) fn topics_needing_metadata(
        &self,
        now: Instant,
    ) -> (BTreeSet<Arc<str>>, BTreeSet<Arc<str>>) {
        let partitions = self.lock();
        let mut missing = BTreeSet::new();
        let mut assigned = BTreeSet::new();
        for (tp, state) in partitions.iter() {
            assigned.insert(Arc::clone(&tp.topic));
            let waiting = state.backoff_until.is_some_and(|t| t > now);
            if state.leader.is_none() && state.fetch != FetchState::Failed && !waiting {
                missing.insert(Arc::clone(&tp.topic));
            }
        }
        (missing, assigned)
    }

    /// Takes the leaders in `md`. Partitions without one wait until `backoff`, and each outage
    /// is reported to the application once. Returns the leader of every partition that has
    /// one (with repeats).
    pub(crate) fn apply_leaders(&self, md: &ClusterMetadata, backoff: Instant) -> Vec<i32> {
        let mut leaders = Vec::new();
        let mut partitions = self.lock();
        for (tp, state) in partitions.iter_mut() {
            let topic = md.topic(&tp.topic);
            let found =
                topic.and_then(|t| t.partitions.iter().find(|p| p.partition == tp.partition));
            match found {
                Some(p) if p.leader >= 0 && p.error.is_none() => {
                    if state.leader.is_none_or(|l| l.node != p.leader) {
                        tracing::debug!(%tp, leader = p.leader, epoch = p.leader_epoch, "leader found");
                    }
                    state.outage_reported = false;
                    state.leader = Some(Leader {
                        node: p.leader,
                        epoch: p.leader_epoch,
                    });
                    if state.validate_if_leader_changed() {
                        tracing::debug!(%tp, epoch = p.leader_epoch, "leader epoch changed; validating the position");
                    }
                    leaders.push(p.leader);
                }
                _ if state.leader.is_some() => {}
                _ => {
                    state.backoff_until = Some(backoff);
                    if !std::mem::replace(&mut state.outage_reported, true) {
                        // Reported once per outage, not on every retry: the partition is
                        // unknown or has no leader.
                        let code = if found.is_none() {
                            KafkaCode::UNKNOWN_TOPIC_OR_PARTITION
                        } else {
                            KafkaCode::LEADER_NOT_AVAILABLE
                        };
                        self.buffer.push(Delivery::Error {
                            tp: Some((tp.clone(), state.generation)),
                            error: Error::Kafka {
                                api: "Metadata",
                                code,
                                context: Some(tp.to_string()),
                            },
                        });
                    }
                }
            }
        }
        leaders
    }

    /// Partitions waiting for a ListOffsets lookup, grouped by leader, marked in flight.
    pub(crate) fn take_lookups(&self, now: Instant) -> BTreeMap<i32, Vec<Lookup>> {
        let mut partitions = self.lock();
        let mut by_node: BTreeMap<i32, Vec<Lookup>> = BTreeMap::new();
        for (tp, state) in partitions.iter_mut() {
            let (FetchState::Resolve(to), Some(leader)) = (state.fetch, state.leader) else {
                continue;
            };
            if !state.ready_to_resolve(now) {
                continue;
            }
            state.resolving = true;
            by_node.entry(leader.node).or_default().push((
                tp.clone(),
                state.generation,
                to,
                leader.epoch,
            ));
        }
        by_node
    }

    /// Applies the answers to `lookups` (in the same order): each partition still waiting for
    /// that lookup starts fetching at the offset found; failures wait until `backoff`.
    pub(crate) fn apply_lookups(
        &self,
        lookups: &[Lookup],
        answers: Vec<LookupAnswer<'_>>,
        backoff: Instant,
    ) {
        let mut partitions = self.lock();
        for ((tp, generation, to, leader_epoch), answer) in lookups.iter().zip(answers) {
            let Some(state) = partitions.get_mut(tp) else {
                continue;
            };
            state.resolving = false;
            if state.generation != *generation || state.fetch != FetchState::Resolve(*to) {
                continue;
            }
            match answer {
                LookupAnswer::RequestFailed(e) => {
                    tracing::warn!(%tp, error = %e, "ListOffsets failed");
                    state.leader = None;
                    state.backoff_until = Some(backoff);
                }
                LookupAnswer::Missing => state.backoff_until = Some(backoff),
                LookupAnswer::Found {
                    error_code,
                    offset,
                    leader_epoch: offset_epoch,
                } => match KafkaCode::from_code(error_code) {
                    None => {
                        let offset_epoch = (offset_epoch >= 0).then_some(offset_epoch);
                        state.fetch = FetchState::Fetching(offset);
                        state.set_consumer_position(offset, offset_epoch);
                        state.fetch_epoch = offset_epoch;
                        state.confirmed_under = Some(*leader_epoch);
                    }
                    Some(code) if code.is_leader_change() => {
                        state.leader = None;
                        state.backoff_until = Some(backoff);
                    }
                    Some(code) => {
                        state.backoff_until = Some(backoff);
                        self.buffer.push(Delivery::Error {
                            tp: Some((tp.clone(), *generation)),
                            error: Error::Kafka {
                                api: "ListOffsets",
                                code,
                                context: Some(tp.to_string()),
                            },
                        });
                    }
                },
            }
        }
    }

    /// How long the manager may sleep: until the next backoff ends, at most a second.
    pub(crate) fn next_wake(&self, now: Instant) -> Duration {
        self.lock()
            .values()
            .filter_map(|s| s.backoff_until)
            .filter(|t| *t > now)
            .map(|t| t - now)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }
}
