//! `Event::Assigned` reaches the application before any message of the partitions it names,
//! however long the `on_assigned` listener takes: the event enters the buffer together with
//! the partitions, before the fetcher can fetch them.

mod support;

use std::{sync::Arc, time::Duration};

use rskafka_consumer::{Consumer, Event, TopicPartition, group::member::RebalanceListener};
use support::{create_topic, group_config, produce, unique};

/// Holds the group task in `on_assigned` (a slow application callback) while the rest of
/// the runtime goes on (`block_in_place` hands this worker's queued tasks to another thread).
struct SlowOnAssigned;

impl RebalanceListener for SlowOnAssigned {
    fn on_assigned(&self, _partitions: &[TopicPartition]) {
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_secs(3)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assigned_event_precedes_every_message_of_its_partitions() {
    let topic = unique("assigned-order");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "20"]);
    let consumer = Consumer::new(group_config(&unique("assigned-order-group"), &[]))
        .await
        .unwrap();
    consumer
        .subscribe_with(&[&topic], Some(Arc::new(SlowOnAssigned)))
        .unwrap();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        match consumer.poll_event(Duration::from_millis(500)).await {
            Some(Ok(Event::Assigned(_))) => seen.push("assigned".to_owned()),
            Some(Ok(Event::Message(m))) => seen.push(format!("m{}", m.offset)),
            _ => {}
        }
        if seen.iter().filter(|s| s.starts_with('m')).count() == 20 {
            break;
        }
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("assigned"),
        "first of {seen:?}"
    );
    assert_eq!(seen.len(), 21, "{seen:?}");
    consumer.close().await;
}
