//! The library's `Consumer` against the real broker: assign, poll (zero and finite timeouts),
//! the stream, seek, pause/resume, position, watermarks, and the bounded prefetch buffer.

mod support;

use std::time::Duration;

use futures::StreamExt;
use rskafka_consumer::{Consumer, ConsumerConfig, Event, Message, Offset, TopicPartition};
use support::{bootstrap, create_topic, produce, unique};

const WAIT: Duration = Duration::from_secs(30);

async fn consumer(properties: &[&str]) -> Consumer {
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.apply_pairs(properties.iter().copied()).unwrap();
    Consumer::new(config).await.unwrap()
}

/// Topic with one partition holding `count` records `value-0…`.
fn topic_with(count: usize) -> (String, TopicPartition) {
    let topic = unique("api");
    create_topic(&topic, 1);
    produce(
        &topic,
        &["--count", &count.to_string(), "--flush-every", "25"],
    );
    let tp = TopicPartition::new(topic.as_str(), 0);
    (topic, tp)
}

async fn take(consumer: &Consumer, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    while out.len() < n {
        match consumer.poll(WAIT).await {
            Some(Ok(m)) => out.push(m),
            Some(Err(e)) => panic!("unexpected error: {e}"),
            None => panic!("timed out after {} of {n} messages", out.len()),
        }
    }
    out
}

fn offsets(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.offset).collect()
}

#[tokio::test]
async fn poll_returns_messages_in_order_with_their_content_and_position_follows() {
    let (topic, tp) = topic_with(50);
    let c = consumer(&[]).await;
    c.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    let got = take(&c, 50).await;
    assert_eq!(offsets(&got), (0..50).collect::<Vec<_>>());
    assert_eq!(got[7].value.as_deref(), Some(&b"value-7"[..]));
    assert_eq!(got[7].key.as_deref(), Some(&b"key-7"[..]));
    assert_eq!(&*got[7].topic, topic.as_str());
    assert!(got[7].timestamp > 0);
    assert_eq!(c.position(&tp), Some(50));
    let w = c.watermarks(&tp).expect("watermarks after a fetch");
    assert_eq!(
        (w.log_start_offset, w.high_watermark, w.last_stable_offset),
        (0, 50, 50)
    );
    c.close().await;
}

#[tokio::test]
async fn zero_timeout_poll_never_waits_and_finds_nothing_at_the_end() {
    let (_topic, tp) = topic_with(5);
    let c = consumer(&[]).await;
    c.assign([(tp, Offset::End)]).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert!(c.poll(Duration::ZERO).await.is_none());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "zero timeout must not block"
    );
    assert!(c.poll(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn seek_moves_the_next_message_and_drops_what_was_prefetched() {
    let (_topic, tp) = topic_with(100);
    let c = consumer(&[]).await;
    c.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    assert_eq!(offsets(&take(&c, 3).await), [0, 1, 2]);
    c.seek(&tp, Offset::At(60)).unwrap();
    assert_eq!(offsets(&take(&c, 2).await), [60, 61]);
    c.seek(&tp, Offset::Beginning).unwrap();
    assert_eq!(offsets(&take(&c, 1).await), [0]);
    c.seek(&tp, Offset::End).unwrap();
    assert!(c.poll(Duration::from_millis(500)).await.is_none());
    // The end is looked up with ListOffsets; the position is known once it answered.
    let deadline = std::time::Instant::now() + WAIT;
    while c.position(&tp).is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.position(&tp), Some(100));
    let other = TopicPartition::new("not-assigned", 0);
    assert!(c.seek(&other, Offset::Beginning).is_err());
}

#[tokio::test]
async fn paused_partition_yields_nothing_and_resumes_where_the_application_stopped() {
    let (_topic, tp) = topic_with(100);
    let c = consumer(&[]).await;
    c.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    assert_eq!(offsets(&take(&c, 10).await), (0..10).collect::<Vec<_>>());
    c.pause(std::slice::from_ref(&tp)).unwrap();
    assert!(c.poll(Duration::from_millis(700)).await.is_none(), "paused");
    c.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(offsets(&take(&c, 90).await), (10..100).collect::<Vec<_>>());
}

#[tokio::test]
async fn stream_yields_messages_then_one_eof_per_partition() {
    let topic = unique("api-stream");
    create_topic(&topic, 2);
    produce(&topic, &["--count", "4", "--partition", "1"]);
    let c = consumer(&["enable.partition.eof=true"]).await;
    c.assign((0..2).map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut stream = Box::pin(c.stream());
    let mut messages = 0;
    let mut eofs = Vec::new();
    while eofs.len() < 2 {
        let event = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("stream event in time")
            .expect("stream open")
            .expect("no error");
        match event {
            Event::Message(m) => {
                assert_eq!(m.partition, 1);
                messages += 1;
            }
            Event::PartitionEof {
                partition, offset, ..
            } => eofs.push((partition, offset)),
            other => panic!("no group events without a group: {other:?}"),
        }
    }
    eofs.sort();
    assert_eq!(messages, 4);
    assert_eq!(eofs, [(0, 0), (1, 4)]);
}

#[tokio::test]
async fn prefetch_stays_within_the_buffer_budget_while_the_application_does_not_poll() {
    let topic = unique("api-budget");
    create_topic(&topic, 1);
    // ~2.5 MB of data against a 256 KiB budget, in ~20 KB batches (a batch larger than
    // max.partition.fetch.bytes would be returned whole, KIP-74).
    produce(
        &topic,
        &[
            "--count",
            "1200",
            "--value",
            &"x".repeat(2000),
            "--flush-every",
            "10",
        ],
    );
    let tp = TopicPartition::new(topic.as_str(), 0);
    let c = consumer(&[
        "queued.max.messages.kbytes=256",
        "max.partition.fetch.bytes=65536",
    ])
    .await;
    c.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    assert!(c.poll(WAIT).await.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The fetcher stops once over budget; one fetch (≤ max.partition.fetch.bytes of records,
    // plus per-message overhead) may land past it.
    let buffered = c.buffered_bytes();
    assert!(buffered > 0, "prefetched ahead of the application");
    assert!(
        buffered < 256 * 1024 + 2 * 65_536,
        "buffered {buffered} bytes"
    );
    let rest = take(&c, 1199).await;
    assert_eq!(rest.last().map(|m| m.offset), Some(1199));
}

#[tokio::test]
async fn auto_offset_reset_error_without_an_offset_surfaces_the_error_and_stays_stopped() {
    let (_topic, tp) = topic_with(3);
    let c = consumer(&["auto.offset.reset=error"]).await;
    c.assign([(tp.clone(), Offset::Default)]).unwrap();
    match c.poll(Duration::from_secs(5)).await {
        Some(Err(rskafka_consumer::Error::OffsetOutOfRange { partition, .. })) => {
            assert_eq!(partition, 0)
        }
        other => panic!("expected the OffsetOutOfRange error, got {other:?}"),
    }
    // Stopped: nothing more (no message, no second error) until the application seeks.
    assert!(c.poll(Duration::from_secs(2)).await.is_none());
    c.seek(&tp, Offset::Beginning).unwrap();
    assert_eq!(offsets(&take(&c, 3).await), [0, 1, 2]);
    c.close().await;
}

#[tokio::test]
async fn offset_stored_starts_at_the_groups_committed_offset_else_at_auto_offset_reset() {
    let (topic, tp) = topic_with(6);
    let group = unique("stored");
    // The group commits offset 2: rkc consumes two records and commits them.
    let out = support::rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-G",
            &group,
            "-c",
            "2",
            "--commit",
            "sync",
            "-X",
            "auto.offset.reset=earliest",
        ],
        WAIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(support::group_offsets(&group, &topic)[&0], 2);

    let group_id = format!("group.id={group}");
    let c = consumer(&[&group_id, "auto.offset.reset=earliest"]).await;
    c.assign([(tp.clone(), Offset::Stored)]).unwrap();
    assert_eq!(
        offsets(&take(&c, 4).await),
        [2, 3, 4, 5],
        "from the committed offset"
    );
    c.seek(&tp, Offset::At(5)).unwrap();
    assert_eq!(offsets(&take(&c, 1).await), [5]);
    c.seek(&tp, Offset::Stored).unwrap();
    assert_eq!(
        offsets(&take(&c, 1).await),
        [2],
        "seek to Stored reads it again"
    );
    c.close().await;

    // Nothing committed: auto.offset.reset decides.
    let fresh = format!("group.id={}", unique("stored-none"));
    let c = consumer(&[&fresh, "auto.offset.reset=earliest"]).await;
    c.assign([(tp.clone(), Offset::Stored)]).unwrap();
    assert_eq!(offsets(&take(&c, 6).await), [0, 1, 2, 3, 4, 5]);
    c.close().await;
}

#[tokio::test]
async fn a_commit_after_a_backward_seek_commits_the_lower_offset() {
    let (topic, tp) = topic_with(10);
    let group = unique("seek-back");
    let group_id = format!("group.id={group}");
    let c = consumer(&[
        &group_id,
        "auto.offset.reset=earliest",
        "enable.auto.commit=false",
    ])
    .await;
    c.subscribe(&[&topic]).unwrap();
    assert_eq!(offsets(&take(&c, 10).await), (0..10).collect::<Vec<_>>());
    c.commit().await.unwrap();
    assert_eq!(support::group_offsets(&group, &topic)[&0], 10);
    c.seek(&tp, Offset::At(3)).unwrap();
    c.commit().await.unwrap();
    assert_eq!(
        support::group_offsets(&group, &topic)[&0],
        3,
        "right after the seek"
    );
    assert_eq!(offsets(&take(&c, 2).await), [3, 4]);
    c.commit().await.unwrap();
    assert_eq!(
        support::group_offsets(&group, &topic)[&0],
        5,
        "after consuming on"
    );
    c.close().await;
}
