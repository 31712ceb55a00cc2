//! The member's session and poll clocks against the real broker: a member that was stopped
//! (SIGSTOP) past its session hands out nothing of partitions it may have lost, and time spent
//! waiting inside `poll` counts as polling.

mod support;

use std::time::Duration;

use support::{
    OurMember, RkcProcess, SteadyProducer, bootstrap, create_topic, describe_group,
    disjoint_and_complete, unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(90);

/// `rkc consume -G GROUP --commit sync`, cooperative-sticky, heartbeat 0.5 s.
fn rkc_member(group: &str, topic: &str, session_ms: u32) -> RkcProcess {
    let session = format!("session.timeout.ms={session_ms}");
    RkcProcess::spawn(&[
        "consume",
        "-b",
        bootstrap(),
        "-t",
        topic,
        "-G",
        group,
        "--commit",
        "sync",
        "-X",
        "partition.assignment.strategy=cooperative-sticky",
        "-X",
        &session,
        "-X",
        "heartbeat.interval.ms=500",
        "-X",
        "auto.offset.reset=earliest",
    ])
}

fn group_state(group: &str) -> String {
    let d = describe_group(group);
    d["state"].as_str().unwrap_or_default().to_owned()
}

/// A is stopped while its JoinGroup is parked at the coordinator (the rebalance waits for a
/// dead member with a 20 s session), with records of its partitions already buffered. The
/// stop is simulated in-process: A runs on a current-thread runtime whose only thread sleeps
/// (nothing of A runs, the clock moves on), as under SIGSTOP. The rebalance completes without
/// A's SyncGroup, A is dropped and B takes every partition. When A resumes, the first poll
/// must hand out no buffered record: the session check comes before anything is handed out,
/// and a join in flight does not pause the session clock.
#[tokio::test(flavor = "current_thread")]
async fn a_member_resumed_after_its_session_hands_out_nothing_of_partitions_it_lost() {
    let topic = unique("grp-sigstop");
    create_topic(&topic, 6);
    let group = unique("g-sigstop");
    let producer = SteadyProducer::start(&topic, 6, Duration::from_millis(20));
    let mut a = OurMember::start(
        "A",
        &group,
        &[&topic],
        &["partition.assignment.strategy=cooperative-sticky"],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while a.owned.len() < 6 || a.messages.is_empty() {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    let mut dead = rkc_member(&group, &topic, 20_000);
    loop {
        a.pump_for(Duration::from_millis(100)).await;
        dead.observe_for(Duration::from_millis(20));
        if disjoint_and_complete(&[&a.owned, &dead.owned()], &topic, 6) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", dead.describe());
    }
    dead.signal("KILL");
    let killed = std::time::Instant::now();
    let mut b = rkc_member(&group, &topic, 6000);
    loop {
        a.pump_for(Duration::from_millis(200)).await;
        if group_state(&group).starts_with("PREPARING") {
            break;
        }
        assert!(Instant::now() < deadline, "no rebalance started");
    }
    // A's next heartbeat sees the rebalance and its JoinGroup parks. A stops polling: its
    // fetcher fills the buffer.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let owned_before = a.owned.clone();
    assert!(!owned_before.is_empty());
    // Frozen until the dead member's session ended (20 s after the kill), the rebalance
    // completed without A's SyncGroup (A's 6 s session) and B took over.
    let frozen = Duration::from_secs(20 + 6 + 6).saturating_sub(killed.elapsed());
    std::thread::sleep(frozen);
    let first = a.consumer.poll_event(Duration::ZERO).await;
    match &first {
        Some(Ok(rskafka_consumer::Event::Message(m))) => panic!(
            "after its session lapsed A handed out {} [{}] @ {} before anything else\n{}",
            m.topic,
            m.partition,
            m.offset,
            a.describe()
        ),
        Some(Ok(rskafka_consumer::Event::Lost(_))) => {}
        other => panic!("A's first event after the stop is Lost, not {other:?}"),
    }
    b.wait_until(WAIT, "B owns every partition", |b| b.owned().len() == 6);
    drop(producer);
}

/// An idle subscriber blocked in one long `poll_event` (longer than max.poll.interval.ms,
/// nothing to read) is polling the whole time: it stays in the group, keeps its partitions,
/// and the poll ends with nothing rather than with a "did not poll" error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_blocked_inside_poll_counts_as_polling() {
    let topic = unique("grp-idle-poll");
    create_topic(&topic, 2);
    let group = unique("g-idle-poll");
    let mut a = OurMember::with_config(
        "A",
        support::group_config(&group, &["max.poll.interval.ms=7000"]),
    )
    .await;
    a.subscribe(&[&topic]);
    let deadline = Instant::now() + WAIT;
    while a.owned.len() < 2 {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    let polled = a.consumer.poll_event(Duration::from_secs(12)).await;
    assert!(
        polled.is_none(),
        "a 12 s poll with nothing to read returns nothing, got {polled:?}"
    );
    a.pump_for(Duration::from_millis(500)).await;
    assert!(a.errors.is_empty(), "{}", a.describe());
    assert_eq!(
        a.events.len(),
        1,
        "only the first assignment\n{}",
        a.describe()
    );
    assert_eq!(a.consumer.assignment().len(), 2, "{}", a.describe());
}

/// `unsubscribe` while the member's JoinGroup is parked (the rebalance waits for a dead member
/// with a 20 s session): once it returns, the group task is gone, so the join completing later
/// assigns nothing; a later `subscribe` runs one member, not two. The member is static
/// (`group.instance.id`): it sends no LeaveGroup, so nothing at the coordinator cancels the
/// parked join — only stopping the task does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_during_a_join_stops_the_member_and_a_later_subscribe_runs_one() {
    let topic = unique("grp-unsub-join");
    create_topic(&topic, 2);
    let group = unique("g-unsub-join");
    let mut dead = rkc_member(&group, &topic, 20_000);
    dead.wait_until(WAIT, "the first member owns both partitions", |d| {
        d.owned().len() == 2
    });
    dead.signal("KILL");
    let killed = std::time::Instant::now();
    let instance = unique("static");
    let mut a = OurMember::with_config(
        "A",
        support::group_config(
            &group,
            &[
                &format!("group.instance.id={instance}"),
                "partition.assignment.strategy=cooperative-sticky",
            ],
        ),
    )
    .await;
    a.subscribe(&[&topic]);
    a.pump_for(Duration::from_secs(2)).await;
    assert!(a.owned.is_empty(), "the join waits for the dead member");
    a.consumer.unsubscribe(Duration::from_secs(5)).await;
    // Past the dead member's session: a join still running would complete and assign.
    while killed.elapsed() < Duration::from_secs(26) {
        a.pump_for(Duration::from_millis(500)).await;
    }
    assert!(
        a.consumer.assignment().is_empty() && a.events.is_empty() && a.errors.is_empty(),
        "nothing is assigned after unsubscribe returned\n{}",
        a.describe()
    );
    a.subscribe(&[&topic]);
    let deadline = Instant::now() + WAIT;
    while a.owned.len() < 2 {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    let members = tokio::task::block_in_place(|| describe_group(&group))["members"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(members, 1, "one member after subscribing again");
}

/// A transactional producer holding a pending offset commit for the group (begin, send
/// offsets to the transaction, wait on stdin, then commit the transaction).
const PENDING_TXN_OFFSETS: &str = r#"
import json, sys, uuid
from confluent_kafka import Consumer, Producer, TopicPartition
bootstrap, group, topic, offset = sys.argv[1:5]
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "txn-offsets-" + uuid.uuid4().hex})
p.init_transactions()
p.begin_transaction()
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
p.send_offsets_to_transaction([TopicPartition(topic, 0, int(offset))], c.consumer_group_metadata())
print(json.dumps({"state": "open"}), flush=True)
sys.stdin.readline()
p.commit_transaction()
print(json.dumps({"state": "committed"}), flush=True)
"#;

/// While a transactional offset commit for the group is pending, OffsetFetch (require_stable)
/// answers UNSTABLE_OFFSET_COMMIT: the member retries it (as Java does) and starts at the
/// transaction's offset once it commits, instead of giving up on the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_transactional_offset_commit_delays_the_assignment_and_is_then_used() {
    let topic = unique("grp-unstable-offsets");
    create_topic(&topic, 1);
    support::produce(&topic, &["--partition", "0", "--count", "10"]);
    let group = unique("g-unstable-offsets");
    let script = std::env::temp_dir().join(format!("{}.py", unique("pending-txn-offsets")));
    std::fs::write(&script, PENDING_TXN_OFFSETS).unwrap();
    let mut txn = support::PeerProcess::spawn(
        script.to_str().unwrap(),
        &[bootstrap(), &group, &topic, "6"],
    );
    assert_eq!(txn.read_json(WAIT)["state"], "open");
    let mut a = OurMember::with_config("A", support::group_config(&group, &[])).await;
    a.subscribe(&[&topic]);
    a.pump_for(Duration::from_secs(4)).await;
    assert!(a.messages.is_empty(), "{}", a.describe());
    txn.send_line("commit");
    assert_eq!(txn.read_json(WAIT)["state"], "committed");
    let deadline = Instant::now() + WAIT;
    while a.messages.is_empty() {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    assert_eq!(
        a.messages[0].1,
        6,
        "starts at the transaction's offset\n{}",
        a.describe()
    );
    assert!(a.errors.is_empty(), "{}", a.describe());
    let _ = std::fs::remove_file(&script);
}
