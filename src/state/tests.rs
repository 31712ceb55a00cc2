//! The partition table's intents, without a broker: fetched data flows through the table into
//! the buffer, and moves of a partition make what came before them stale.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;

use super::{
    FetchOutcome, FetchedBatch, PartitionTable, Requested, buffer::Buffer, buffer::Popped,
};
use crate::{
    config::ConsumerConfig,
    error::{Error, KafkaCode},
    record::{
        BatchReader,
        builder::{BatchBuilder, TestRecord},
    },
    types::{Offset, TopicPartition, Watermarks},
};

fn table(props: &[(&str, &str)]) -> PartitionTable {
    let mut config = ConsumerConfig::new("127.0.0.1:9092").unwrap();
    for (k, v) in props {
        config.set(k, v).unwrap();
    }
    PartitionTable::new(&config, Arc::new(Buffer::new(1 << 20)))
}

/// One batch of records at `offsets`, as a fetch hands it to the table.
fn batches(offsets: std::ops::Range<i64>) -> Vec<FetchedBatch> {
    if offsets.is_empty() {
        return Vec::new();
    }
    let raw = BatchBuilder::new(offsets.start)
        .with(
            offsets
                .clone()
                .map(|o| TestRecord::kv(i32::try_from(o - offsets.start).unwrap(), b"k", b"v")),
        )
        .build();
    let batch = BatchReader::new(Bytes::from(raw)).next().unwrap().unwrap();
    vec![FetchedBatch::new(batch, offsets.start)]
}

/// Marks `tp` led by node 1 and takes it as ready to fetch.
fn take(t: &PartitionTable, tp: &TopicPartition) -> Requested {
    {
        let mut map = t.lock();
        let s = map.get_mut(tp).unwrap();
        s.leader = Some(super::partition::Leader { node: 1, epoch: 0 });
    }
    let (mut ready, _) = t.take_ready(1, Instant::now());
    assert_eq!(ready.len(), 1);
    ready.pop().unwrap()
}

fn data(_tp: &TopicPartition, offsets: std::ops::Range<i64>, end: i64) -> FetchOutcome {
    FetchOutcome::Data {
        batches: batches(offsets.clone()),
        next_offset: offsets.end,
        last_epoch: None,
        error: None,
        watermarks: Watermarks {
            log_start_offset: 0,
            high_watermark: end,
            last_stable_offset: end,
        },
    }
}

/// Pops everything the application would receive, as "m<offset>" / "eof<offset>" / "err".
fn drain(t: &PartitionTable) -> Vec<String> {
    std::iter::from_fn(|| t.buffer.pop())
        .filter_map(|p| match p {
            Popped::Messages {
                generation,
                progress,
                messages,
                ..
            } => t
                .hand_out(
                    &progress,
                    generation,
                    messages[0].offset,
                    messages[0].leader_epoch,
                )
                .then(|| format!("m{}", messages[0].offset)),
            Popped::Eof {
                tp,
                generation,
                offset,
            } => t
                .is_current(&tp, generation)
                .then(|| format!("eof{offset}")),
            Popped::Error {
                tp: Some((tp, generation)),
                ..
            } => t.is_current(&tp, generation).then(|| "err".to_owned()),
            Popped::Error { tp: None, .. } => Some("err".to_owned()),
            Popped::Advance {
                generation,
                progress,
                offset,
            } => {
                t.advance(&progress, generation, offset);
                None
            }
            Popped::Group(_) => None,
        })
        .collect()
}

#[test]
fn fetched_messages_advance_the_position_and_the_stored_offset() {
    let t = table(&[("enable.partition.eof", "true")]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(5))]);
    let r = take(&t, &tp);
    assert!(!t.apply_fetch(&r, data(&tp, 5..8, 8), Instant::now()));
    assert_eq!(drain(&t), ["m5", "m6", "m7", "eof8"]);
    assert_eq!(t.position(&tp), Some(8));
    assert_eq!(t.pending_offsets(None), [(tp.clone(), 8)]);
    assert_eq!(t.lag(&tp), Some(0));
}

#[test]
fn a_fetch_sent_before_a_seek_is_dropped_and_its_buffered_messages_too() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 0..3, 10), Instant::now());
    let late = take(&t, &tp);
    t.seek(&tp, Offset::At(100)).unwrap();
    t.apply_fetch(&late, data(&tp, 3..6, 10), Instant::now());
    assert_eq!(drain(&t), Vec::<String>::new());
    assert_eq!(t.position(&tp), Some(100));
}

#[test]
fn pause_keeps_the_position_the_application_reached_and_resume_fetches_from_it() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 0..4, 10), Instant::now());
    let first = t.buffer.pop();
    let Some(Popped::Messages {
        generation,
        progress,
        messages,
        ..
    }) = first
    else {
        panic!("a message first");
    };
    assert!(t.hand_out(
        &progress,
        generation,
        messages[0].offset,
        messages[0].leader_epoch
    ));
    t.pause(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(drain(&t), Vec::<String>::new(), "buffered messages dropped");
    assert!(t.take_ready(1, Instant::now()).0.is_empty(), "paused");
    t.resume(std::slice::from_ref(&tp)).unwrap();
    let (ready, _) = t.take_ready(1, Instant::now());
    assert_eq!(ready[0].offset, 1);
}

#[test]
fn moving_an_unassigned_partition_is_an_error() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    assert!(matches!(
        t.seek(&tp, Offset::At(1)),
        Err(Error::NotAssigned { .. })
    ));
    assert!(t.pause(std::slice::from_ref(&tp)).is_err());
    assert!(t.store(&tp, 3).is_err());
}

#[test]
fn removal_returns_final_uncommitted_offsets_and_commits_never_move_backwards() {
    let t = table(&[]);
    let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let committed = |offset| {
        Some(super::Committed {
            offset,
            leader_epoch: None,
        })
    };
    t.assign_committed(
        &[(a.clone(), committed(4)), (b.clone(), None)],
        crate::types::Event::Assigned(Vec::new()),
    );
    t.store(&a, 4).unwrap();
    t.store(&b, 2).unwrap();
    t.mark_committed(&[(b.clone(), 2)]);
    t.mark_committed(&[(b.clone(), 1)]);
    assert_eq!(t.pending_offsets(None), Vec::new(), "4 and 2 are committed");
    t.store(&a, 9).unwrap();
    assert_eq!(t.remove(&[a.clone(), b.clone()]), [(a, 9)]);
    assert!(t.assigned().is_empty());
}

#[test]
fn leader_changes_send_the_partition_back_to_the_manager() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    let outcome = FetchOutcome::Error(KafkaCode::NOT_LEADER_OR_FOLLOWER);
    assert!(t.apply_fetch(&r, outcome, Instant::now()));
    assert!(
        t.take_ready(1, Instant::now()).0.is_empty(),
        "no leader now"
    );
    let (missing, _) = t.topics_needing_metadata(Instant::now());
    assert!(missing.contains("t"));
}

#[test]
fn out_of_range_without_a_reset_policy_fails_the_partition_with_an_error() {
    let t = table(&[("auto.offset.reset", "error")]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(50))]);
    let r = take(&t, &tp);
    let outcome = FetchOutcome::Error(KafkaCode::OFFSET_OUT_OF_RANGE);
    assert!(!t.apply_fetch(&r, outcome, Instant::now()));
    assert_eq!(drain(&t), ["err"]);
    assert!(t.take_ready(1, Instant::now()).0.is_empty(), "failed");
}

#[test]
fn auto_offset_reset_error_without_an_offset_reports_the_error_once_and_stays_stopped() {
    let t = table(&[("auto.offset.reset", "error")]);
    let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    t.add(&[(a.clone(), Offset::Default), (b.clone(), Offset::At(0))]);
    assert_eq!(drain(&t), ["err"], "assigning with Default");
    t.seek(&b, Offset::Stored).unwrap();
    assert_eq!(drain(&t), ["err"], "seeking to Stored");
    assert_eq!(drain(&t), Vec::<String>::new(), "exactly once");
    assert!(t.take_ready(1, Instant::now()).0.is_empty(), "both stopped");
    assert!(t.take_lookups(Instant::now()).is_empty());
}

#[test]
fn a_partition_left_out_of_an_incremental_response_at_the_end_reports_eof() {
    let t = table(&[("enable.partition.eof", "true")]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 0..3, 3), Instant::now());
    assert_eq!(drain(&t), ["m0", "m1", "m2", "eof3"]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, FetchOutcome::Unchanged, Instant::now());
    assert_eq!(
        drain(&t),
        Vec::<String>::new(),
        "one EOF per arrival at the end"
    );
    t.seek(&tp, Offset::At(3)).unwrap();
    let r = take(&t, &tp);
    t.apply_fetch(&r, FetchOutcome::Unchanged, Instant::now());
    assert_eq!(drain(&t), ["eof3"], "the seek re-arms EOF");
    t.seek(&tp, Offset::At(1)).unwrap();
    let r = take(&t, &tp);
    t.apply_fetch(&r, FetchOutcome::Unchanged, Instant::now());
    assert_eq!(drain(&t), Vec::<String>::new(), "not at the end");
}

#[test]
fn a_fetch_without_progress_grows_the_partition_limit_then_reports_a_typed_error_with_backoff() {
    let t = table(&[
        ("max.partition.fetch.bytes", "1000"),
        ("fetch.max.bytes", "3000"),
    ]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(4))]);
    let incomplete = || FetchOutcome::Incomplete {
        watermarks: Watermarks {
            log_start_offset: 0,
            high_watermark: 10,
            last_stable_offset: 10,
        },
    };
    let later = Instant::now() + std::time::Duration::from_secs(60);
    let mut limits = Vec::new();
    for _ in 0..2 {
        let r = take(&t, &tp);
        assert_eq!(r.offset, 4);
        limits.push(r.max_bytes);
        t.apply_fetch(&r, incomplete(), later);
        assert_eq!(
            drain(&t),
            Vec::<String>::new(),
            "no error while the limit grows"
        );
    }
    assert_eq!(limits, [1000, 2000]);
    let r = take(&t, &tp);
    assert_eq!(r.max_bytes, 3000, "grown up to fetch.max.bytes");
    t.apply_fetch(&r, incomplete(), later);
    let errors: Vec<Error> = std::iter::from_fn(|| t.buffer.pop())
        .filter_map(|p| match p {
            Popped::Error { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            errors[..],
            [Error::NoProgress {
                offset: 4,
                max_bytes: 3000,
                ..
            }]
        ),
        "{errors:?}"
    );
    assert!(
        t.take_ready(1, Instant::now()).0.is_empty(),
        "backed off, no hot loop"
    );
    // Progress at last: the limit returns to max.partition.fetch.bytes.
    t.lock().get_mut(&tp).unwrap().backoff_until = None;
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 4..6, 10), Instant::now());
    assert_eq!(take(&t, &tp).max_bytes, 1000);
}

#[test]
fn the_position_and_stored_offset_move_past_trailing_markers_once_the_messages_before_are_out() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    // Records 0..3, then a COMMIT marker at 3 and an aborted batch at 4: next offset 5.
    let FetchOutcome::Data {
        batches,
        watermarks,
        ..
    } = data(&tp, 0..3, 5)
    else {
        unreachable!()
    };
    let outcome = FetchOutcome::Data {
        batches,
        next_offset: 5,
        last_epoch: None,
        error: None,
        watermarks,
    };
    t.apply_fetch(&r, outcome, Instant::now());
    assert_eq!(drain(&t), ["m0", "m1", "m2"]);
    assert_eq!(t.position(&tp), Some(5));
    assert_eq!(t.lag(&tp), Some(0));
    assert_eq!(t.pending_offsets(None), [(tp.clone(), 5)]);
    // A fetch holding only a marker moves them too.
    let r = take(&t, &tp);
    let only_marker = FetchOutcome::Data {
        batches: Vec::new(),
        next_offset: 6,
        last_epoch: None,
        error: None,
        watermarks,
    };
    t.apply_fetch(&r, only_marker, Instant::now());
    assert_eq!(drain(&t), Vec::<String>::new());
    assert_eq!(t.position(&tp), Some(6));
}

#[test]
fn an_out_of_range_reset_makes_what_was_buffered_before_it_stale() {
    let t = table(&[("auto.offset.reset", "earliest")]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 0..3, 10), Instant::now());
    let r = take(&t, &tp);
    let outcome = FetchOutcome::Error(KafkaCode::OFFSET_OUT_OF_RANGE);
    assert!(
        t.apply_fetch(&r, outcome, Instant::now()),
        "the manager resolves it"
    );
    assert_eq!(
        drain(&t),
        Vec::<String>::new(),
        "records from before the reset"
    );
    assert_eq!(t.position(&tp), None, "unknown until the reset resolves");
    let lookups = t.take_lookups(Instant::now());
    assert_eq!(lookups[&1].len(), 1, "the reset is looked up");
}

#[test]
fn a_commit_after_a_backward_seek_sends_the_lower_offset() {
    let t = table(&[]);
    let tp = TopicPartition::new("t", 0);
    t.add(&[(tp.clone(), Offset::At(0))]);
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 0..10, 10), Instant::now());
    assert_eq!(drain(&t).len(), 10);
    t.mark_committed(&[(tp.clone(), 10)]);
    assert_eq!(t.pending_offsets(None), Vec::new());
    t.seek(&tp, Offset::At(3)).unwrap();
    assert_eq!(
        t.pending_offsets(None),
        [(tp.clone(), 3)],
        "right after the seek"
    );
    let r = take(&t, &tp);
    t.apply_fetch(&r, data(&tp, 3..5, 10), Instant::now());
    assert_eq!(drain(&t), ["m3", "m4"]);
    assert_eq!(
        t.pending_offsets(None),
        [(tp.clone(), 5)],
        "after consuming on"
    );
    t.mark_committed(&[(tp.clone(), 5)]);
    assert_eq!(t.pending_offsets(None), Vec::new());
}

#[test]
fn stats_measure_lag_against_the_lso_under_read_committed_and_the_hw_otherwise() {
    for (isolation, end) in [("read_committed", 7), ("read_uncommitted", 10)] {
        let t = table(&[("isolation.level", isolation)]);
        let tp = TopicPartition::new("t", 0);
        t.add(&[(tp.clone(), Offset::At(0))]);
        let r = take(&t, &tp);
        let outcome = FetchOutcome::Data {
            batches: batches(0..3),
            next_offset: 3,
            last_epoch: None,
            error: None,
            watermarks: Watermarks {
                log_start_offset: 0,
                high_watermark: 10,
                last_stable_offset: 7,
            },
        };
        t.apply_fetch(&r, outcome, Instant::now());
        drain(&t);
        t.mark_committed(&[(tp.clone(), 1)]);
        let stats = t.stats();
        assert_eq!(stats.len(), 1);
        let s = &stats[0];
        assert_eq!((s.position, s.committed), (Some(3), Some(1)), "{isolation}");
        assert_eq!(
            (s.high_watermark, s.last_stable_offset),
            (Some(10), Some(7))
        );
        assert_eq!(s.end, Some(end), "{isolation}");
        assert_eq!(s.lag, Some(end - 3), "{isolation}");
        assert_eq!(s.committed_lag, Some(end - 1), "{isolation}");
        assert!(!s.paused);
        t.pause(std::slice::from_ref(&tp)).unwrap();
        assert!(t.stats()[0].paused);
        t.remove(std::slice::from_ref(&tp));
        assert!(t.stats().is_empty(), "a removed partition is not reported");
    }
}
