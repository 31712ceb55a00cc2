//! The table's intents for KIP-320: positions validated against the leader's log after a
//! leader change (OffsetForLeaderEpoch), and what a detected log truncation does.
//!
//! Invariants:
//! - A partition in [`FetchState::Validating`] is never fetched; it leaves that state only
//!   through [`PartitionTable::apply_validations`] for its current generation (or a move).
//! - On truncation (the leader's log ends the position's epoch before the position), the
//!   partition moves as Java's `SubscriptionState.maybeCompleteValidation` moves it: with an
//!   `auto.offset.reset` policy, back to the first offset known to diverge (or, when the
//!   leader knows no such offset, to where the policy says), under a new generation so that
//!   buffered records of the lost log are never handed out; under `auto.offset.reset=error`
//!   it stops with [`Error::LogTruncation`] until the application seeks it.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::{
    error::{Error, KafkaCode},
    types::TopicPartition,
};

use super::{
    PartitionTable,
    buffer::Delivery,
    partition::{FetchState, PartitionState},
};

/// Where a leader epoch ends in the leader's log (OffsetForLeaderEpoch's answer, or a Fetch
/// response's diverging epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EpochEnd {
    /// The largest epoch of the leader's log not above the one asked for (−1: unknown).
    pub(crate) epoch: i32,
    /// The end offset of that epoch (−1: unknown).
    pub(crate) end_offset: i64,
}

/// One position to validate: its generation, the position and its epoch, and the leader
/// epoch the request is fenced with.
#[derive(Debug, Clone)]
pub(crate) struct Validation {
    pub(crate) tp: TopicPartition,
    pub(crate) generation: u64,
    pub(crate) offset: i64,
    pub(crate) epoch: i32,
    pub(crate) leader_epoch: i32,
}

/// What an OffsetForLeaderEpoch request said about one [`Validation`].
#[derive(Debug)]
pub(crate) enum ValidationAnswer<'a> {
    /// The request failed as a whole.
    RequestFailed(&'a Error),
    /// The response did not cover the partition.
    Missing,
    /// The partition's answer: an error code (0 for none) and where the epoch ends.
    Found {
        /// The partition's error code.
        error_code: i16,
        /// Where the position's epoch ends in the leader's log.
        end: EpochEnd,
    },
}

impl PartitionTable {
    /// Positions waiting for validation whose leader is known, grouped by leader, marked in
    /// flight.
    pub(crate) fn take_validations(&self, now: Instant) -> BTreeMap<i32, Vec<Validation>> {
        let mut partitions = self.lock();
        let mut by_node: BTreeMap<i32, Vec<Validation>> = BTreeMap::new();
        for (tp, state) in partitions.iter_mut() {
            let (FetchState::Validating(offset), Some(leader), Some(epoch)) =
                (state.fetch, state.leader, state.fetch_epoch)
            else {
                continue;
            };
            if !state.ready_to_resolve(now) {
                continue;
            }
            state.resolving = true;
            by_node.entry(leader.node).or_default().push(Validation {
                tp: tp.clone(),
                generation: state.generation,
                offset,
                epoch,
                leader_epoch: leader.epoch,
            });
        }
        by_node
    }

    /// Applies the answers to `validations` (in the same order): a position the leader's log
    /// still holds is fetched from; a truncated one moves (see the module doc); failures wait
    /// until `backoff` (a leader error looks the leader up again).
    pub(crate) fn apply_validations(
        &self,
        validations: &[Validation],
        answers: Vec<ValidationAnswer<'_>>,
        backoff: Instant,
    ) {
        let mut partitions = self.lock();
        for (v, answer) in validations.iter().zip(answers) {
            let Some(state) = partitions.get_mut(&v.tp) else {
                continue;
            };
            state.resolving = false;
            if state.generation != v.generation || state.fetch != FetchState::Validating(v.offset) {
                continue;
            }
            match answer {
                ValidationAnswer::RequestFailed(e) => {
                    tracing::warn!(tp = %v.tp, error = %e, "OffsetForLeaderEpoch failed");
                    state.leader = None;
                    state.backoff_until = Some(backoff);
                }
                ValidationAnswer::Missing => state.backoff_until = Some(backoff),
                ValidationAnswer::Found { error_code, end } => {
                    match KafkaCode::from_code(error_code) {
                        None => self.check_position(state, &v.tp, v.offset, v.leader_epoch, end),
                        Some(code) if code.is_leader_change() => {
                            tracing::debug!(tp = %v.tp, %code, "validation: leadership moved");
                            state.leader = None;
                            state.backoff_until = Some(backoff);
                        }
                        Some(code) => {
                            state.backoff_until = Some(backoff);
                            self.buffer.push(Delivery::Error {
                                tp: Some((v.tp.clone(), v.generation)),
                                error: Error::Kafka {
                                    api: "OffsetForLeaderEpoch",
                                    code,
                                    context: Some(v.tp.to_string()),
                                },
                            });
                        }
                    }
                }
            }
        }
    }

    /// Checks `position` against where its epoch ends in the leader's log (`end`, from
    /// OffsetForLeaderEpoch or a Fetch's diverging epoch; the leader's epoch is
    /// `leader_epoch`): confirmed when the log holds it, else a truncation (module doc).
    pub(super) fn check_position(
        &self,
        state: &mut PartitionState,
        tp: &TopicPartition,
        position: i64,
        leader_epoch: i32,
        end: EpochEnd,
    ) {
        let known = end.epoch >= 0 && end.end_offset >= 0;
        if known && end.end_offset >= position {
            state.fetch = FetchState::Fetching(position);
            state.confirmed_under = Some(leader_epoch);
            return;
        }
        let divergent = known.then_some(end.end_offset);
        match (self.policy.reset, divergent) {
            (Some(_), Some(end_offset)) => {
                // Records the application was not given yet below the divergence are fetched
                // again (the buffer's copies go with the old generation).
                let (restart, epoch) = match (state.consumer_position(), state.consumer_epoch()) {
                    (Some(p), e) if p < end_offset => (p, e),
                    _ => (end_offset, Some(end.epoch)),
                };
                tracing::info!(%tp, position, divergent = end_offset, restart, "log truncation detected; resetting to the first offset known to diverge");
                let generation = self.new_generation();
                self.buffer.purge_before(tp, generation);
                state.move_to(generation, FetchState::Fetching(restart));
                state.fetch_epoch = epoch;
                state.confirmed_under = Some(leader_epoch);
                state.progress.lock().expect("progress lock").epoch = epoch;
                state.moved_by_application(self.policy.auto_offset_store);
            }
            (Some(to), None) => {
                tracing::info!(%tp, position, "log truncation detected; resetting by auto.offset.reset");
                let generation = self.new_generation();
                self.buffer.purge_before(tp, generation);
                state.move_to(generation, FetchState::Resolve(to));
                state.moved_by_application(self.policy.auto_offset_store);
            }
            (None, divergent_offset) => {
                tracing::warn!(%tp, position, ?divergent_offset, "log truncation detected; auto.offset.reset=error");
                state.fetch = FetchState::Failed;
                self.buffer.push(Delivery::Error {
                    tp: Some((tp.clone(), state.generation)),
                    error: Error::LogTruncation {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        offset: position,
                        divergent_offset,
                    },
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;
    use crate::{
        cluster::{BrokerInfo, ClusterMetadata, PartitionInfo, TopicInfo},
        config::ConsumerConfig,
        record::{BatchReader, builder::BatchBuilder, builder::TestRecord},
        state::{
            Committed, FetchOutcome, FetchedBatch, Requested,
            buffer::{Buffer, Popped},
            partition::Leader,
        },
        types::{Event, Offset, Watermarks},
    };

    fn table(reset: &str) -> PartitionTable {
        let mut config = ConsumerConfig::new("127.0.0.1:9092").unwrap();
        config.set("auto.offset.reset", reset).unwrap();
        PartitionTable::new(&config, Arc::new(Buffer::new(1 << 20)))
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    /// Records `offsets` written under leader epoch `epoch`, as a fetch hands them over.
    fn data(offsets: std::ops::Range<i64>, epoch: i32) -> FetchOutcome {
        let mut builder = BatchBuilder::new(offsets.start).with(
            offsets
                .clone()
                .map(|o| TestRecord::kv(i32::try_from(o - offsets.start).unwrap(), b"k", b"v")),
        );
        builder.partition_leader_epoch = epoch;
        let batch = BatchReader::new(Bytes::from(builder.build()))
            .next()
            .unwrap()
            .unwrap();
        FetchOutcome::Data {
            batches: vec![FetchedBatch::new(batch, offsets.start)],
            next_offset: offsets.end,
            last_epoch: Some(epoch),
            error: None,
            watermarks: Watermarks {
                log_start_offset: 0,
                high_watermark: offsets.end,
                last_stable_offset: offsets.end,
            },
        }
    }

    fn set_leader(t: &PartitionTable, epoch: i32) {
        t.lock().get_mut(&tp()).unwrap().leader = Some(Leader { node: 1, epoch });
    }

    fn take(t: &PartitionTable) -> Vec<Requested> {
        t.take_ready(1, Instant::now()).0
    }

    /// Hands everything buffered to the application: offsets of messages, "err: …" for errors.
    fn drain(t: &PartitionTable) -> Vec<String> {
        std::iter::from_fn(|| t.buffer.pop())
            .filter_map(|p| match p {
                Popped::Messages {
                    generation,
                    progress,
                    messages,
                    ..
                } => {
                    let last = messages.last().expect("never empty");
                    t.hand_out(&progress, generation, last.offset, last.leader_epoch)
                        .then(|| last.offset.to_string())
                }
                Popped::Error { error, .. } => Some(format!("err: {error}")),
                _ => None,
            })
            .collect()
    }

    /// Fetched 0..15 under epoch 3 from a leader of epoch 3, all handed out.
    fn consumed_fifteen(reset: &str) -> PartitionTable {
        let t = table(reset);
        t.add(&[(tp(), Offset::At(0))]);
        set_leader(&t, 3);
        let r = take(&t).pop().unwrap();
        assert_eq!(r.last_fetched_epoch, -1, "nothing fetched yet");
        t.apply_fetch(&r, data(0..15, 3), Instant::now());
        assert_eq!(drain(&t).len(), 15);
        t
    }

    fn answer(t: &PartitionTable, end: EpochEnd) {
        let validations = t.take_validations(Instant::now()).remove(&1).unwrap();
        assert_eq!(validations.len(), 1);
        assert_eq!((validations[0].offset, validations[0].epoch), (15, 3));
        let answers = vec![ValidationAnswer::Found { error_code: 0, end }];
        t.apply_validations(&validations, answers, Instant::now());
    }

    #[test]
    fn the_next_fetch_carries_the_epoch_of_the_last_fetched_batch() {
        let t = consumed_fifteen("earliest");
        let r = take(&t).pop().unwrap();
        assert_eq!((r.offset, r.last_fetched_epoch, r.leader_epoch), (15, 3, 3));
    }

    #[test]
    fn a_new_leader_epoch_holds_fetching_until_the_position_is_validated() {
        let t = consumed_fifteen("earliest");
        set_leader(&t, 4);
        assert!(
            t.lock()
                .get_mut(&tp())
                .unwrap()
                .validate_if_leader_changed(),
            "epoch 4 is not the one the position was confirmed under"
        );
        assert!(take(&t).is_empty(), "no fetch while validating");
        answer(
            &t,
            EpochEnd {
                epoch: 3,
                end_offset: 15,
            },
        );
        let r = take(&t).pop().expect("validated: fetching again");
        assert_eq!((r.offset, r.leader_epoch), (15, 4));
        assert!(
            !t.lock()
                .get_mut(&tp())
                .unwrap()
                .validate_if_leader_changed(),
            "confirmed under epoch 4"
        );
    }

    #[test]
    fn a_truncated_log_moves_the_position_back_to_the_first_offset_known_to_diverge() {
        let t = consumed_fifteen("latest");
        set_leader(&t, 4);
        t.lock()
            .get_mut(&tp())
            .unwrap()
            .validate_if_leader_changed();
        answer(
            &t,
            EpochEnd {
                epoch: 3,
                end_offset: 10,
            },
        );
        assert_eq!(t.position(&tp()), Some(10));
        assert_eq!(
            t.pending_offsets(None),
            [(tp(), 10)],
            "the lower offset is committed"
        );
        let r = take(&t).pop().unwrap();
        assert_eq!((r.offset, r.last_fetched_epoch), (10, 3));
        t.apply_fetch(&r, data(10..12, 4), Instant::now());
        assert_eq!(drain(&t), ["10", "11"]);
    }

    #[test]
    fn records_buffered_past_the_divergence_are_dropped_and_the_application_resumes_where_it_was() {
        let t = table("earliest");
        t.add(&[(tp(), Offset::At(0))]);
        set_leader(&t, 3);
        let r = take(&t).pop().unwrap();
        t.apply_fetch(&r, data(0..15, 3), Instant::now());
        // The application has taken 0..5; 5..15 wait in the buffer.
        for _ in 0..5 {
            let Some(Popped::Messages {
                generation,
                progress,
                messages,
                ..
            }) = t.buffer.pop()
            else {
                panic!("a message")
            };
            let message = &messages[0];
            assert!(t.hand_out(&progress, generation, message.offset, message.leader_epoch));
        }
        let r = take(&t).pop().unwrap();
        let end = EpochEnd {
            epoch: 3,
            end_offset: 10,
        };
        t.apply_fetch(&r, FetchOutcome::Diverging(end), Instant::now());
        assert_eq!(drain(&t), Vec::<String>::new(), "the old buffer is stale");
        let r = take(&t).pop().unwrap();
        assert_eq!(
            r.offset, 5,
            "nothing the application had not received is skipped"
        );
    }

    #[test]
    fn truncation_under_auto_offset_reset_error_stops_the_partition_with_a_log_truncation_error() {
        let t = consumed_fifteen("error");
        let r = take(&t).pop().unwrap();
        let end = EpochEnd {
            epoch: 3,
            end_offset: 10,
        };
        t.apply_fetch(&r, FetchOutcome::Diverging(end), Instant::now());
        let out = drain(&t);
        assert_eq!(out.len(), 1);
        assert!(
            out[0].contains("log truncation detected") && out[0].contains("from offset 10"),
            "{out:?}"
        );
        assert!(take(&t).is_empty(), "stopped until a seek");
        t.seek(&tp(), Offset::At(10)).unwrap();
        assert_eq!(take(&t).pop().unwrap().offset, 10);
    }

    #[test]
    fn an_unknown_epoch_end_resets_by_auto_offset_reset() {
        let t = consumed_fifteen("earliest");
        set_leader(&t, 4);
        t.lock()
            .get_mut(&tp())
            .unwrap()
            .validate_if_leader_changed();
        answer(
            &t,
            EpochEnd {
                epoch: -1,
                end_offset: -1,
            },
        );
        assert!(take(&t).is_empty(), "resolving the earliest offset");
        assert_eq!(t.take_lookups(Instant::now()).len(), 1);
    }

    #[test]
    fn a_committed_offset_with_its_leader_epoch_is_validated_before_fetching() {
        let t = table("latest");
        t.assign_committed(
            &[(
                tp(),
                Some(Committed {
                    offset: 15,
                    leader_epoch: Some(3),
                }),
            )],
            Event::Assigned(vec![tp()]),
        );
        assert!(matches!(
            t.buffer.pop(),
            Some(Popped::Group(Event::Assigned(_)))
        ));
        set_leader(&t, 4);
        assert!(take(&t).is_empty());
        answer(
            &t,
            EpochEnd {
                epoch: 3,
                end_offset: 10,
            },
        );
        assert_eq!(take(&t).pop().unwrap().offset, 10);
    }

    #[test]
    fn offset_stored_with_a_committed_leader_epoch_is_validated_before_fetching() {
        let mut config = ConsumerConfig::new("127.0.0.1:9092").unwrap();
        config.set("group.id", "g").unwrap();
        let t = PartitionTable::new(&config, Arc::new(Buffer::new(1 << 20)));
        t.add(&[(tp(), Offset::Stored)]);
        let lookups = t.take_committed_lookups(Instant::now());
        let committed = Committed {
            offset: 15,
            leader_epoch: Some(3),
        };
        t.apply_committed(&lookups, Ok(vec![Some(committed)]), Instant::now());
        set_leader(&t, 4);
        assert!(take(&t).is_empty(), "validating");
        answer(
            &t,
            EpochEnd {
                epoch: 3,
                end_offset: 15,
            },
        );
        assert_eq!(take(&t).pop().unwrap().offset, 15);
    }

    #[test]
    fn the_leader_epoch_of_the_last_record_handed_out_is_committed_with_its_offset() {
        let t = table("earliest");
        t.add(&[(tp(), Offset::At(0))]);
        set_leader(&t, 3);
        let r = take(&t).pop().unwrap();
        t.apply_fetch(&r, data(0..2, 3), Instant::now());
        assert_eq!(t.epoch_to_commit(&tp(), 2), None, "not handed out yet");
        drain(&t);
        assert_eq!(t.epoch_to_commit(&tp(), 2), Some(3));
        assert_eq!(t.epoch_to_commit(&tp(), 1), None, "not the stored offset");
        assert_eq!(t.remove(&[tp()]), [(tp(), 2)]);
        assert_eq!(
            t.epoch_to_commit(&tp(), 2),
            Some(3),
            "a revocation's commit follows the removal"
        );
        t.add(&[(tp(), Offset::At(0))]);
        t.store(&tp(), 1).unwrap();
        assert_eq!(t.epoch_to_commit(&tp(), 1), None, "stored by hand: unknown");
    }

    #[test]
    fn a_position_resolved_by_list_offsets_takes_the_epoch_the_broker_gave_with_it() {
        use crate::state::LookupAnswer;
        let t = table("earliest");
        t.add(&[(tp(), Offset::End)]);
        set_leader(&t, 6);
        let lookups = t.take_lookups(Instant::now()).remove(&1).unwrap();
        let answer = LookupAnswer::Found {
            error_code: 0,
            offset: 40,
            leader_epoch: 6,
        };
        t.apply_lookups(&lookups, vec![answer], Instant::now());
        let r = take(&t).pop().unwrap();
        assert_eq!((r.offset, r.last_fetched_epoch), (40, 6));
        t.apply_fetch(
            &r,
            FetchOutcome::Error(KafkaCode::NOT_LEADER_OR_FOLLOWER),
            Instant::now(),
        );
        set_leader(&t, 7);
        t.lock()
            .get_mut(&tp())
            .unwrap()
            .validate_if_leader_changed();
        let v = t.take_validations(Instant::now()).remove(&1).unwrap();
        assert_eq!((v[0].offset, v[0].epoch, v[0].leader_epoch), (40, 6, 7));
    }

    #[test]
    fn fenced_or_unknown_leader_epochs_look_the_leader_up_again_and_keep_validating() {
        for code in [
            KafkaCode::FENCED_LEADER_EPOCH,
            KafkaCode::UNKNOWN_LEADER_EPOCH,
        ] {
            let t = consumed_fifteen("earliest");
            set_leader(&t, 4);
            t.lock()
                .get_mut(&tp())
                .unwrap()
                .validate_if_leader_changed();
            let validations = t.take_validations(Instant::now()).remove(&1).unwrap();
            let answers = vec![ValidationAnswer::Found {
                error_code: code.0,
                end: EpochEnd {
                    epoch: -1,
                    end_offset: -1,
                },
            }];
            let now = Instant::now();
            t.apply_validations(&validations, answers, now);
            let (missing, _) = t.topics_needing_metadata(now);
            assert_eq!(missing.len(), 1, "{code}: the leader is looked up again");
            assert!(drain(&t).is_empty(), "{code}: no error for the application");
            set_leader(&t, 5);
            assert_eq!(t.take_validations(now).len(), 1, "{code}: validated again");
            // The same codes on a fetch: the leader is looked up again too.
            let t = consumed_fifteen("earliest");
            let r = take(&t).pop().unwrap();
            assert!(t.apply_fetch(&r, FetchOutcome::Error(code), now));
            assert!(take(&t).is_empty());
        }
    }

    #[test]
    fn metadata_with_a_new_leader_epoch_starts_a_validation() {
        let t = consumed_fifteen("earliest");
        let md = |epoch: i32| ClusterMetadata {
            originating_broker: "h:1".into(),
            cluster_id: None,
            controller_id: 1,
            brokers: vec![BrokerInfo {
                id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
            }],
            topics: vec![TopicInfo {
                topic: "t".into(),
                topic_id: None,
                internal: false,
                error: None,
                partitions: vec![PartitionInfo {
                    partition: 0,
                    leader: 1,
                    leader_epoch: epoch,
                    replicas: vec![1],
                    isr: vec![1],
                    offline_replicas: vec![],
                    error: None,
                }],
            }],
        };
        t.apply_leaders(&md(3), Instant::now());
        assert_eq!(take(&t).len(), 1, "same epoch: no validation");
        let t = consumed_fifteen("earliest");
        t.apply_leaders(&md(4), Instant::now());
        assert!(take(&t).is_empty());
        assert_eq!(t.take_validations(Instant::now()).len(), 1);
    }
}
