//! Batch delivery (`Consumer::poll_batch`, `Consumer::batches`) against the real broker: every
//! record once and in order per partition, EOF after a partition's messages, `max` honoured,
//! pause/resume and seek between batches, read_committed filtering of interleaved
//! transactions, no record of a revoked partition after its revocation, and a commit after a
//! batch that a librdkafka member of the same group resumes from exactly.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures::StreamExt;
use rskafka_consumer::{Batch, Consumer, ConsumerConfig, Event, Offset, TopicPartition};
use support::{
    GroupPeer, bootstrap, create_topic, group_config, group_offsets, json_lines, peer, produce,
    unique,
};

const WAIT: Duration = Duration::from_secs(30);

async fn consumer(properties: &[&str]) -> Consumer {
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.apply_pairs(properties.iter().copied()).unwrap();
    Consumer::new(config).await.unwrap()
}

/// A topic of `partitions` partitions, each holding `count` records `value-0…` written in
/// batches of 25.
fn filled_topic(partitions: i32, count: usize) -> String {
    let topic = unique("batches");
    create_topic(&topic, partitions as u32);
    for p in 0..partitions {
        produce(
            &topic,
            &[
                "--partition",
                &p.to_string(),
                "--count",
                &count.to_string(),
                "--flush-every",
                "25",
            ],
        );
    }
    topic
}

/// What a sequence of batches handed out, in order.
#[derive(Default, Debug)]
struct Seen {
    /// `(partition, offset, value)` of every message.
    messages: Vec<(i32, i64, String)>,
    /// `(partition, offset)` of every EOF, with the number of messages seen before it.
    eofs: Vec<(i32, i64, usize)>,
    /// Every group event and error, as text, with the number of messages seen before it.
    others: Vec<(String, usize)>,
}

impl Seen {
    fn add(&mut self, batch: &mut Batch, max: usize) {
        assert!(
            batch.len() + batch.events().len() <= max,
            "a batch of {} messages and {} events over max {max}",
            batch.len(),
            batch.events().len()
        );
        for run in batch.runs() {
            assert!(!run.is_empty(), "empty run");
            assert!(
                run.windows(2)
                    .all(|w| w[0].partition == w[1].partition && w[0].offset < w[1].offset),
                "a run is one partition in offset order"
            );
        }
        for m in batch.messages() {
            let value = String::from_utf8_lossy(m.value.as_deref().unwrap_or_default());
            self.messages
                .push((m.partition, m.offset, value.into_owned()));
        }
        for event in batch.take_events() {
            match event {
                Ok(Event::PartitionEof {
                    partition, offset, ..
                }) => self.eofs.push((partition, offset, self.messages.len())),
                Ok(other) => self
                    .others
                    .push((format!("{other:?}"), self.messages.len())),
                Err(e) => self
                    .others
                    .push((format!("error: {e}"), self.messages.len())),
            }
        }
    }

    fn offsets(&self, partition: i32) -> Vec<i64> {
        self.messages
            .iter()
            .filter(|m| m.0 == partition)
            .map(|m| m.1)
            .collect()
    }

    fn at_end(&self, partitions: i32) -> bool {
        let ended: BTreeSet<i32> = self.eofs.iter().map(|e| e.0).collect();
        (0..partitions).all(|p| ended.contains(&p))
    }
}

/// Polls batches of at most `max` until every partition reported EOF.
async fn read_to_end(c: &Consumer, partitions: i32, max: usize, seen: &mut Seen) {
    while !seen.at_end(partitions) {
        let mut batch = c.poll_batch(max, WAIT).await;
        assert!(!batch.is_empty(), "nothing for {WAIT:?}: {seen:?}");
        seen.add(&mut batch, max);
    }
}

#[tokio::test]
async fn poll_batch_hands_out_every_record_once_in_order_per_partition_and_eof_after_them() {
    let topic = filled_topic(3, 200);
    let c = consumer(&["enable.partition.eof=true"]).await;
    c.assign((0..3).map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut seen = Seen::default();
    read_to_end(&c, 3, 10_000, &mut seen).await;
    for p in 0..3 {
        assert_eq!(
            seen.offsets(p),
            (0..200).collect::<Vec<_>>(),
            "partition {p}"
        );
        let eofs: Vec<_> = seen.eofs.iter().filter(|e| e.0 == p).collect();
        assert_eq!(eofs.len(), 1, "one EOF for partition {p}: {:?}", seen.eofs);
        let (_, offset, before) = *eofs[0];
        assert_eq!(offset, 200);
        // Every message of the partition came before its EOF.
        let last = seen.messages.iter().rposition(|m| m.0 == p).unwrap();
        assert!(last < before, "partition {p}: a message after its EOF");
        assert_eq!(
            c.position(&TopicPartition::new(topic.as_str(), p)),
            Some(200)
        );
    }
    let m = seen.messages.iter().find(|m| m.0 == 1 && m.1 == 7).unwrap();
    assert_eq!(m.2, "value-7");
    assert!(seen.others.is_empty(), "{:?}", seen.others);
}

#[tokio::test]
async fn the_stream_of_batches_yields_everything_in_batches_of_at_most_max() {
    let topic = filled_topic(2, 120);
    let c = consumer(&["enable.partition.eof=true"]).await;
    c.assign((0..2).map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut seen = Seen::default();
    let mut batches = 0;
    {
        let mut stream = Box::pin(c.batches(7));
        while !seen.at_end(2) {
            let mut batch = tokio::time::timeout(WAIT, stream.next())
                .await
                .expect("a batch in time")
                .expect("the stream goes on while the consumer is open");
            assert!(!batch.is_empty(), "the stream never yields an empty batch");
            seen.add(&mut batch, 7);
            batches += 1;
        }
    }
    for p in 0..2 {
        assert_eq!(
            seen.offsets(p),
            (0..120).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    assert!(batches >= 240 / 7, "{batches} batches");
}

#[tokio::test]
async fn pause_between_batches_holds_a_partition_and_resume_continues_after_its_last_handed_out() {
    let topic = filled_topic(2, 150);
    let (p0, p1) = (
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    );
    let c = consumer(&["enable.partition.eof=true"]).await;
    c.assign([
        (p0.clone(), Offset::Beginning),
        (p1.clone(), Offset::Beginning),
    ])
    .unwrap();
    let mut seen = Seen::default();
    // Until some of partition 0 was handed out (batches of 10: it is mid-way).
    while seen.offsets(0).is_empty() {
        let mut batch = c.poll_batch(10, WAIT).await;
        assert!(!batch.is_empty());
        seen.add(&mut batch, 10);
    }
    c.pause(std::slice::from_ref(&p0)).unwrap();
    let reached = seen.offsets(0).len();
    // Partition 1 to its end; nothing more of partition 0 meanwhile.
    while !seen.eofs.iter().any(|e| e.0 == 1) {
        let mut batch = c.poll_batch(10, WAIT).await;
        assert!(!batch.is_empty(), "partition 1 goes on: {seen:?}");
        seen.add(&mut batch, 10);
    }
    assert_eq!(
        seen.offsets(0).len(),
        reached,
        "nothing of the paused partition"
    );
    assert_eq!(c.position(&p0), Some(reached as i64));
    c.resume(std::slice::from_ref(&p0)).unwrap();
    while !seen.eofs.iter().any(|e| e.0 == 0) {
        let mut batch = c.poll_batch(10, WAIT).await;
        assert!(!batch.is_empty(), "partition 0 resumes: {seen:?}");
        seen.add(&mut batch, 10);
    }
    assert_eq!(
        seen.offsets(0),
        (0..150).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert_eq!(seen.offsets(1), (0..150).collect::<Vec<_>>());
}

#[tokio::test]
async fn seek_after_part_of_a_batch_run_restarts_exactly_at_the_sought_offset() {
    let topic = filled_topic(1, 100);
    let tp = TopicPartition::new(topic.as_str(), 0);
    let c = consumer(&["enable.partition.eof=true"]).await;
    c.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    // 10 of the first produced batch of 25: the rest of its run stays buffered.
    let mut seen = Seen::default();
    while seen.messages.len() < 10 {
        let mut batch = c.poll_batch(10 - seen.messages.len(), WAIT).await;
        seen.add(&mut batch, 10);
    }
    assert_eq!(seen.offsets(0), (0..10).collect::<Vec<_>>());
    c.seek(&tp, Offset::At(60)).unwrap();
    let mut after = Seen::default();
    while after.messages.len() < 5 {
        let mut batch = c.poll_batch(5 - after.messages.len(), WAIT).await;
        after.add(&mut batch, 5);
    }
    assert_eq!(after.offsets(0), (60..65).collect::<Vec<_>>());
    c.seek(&tp, Offset::At(3)).unwrap();
    let mut back = Seen::default();
    read_to_end(&c, 1, 1000, &mut back).await;
    assert_eq!(back.offsets(0), (3..100).collect::<Vec<_>>());
    assert_eq!(back.eofs.last().map(|e| e.1), Some(100));
}

#[tokio::test]
async fn read_committed_batches_hold_exactly_the_committed_records_of_interleaved_transactions() {
    let topic = unique("batches-txn");
    create_topic(&topic, 3);
    let written = json_lines(
        &peer(
            "transactions.py",
            &[
                bootstrap(),
                &topic,
                "--producers",
                "3",
                "--partitions",
                "3",
                "--rounds",
                "3",
                "--per-txn",
                "3",
            ],
        )
        .stdout,
    );
    let c = consumer(&[
        "enable.partition.eof=true",
        "isolation.level=read_committed",
    ])
    .await;
    c.assign((0..3).map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut seen = Seen::default();
    read_to_end(&c, 3, 4, &mut seen).await;
    for p in 0..3 {
        let committed: Vec<(i64, String)> = written
            .iter()
            .filter(|r| r["partition"] == p && r["committed"] == true)
            .map(|r| {
                (
                    r["offset"].as_i64().unwrap(),
                    r["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let got: Vec<(i64, String)> = seen
            .messages
            .iter()
            .filter(|m| m.0 == p)
            .map(|m| (m.1, m.2.clone()))
            .collect();
        assert!(
            written
                .iter()
                .any(|r| r["partition"] == p && r["committed"] == false),
            "partition {p} has aborted records"
        );
        assert_eq!(got, committed, "partition {p}");
    }
    assert!(seen.others.is_empty(), "{:?}", seen.others);
}

/// One thing a batch handed out, in order: a message's `(partition, offset)`, or an event's
/// `Debug` text.
type Handed = (Option<(i32, i64)>, Option<String>);

/// The partitions of a group event's `Debug` text (`Revoked([TopicPartition { … partition: 2 }])`).
fn event_partitions(text: &str) -> BTreeSet<i32> {
    text.split("partition: ")
        .skip(1)
        .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect()
}

#[tokio::test]
async fn after_a_revocation_no_batch_holds_records_of_a_revoked_partition_until_it_is_assigned_again()
 {
    let topic = filled_topic(4, 400);
    let group = unique("batches-revoke");
    let c = Consumer::new(group_config(&group, &["enable.auto.commit=false"]))
        .await
        .unwrap();
    c.subscribe(&[topic.as_str()]).unwrap();
    // Small batches, so records are still buffered for every partition when B joins.
    let mut log: Vec<Handed> = Vec::new();
    fn take(batch: &mut Batch, log: &mut Vec<Handed>) {
        for m in batch.messages() {
            log.push((Some((m.partition, m.offset)), None));
        }
        for e in batch.take_events() {
            log.push((None, Some(format!("{e:?}"))));
        }
    }
    while !log.iter().any(|e| e.0.is_some()) {
        let mut batch = c.poll_batch(5, WAIT).await;
        take(&mut batch, &mut log);
    }
    let mut b = GroupPeer::spawn(&group, &topic, "range", &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // Until our member was revoked and assigned again (B holds the rest).
    loop {
        let mut batch = c.poll_batch(5, Duration::from_millis(50)).await;
        take(&mut batch, &mut log);
        b.pump();
        let revoked = log
            .iter()
            .position(|e| e.1.as_deref().is_some_and(|t| t.contains("Revoked")));
        if revoked.is_some_and(|r| {
            log[r..]
                .iter()
                .any(|e| e.1.as_deref().is_some_and(|t| t.contains("Assigned")))
        }) && !b.events_of("assigned").is_empty()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no revocation and reassignment: {:?}\n{}",
            log.iter().filter(|e| e.1.is_some()).collect::<Vec<_>>(),
            b.describe()
        );
    }
    // A few more batches after the new assignment.
    for _ in 0..20 {
        let mut batch = c.poll_batch(5, Duration::from_millis(20)).await;
        take(&mut batch, &mut log);
    }
    b.stop(Duration::from_secs(10));
    let mut owned: BTreeSet<i32> = BTreeSet::new();
    for (message, event) in &log {
        match (message, event) {
            (Some((p, o)), _) => assert!(
                owned.contains(p),
                "message {p}@{o} handed out while the partition was not owned (owned {owned:?})"
            ),
            (None, Some(text)) if text.contains("Assigned") => {
                owned.extend(event_partitions(text));
            }
            (None, Some(text)) if text.contains("Revoked") || text.contains("Lost") => {
                for p in event_partitions(text) {
                    owned.remove(&p);
                }
            }
            _ => {}
        }
    }
    assert!(
        log.iter()
            .filter_map(|e| e.1.as_deref())
            .any(|t| t.contains("Revoked")),
        "the member was revoked"
    );
    c.close().await;
}

#[tokio::test]
async fn a_commit_after_batches_lets_a_librdkafka_member_resume_exactly_after_them() {
    let topic = filled_topic(2, 300);
    let group = unique("batches-commit");
    let c = Consumer::new(group_config(&group, &["enable.auto.commit=false"]))
        .await
        .unwrap();
    c.subscribe(&[topic.as_str()]).unwrap();
    // Batches of 33 until both partitions are partly read (not at a produced batch boundary).
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let mut count = 0;
    while last.len() < 2 || count < 200 {
        let batch = c.poll_batch(33, WAIT).await;
        for m in batch.messages() {
            let before = last.insert(m.partition, m.offset);
            assert!(before.is_none_or(|b| b + 1 == m.offset), "in order, no gap");
            count += 1;
        }
    }
    c.commit().await.unwrap();
    let expected: BTreeMap<i32, i64> = last.iter().map(|(p, o)| (*p, o + 1)).collect();
    // Where the batches stopped mid-partition, the peer must start exactly there.
    let mid: BTreeMap<i32, i64> = expected
        .iter()
        .filter(|(_, o)| **o < 300)
        .map(|(p, o)| (*p, *o))
        .collect();
    assert!(!mid.is_empty(), "stopped mid-way somewhere: {expected:?}");
    assert_eq!(group_offsets(&group, &topic), expected, "committed offsets");
    c.unsubscribe(Duration::from_secs(10)).await;
    c.close().await;
    // A librdkafka member of the group starts exactly there.
    let mut b = GroupPeer::spawn(&group, &topic, "range", &[]);
    b.wait_until(WAIT, "messages of the partitions read part-way", |b| {
        let parts: BTreeSet<i32> = b.messages().iter().map(|m| m.0).collect();
        mid.keys().all(|p| parts.contains(p))
    });
    let messages = b.messages();
    for (p, next) in &mid {
        let first = messages.iter().find(|m| m.0 == *p).map(|m| m.1);
        assert_eq!(first, Some(*next), "partition {p}: {}", b.describe());
    }
    b.stop(Duration::from_secs(10));
}
