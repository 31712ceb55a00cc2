//! Cancel safety of `Consumer::stream` and `Consumer::poll` (the runner and applications race
//! them against timers in `select!`): a dropped poll loses no record and hands none out twice,
//! and a stream whose `next()` was dropped no longer counts as polling for
//! `max.poll.interval.ms`.

mod support;

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rskafka_consumer::{Consumer, ConsumerConfig, Event, Offset, TopicPartition};
use support::{bootstrap, create_topic, group_config, produce, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_dropped_by_a_racing_timer_lose_no_record_and_repeat_none() {
    let topic = unique("stream-cancel");
    create_topic(&topic, 1);
    // Written while the consumer reads, in small flushes: polls both find records ready and
    // wait for them, and the timer cancels them in either state.
    let producer = tokio::task::spawn_blocking({
        let topic = topic.clone();
        move || {
            produce(
                &topic,
                &["--count", "300", "--flush-every", "10", "--pause-ms", "20"],
            )
        }
    });
    let mut config = ConsumerConfig::new(bootstrap()).unwrap();
    config.set("auto.offset.reset", "earliest").unwrap();
    let consumer = Consumer::new(config).await.unwrap();
    consumer
        .assign([(TopicPartition::new(topic.as_str(), 0), Offset::Beginning)])
        .unwrap();
    let mut offsets = Vec::new();
    let (mut cancelled_stream, mut cancelled_poll) = (0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream = consumer.stream();
    tokio::pin!(stream);
    while offsets.len() < 300 && Instant::now() < deadline {
        // Alternate: the stream raced against a timer, then `poll` under a tiny timeout.
        tokio::select! {
            event = stream.next() => {
                if let Some(Ok(Event::Message(m))) = event {
                    offsets.push(m.offset);
                }
            }
            _ = tokio::time::sleep(Duration::from_micros(200)) => cancelled_stream += 1,
        }
        match tokio::time::timeout(
            Duration::from_micros(200),
            consumer.poll(Duration::from_secs(1)),
        )
        .await
        {
            Ok(Some(Ok(m))) => offsets.push(m.offset),
            Ok(_) => {}
            Err(_) => cancelled_poll += 1,
        }
    }
    eprintln!("cancelled: {cancelled_stream} stream polls, {cancelled_poll} polls");
    assert!(
        cancelled_stream > 0 && cancelled_poll > 0,
        "the race must cancel some polls"
    );
    assert_eq!(offsets, (0..300).collect::<Vec<i64>>());
    producer.await.unwrap();
}

/// A group member with `max.poll.interval.ms` 2 s, subscribed to a new 1-partition topic
/// named after `name`.
async fn subscribed_with_a_2_s_poll_interval(name: &str) -> Consumer {
    let topic = unique(name);
    create_topic(&topic, 1);
    let config = group_config(
        &unique(&format!("g-{name}")),
        &["max.poll.interval.ms=2000"],
    );
    let consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    consumer
}

/// Reads `stream` until its partitions are assigned (at most 60 s).
async fn until_assigned(
    stream: &mut (impl Stream<Item = rskafka_consumer::Result<Event>> + Unpin),
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "never assigned");
        if let Ok(Some(Ok(Event::Assigned(_)))) =
            tokio::time::timeout(Duration::from_secs(1), stream.next()).await
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_next_was_dropped_no_longer_counts_as_polling() {
    let consumer = subscribed_with_a_2_s_poll_interval("stream-idle").await;
    let stream = consumer.stream();
    tokio::pin!(stream);
    until_assigned(&mut stream).await;
    // One more `next()`, dropped by its timeout: the application then stops polling.
    let _ = tokio::time::timeout(Duration::from_millis(100), stream.next()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        match event {
            Err(e) => seen.push(e.to_string()),
            Ok(Event::Lost(_)) => seen.push("lost".into()),
            Ok(_) => {}
        }
    }
    assert!(
        seen.iter().any(|e| e.contains("max.poll.interval.ms")),
        "5 s without a poll (max.poll.interval.ms 2 s) must leave the group: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_awaiting_the_stream_longer_than_max_poll_interval_keeps_polling() {
    let consumer = subscribed_with_a_2_s_poll_interval("stream-await").await;
    let stream = consumer.stream();
    tokio::pin!(stream);
    until_assigned(&mut stream).await;
    // One `next()` awaited for 6 s with nothing to read: polling all along.
    let awaited = tokio::time::timeout(Duration::from_secs(6), stream.next()).await;
    assert!(awaited.is_err(), "nothing to read, got {awaited:?}");
    let mut seen = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(1), stream.next()).await {
        match event {
            Err(e) => seen.push(e.to_string()),
            Ok(Event::Lost(_) | Event::Revoked(_)) => seen.push("lost or revoked".into()),
            Ok(_) => {}
        }
    }
    assert!(seen.is_empty(), "still in the group: {seen:?}");
    assert_eq!(consumer.assignment().len(), 1);
}
