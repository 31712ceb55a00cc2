//! KIP-320 against a real cluster: an unclean leader election truncates the log below the
//! position of two consumers, and both resume at the first offset known to diverge instead of
//! skipping the new leader's records there.
//!
//! A private 3-broker cluster (ports 29500.., controllers 29550..) holds a topic on brokers 1
//! and 2 with `unclean.leader.election.enable`. Broker 2 stops; records 10..15 land on broker 1
//! alone, and both consumers read 0..15: one by assignment (then paused, its fetch position at
//! 15 with the epoch of the last record), one in a group that commits 15 with that record's
//! leader epoch and leaves (read back later both by `Offset::Stored` and by a new member). Broker 1 stops and broker 2 is elected uncleanly: its log ends at 10.
//! Twenty new records take offsets 10..30 in a new epoch. Fetching at 15 would return 15..30 and
//! lose 10..15 of the new leader's records; validating the position (OffsetForLeaderEpoch)
//! moves both consumers back to 10.

mod support;

use std::time::{Duration, Instant};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, Offset, TopicPartition};
use support::{PrivateCluster, unique};

const PORT: u16 = 29500;
const CONTROLLER_OFFSET: u16 = 50;

/// Polls until `n` messages arrived (or 60 s passed): (offset, value) in order.
async fn read(consumer: &Consumer, n: usize) -> Vec<(i64, String)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        match consumer.poll_event(Duration::from_millis(200)).await {
            Some(Ok(Event::Message(m))) => got.push((
                m.offset,
                String::from_utf8_lossy(m.value.as_deref().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => eprintln!("error event: {e}"),
            _ => {}
        }
    }
    got
}

fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(bootstrap).unwrap();
    config.set("auto.offset.reset", "earliest").unwrap();
    for (k, v) in extra {
        config.set(k, v).unwrap();
    }
    config
}

fn expected(offsets: std::ops::Range<i64>, first_index: i64, prefix: &str) -> Vec<(i64, String)> {
    offsets
        .clone()
        .map(|o| (o, format!("{prefix}-{}", first_index + o - offsets.start)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_unclean_leader_election_consumers_resume_at_the_first_offset_known_to_diverge() {
    let cluster = PrivateCluster::start_with_controllers(3, PORT, Some(CONTROLLER_OFFSET));
    let topic = unique("trunc");
    let bootstrap = cluster.bootstrap().to_owned();
    cluster.tool(&[
        "kafka-topics",
        "--bootstrap-server",
        &bootstrap,
        "--create",
        "--topic",
        &topic,
        "--replica-assignment",
        "1:2",
        "--config",
        "min.insync.replicas=1",
        "--config",
        "unclean.leader.election.enable=true",
    ]);
    cluster.produce(&topic, &["--count", "10", "--prefix", "old"]);
    cluster.stop_node(2);
    cluster.produce(
        &topic,
        &["--count", "5", "--start", "10", "--prefix", "old"],
    );
    let tp = TopicPartition::new(topic.as_str(), 0);

    // The assigned consumer reads 0..15 and pauses there.
    let assigned = Consumer::new(config(&bootstrap, &[])).await.unwrap();
    assigned.assign([(tp.clone(), Offset::Beginning)]).unwrap();
    assert_eq!(read(&assigned, 15).await, expected(0..15, 0, "old"));
    assigned.pause(std::slice::from_ref(&tp)).unwrap();

    // The group member reads 0..15, commits 15 (with the epoch of offset 14) and leaves.
    let group = unique("trunc-group");
    let member = Consumer::new(config(
        &bootstrap,
        &[("group.id", &group), ("enable.auto.commit", "false")],
    ))
    .await
    .unwrap();
    member.subscribe(&[&topic]).unwrap();
    assert_eq!(read(&member, 15).await, expected(0..15, 0, "old"));
    member.commit().await.unwrap();
    member.close().await;

    // Unclean election: broker 2, whose log ends at 10, leads; 20 new records at 10..30.
    cluster.stop_node(1);
    cluster.start_node(2);
    let node2 = cluster.node_address(2);
    let written = support::produce_at(
        &node2,
        &topic,
        &["--count", "20", "--start", "100", "--prefix", "new"],
    );
    assert_eq!(
        (
            written[0]["offset"].as_i64(),
            written[19]["offset"].as_i64()
        ),
        (Some(10), Some(29)),
        "the new leader's log was truncated to 10"
    );
    let want = expected(10..30, 100, "new");

    assigned.resume(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(
        read(&assigned, 20).await,
        want,
        "the assigned consumer resumes at 10, not at its position 15"
    );
    assigned.close().await;

    // Offset::Stored reads the committed offset and its epoch as the group's assignment does.
    let stored = Consumer::new(config(&bootstrap, &[("group.id", &group)]))
        .await
        .unwrap();
    stored.assign([(tp.clone(), Offset::Stored)]).unwrap();
    assert_eq!(
        read(&stored, 20).await,
        want,
        "Offset::Stored resumes at 10, not at the committed 15"
    );
    stored.close().await;

    let member = Consumer::new(config(&bootstrap, &[("group.id", &group)]))
        .await
        .unwrap();
    member.subscribe(&[&topic]).unwrap();
    assert_eq!(
        read(&member, 20).await,
        want,
        "the group resumes at 10, not at the committed 15"
    );
    member.close().await;
}
