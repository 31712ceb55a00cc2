//! Consumer groups shared with librdkafka (confluent-kafka, `tests/peers/group_member.py`) on a
//! real broker: our member and a librdkafka member split a topic under the same assignor, either
//! one leading; offsets committed by one are where the other starts.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use rskafka_consumer::TopicPartition;
use support::{
    GroupPeer, OurMember, bootstrap, create_topic, describe_group, disjoint_and_complete,
    group_offsets, partition_numbers, produce, rkc_run, unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);

/// Pumps both members until their assignments (each tracked from its own events) are disjoint
/// and complete over the 6 partitions, and ours matches `Consumer::assignment()`.
async fn converge(ours: &mut OurMember, peer: &mut GroupPeer, topic: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        ours.pump().await;
        peer.pump();
        if disjoint_and_complete(&[&ours.owned, &peer.owned], topic, 6)
            && ours.events_match_assignment()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}\n{}",
            ours.describe(),
            peer.describe()
        );
    }
}

/// Pumps both for `duration` and asserts that neither saw another rebalance event.
async fn assert_stable(ours: &mut OurMember, peer: &mut GroupPeer, duration: Duration) {
    let (ours_before, peer_before) = (ours.events.len(), peer.rebalance_events().len());
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        ours.pump().await;
        peer.pump();
    }
    assert_eq!(
        (ours.events.len(), peer.rebalance_events().len()),
        (ours_before, peer_before),
        "the group rebalanced again after converging\n{}\n{}",
        ours.describe(),
        peer.describe()
    );
}

/// What the broker stored as each member's assignment (decoded by librdkafka's AdminClient)
/// is what the members report, and the group runs `strategy`.
fn assert_broker_view(group: &str, strategy: &str, expected: &[&BTreeSet<(String, i32)>]) {
    let d = describe_group(group);
    assert_eq!(d["state"], "STABLE", "{d}");
    assert_eq!(d["protocol"], strategy, "{d}");
    let mut stored: Vec<Vec<(String, i32)>> = d["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            m["assignment"]
                .as_array()
                .expect("assignment")
                .iter()
                .map(|tp| {
                    (
                        tp[0].as_str().unwrap().to_owned(),
                        tp[1].as_i64().unwrap() as i32,
                    )
                })
                .collect()
        })
        .collect();
    stored.sort();
    let mut reported: Vec<Vec<(String, i32)>> = expected
        .iter()
        .map(|s| s.iter().cloned().collect())
        .collect();
    reported.sort();
    assert_eq!(stored, reported, "broker's view of the assignment: {d}");
}

/// The range assignor gives each of 2 members 3 consecutive partitions of a 6-partition topic.
fn assert_range_shape(set: &BTreeSet<(String, i32)>) {
    let p = partition_numbers(set);
    assert!(
        p == [0, 1, 2] || p == [3, 4, 5],
        "range over 6 partitions and 2 members gives 0-2 / 3-5, got {p:?}"
    );
}

async fn mixed_group(strategy: &str, ours_first: bool) {
    let topic = unique("grp-mix");
    create_topic(&topic, 6);
    let group = unique("g-mix");
    let strategy_property = format!("partition.assignment.strategy={strategy}");
    let (mut ours, mut peer) = if ours_first {
        let mut ours = OurMember::start("ours", &group, &[&topic], &[&strategy_property]).await;
        let deadline = Instant::now() + WAIT;
        while ours.owned.len() < 6 {
            assert!(Instant::now() < deadline, "{}", ours.describe());
            ours.pump().await;
        }
        (ours, GroupPeer::spawn(&group, &topic, strategy, &[]))
    } else {
        let mut peer = GroupPeer::spawn(&group, &topic, strategy, &[]);
        tokio::task::block_in_place(|| {
            peer.wait_until(WAIT, "owns all 6 alone", |p| p.owned.len() == 6)
        });
        let ours = OurMember::start("ours", &group, &[&topic], &[&strategy_property]).await;
        (ours, peer)
    };
    converge(
        &mut ours,
        &mut peer,
        &topic,
        "our member and librdkafka split 6",
    )
    .await;
    assert_stable(&mut ours, &mut peer, Duration::from_secs(2)).await;
    assert_eq!(ours.owned.len(), 3, "{}", ours.describe());
    assert_eq!(peer.owned.len(), 3, "{}", peer.describe());
    if strategy == "range" {
        assert_range_shape(&ours.owned);
        assert_range_shape(&peer.owned);
    }
    tokio::task::block_in_place(|| {
        assert_broker_view(&group, strategy, &[&ours.owned, &peer.owned])
    });
    assert!(ours.errors.is_empty(), "{}", ours.describe());

    // The librdkafka member leaves (close(): LeaveGroup): ours takes over everything.
    peer.request_stop();
    let deadline = Instant::now() + WAIT;
    loop {
        ours.pump().await;
        peer.pump();
        if ours.owned.len() == 6 && ours.events_match_assignment() && peer.closed() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "our member did not take over all 6\n{}\n{}",
            ours.describe(),
            peer.describe()
        );
    }
    assert!(
        peer.owned.is_empty(),
        "librdkafka revoked everything on close: {}",
        peer.describe()
    );
    tokio::task::block_in_place(|| peer.process.wait_success(WAIT));
    let all: BTreeSet<(String, i32)> = (0..6).map(|p| (topic.clone(), p)).collect();
    assert_eq!(ours.owned, all);
    assert!(ours.errors.is_empty(), "{}", ours.describe());
    ours.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_mixed_group_with_our_member_leading_splits_disjointly_and_ours_takes_all_when_librdkafka_leaves()
 {
    mixed_group("range", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_mixed_group_with_librdkafka_leading_splits_disjointly_and_ours_takes_all_when_librdkafka_leaves()
 {
    mixed_group("range", false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_mixed_group_with_our_member_leading_converges_disjoint_and_complete() {
    mixed_group("cooperative-sticky", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_mixed_group_with_librdkafka_leading_converges_disjoint_and_complete() {
    mixed_group("cooperative-sticky", false).await;
}

/// Offsets of `messages` (`(partition, offset)`) per partition, in order.
fn by_partition(messages: &[(i32, i64)]) -> BTreeMap<i32, Vec<i64>> {
    let mut out: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in messages {
        out.entry(*p).or_default().push(*o);
    }
    out
}

/// Produces `per_partition` records to each of `partitions` partitions.
fn fill(topic: &str, partitions: i32, per_partition: i64) {
    for p in 0..partitions {
        produce(
            topic,
            &[
                "--partition",
                &p.to_string(),
                "--count",
                &per_partition.to_string(),
            ],
        );
    }
}

/// The first consumer read `first` (contiguous from 0 per partition); the second, in the same
/// group, must read exactly the rest: from one past the first's last offset to the end.
fn assert_second_starts_where_first_stopped(
    first: &BTreeMap<i32, Vec<i64>>,
    second: &BTreeMap<i32, Vec<i64>>,
    partitions: i32,
    per_partition: i64,
) {
    for p in 0..partitions {
        let read = first.get(&p).cloned().unwrap_or_default();
        assert_eq!(
            read,
            (0..read.len() as i64).collect::<Vec<_>>(),
            "partition {p}: the first consumer reads from 0 without gaps"
        );
        let next = read.len() as i64;
        let rest = second.get(&p).cloned().unwrap_or_default();
        assert_eq!(
            rest,
            (next..per_partition).collect::<Vec<_>>(),
            "partition {p}: the first consumer committed {next}; the second must read exactly \
             {next}..{per_partition} (nothing earlier, nothing skipped)"
        );
    }
}

#[test]
fn offsets_committed_by_rkc_are_where_a_librdkafka_member_of_the_group_starts() {
    let topic = unique("grp-off-rkc");
    create_topic(&topic, 3);
    let group = unique("g-off-rkc");
    fill(&topic, 3, 20);
    let out = rkc_run(
        &[
            "consume",
            "-b",
            bootstrap(),
            "-t",
            &topic,
            "-G",
            &group,
            "--commit",
            "sync",
            "-c",
            "25",
            "-o",
            "beginning",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ],
        WAIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.messages.len(), 25, "{}", out.stderr);
    let first = by_partition(
        &out.messages
            .iter()
            .map(|m| {
                let (p, o) = support::position(m);
                (p as i32, o)
            })
            .collect::<Vec<_>>(),
    );
    // The broker holds exactly one past the last printed offset per partition read.
    let committed = group_offsets(&group, &topic);
    for (p, offsets) in &first {
        assert_eq!(
            committed.get(p),
            Some(&(offsets.last().unwrap() + 1)),
            "committed offsets {committed:?} after printing {first:?}"
        );
    }

    let mut peer = GroupPeer::spawn(
        &group,
        &topic,
        "range",
        &["--auto-offset-reset", "earliest"],
    );
    peer.wait_until(WAIT, "the 35 records rkc did not print", |p| {
        p.messages().len() >= 35
    });
    // Anything earlier would have arrived first; a little longer to catch extra records.
    peer.pump_for(Duration::from_millis(1500));
    peer.stop(WAIT);
    let second = by_partition(&peer.messages());
    assert_second_starts_where_first_stopped(&first, &second, 3, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_by_librdkafka_are_where_our_member_of_the_group_starts() {
    let topic = unique("grp-off-rdk");
    create_topic(&topic, 3);
    let group = unique("g-off-rdk");
    fill(&topic, 3, 20);
    let mut peer = GroupPeer::spawn(
        &group,
        &topic,
        "range",
        &["--max-messages", "25", "--commit-every", "5"],
    );
    tokio::task::block_in_place(|| {
        peer.wait_until(WAIT, "25 read, committed and closed", |p| p.closed());
        peer.process.wait_success(WAIT);
    });
    peer.pump();
    let first = by_partition(&peer.messages());
    assert_eq!(peer.messages().len(), 25, "{}", peer.describe());
    let committed = tokio::task::block_in_place(|| group_offsets(&group, &topic));
    for (p, offsets) in &first {
        assert_eq!(
            committed.get(p),
            Some(&(offsets.last().unwrap() + 1)),
            "committed {committed:?} after librdkafka read {first:?}"
        );
    }

    let mut ours = OurMember::start("ours", &group, &[&topic], &[]).await;
    let deadline = Instant::now() + WAIT;
    while ours.messages.len() < 35 {
        assert!(Instant::now() < deadline, "{}", ours.describe());
        ours.pump().await;
    }
    ours.pump_for(Duration::from_millis(1500)).await;
    // Our consumer reports the same committed offsets as the broker.
    let tps: Vec<TopicPartition> = (0..3)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let ours_committed = ours.consumer.committed(&tps).await.unwrap();
    for (tp, c) in &ours_committed {
        // Ours has committed nothing yet (auto commit every 5 s may have run: never lower).
        if let Some(expected) = committed.get(&tp.partition) {
            assert!(
                c.is_some_and(|c| c >= *expected),
                "{tp}: committed() = {c:?}, librdkafka committed {expected}"
            );
        }
    }
    let second = by_partition(
        &ours
            .messages
            .iter()
            .map(|(p, o, _)| (*p, *o))
            .collect::<Vec<_>>(),
    );
    assert_second_starts_where_first_stopped(&first, &second, 3, 20);
    assert!(ours.errors.is_empty(), "{}", ours.describe());
    ours.consumer.close().await;
}
