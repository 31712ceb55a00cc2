//! Closing a group member: bounded when the broker stops answering, never blocking on drop, and
//! `rkc consume -G` handing over cleanly on SIGTERM (commit what was printed, revoke, leave).

mod support;

use std::{collections::BTreeMap, time::Duration};

use rskafka_consumer::ConsumerConfig;
use support::{
    GroupPeer, OurMember, RkcProcess, SteadyProducer, bootstrap, create_topic, describe_group,
    group_offsets, offsets_of, owned_after, produce, proxy::Proxy, unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);

/// A group member that reaches the broker only through `proxy`, subscribed to `topic`, with
/// `partitions` partitions assigned and some records consumed (so close has offsets to commit).
async fn member_behind(proxy: &Proxy, topic: &str, partitions: usize) -> OurMember {
    let group = unique("g-close");
    let mut config = ConsumerConfig::new(&proxy.address()).unwrap();
    config
        .apply_pairs([
            format!("group.id={group}").as_str(),
            "auto.offset.reset=earliest",
            "session.timeout.ms=6000",
            "heartbeat.interval.ms=500",
            "socket.timeout.ms=30000",
        ])
        .unwrap();
    let m = OurMember::with_config("behind the proxy", config).await;
    m.subscribe(&[topic]);
    let mut m = m;
    let deadline = Instant::now() + WAIT;
    while m.owned.len() < partitions || m.messages.len() < 10 {
        assert!(Instant::now() < deadline, "{}", m.describe());
        m.pump().await;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_within_returns_within_its_timeout_when_the_broker_stops_answering() {
    let topic = unique("grp-close-stall");
    create_topic(&topic, 2);
    produce(&topic, &["--partition", "0", "--count", "10"]);
    let proxy = Proxy::start(bootstrap());
    let m = member_behind(&proxy, &topic, 2).await;
    proxy.stall_all();
    let started = std::time::Instant::now();
    let closing = tokio::time::timeout(
        Duration::from_secs(20),
        m.consumer.close_within(Duration::from_secs(3)),
    )
    .await;
    let took = started.elapsed();
    eprintln!("close_within(3 s) with the broker stalled took {took:?}");
    assert!(
        closing.is_ok(),
        "close_within(3 s) still running after 20 s"
    );
    assert!(
        took < Duration::from_secs(5),
        "close_within(3 s) took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_within_returns_within_its_timeout_when_the_broker_connections_are_dropped_and_stalled()
 {
    let topic = unique("grp-close-drop");
    create_topic(&topic, 2);
    produce(&topic, &["--partition", "1", "--count", "10"]);
    let proxy = Proxy::start(bootstrap());
    let m = member_behind(&proxy, &topic, 2).await;
    // Connections drop; reconnects are accepted but never answered.
    proxy.stall_all();
    proxy.drop_all();
    let started = std::time::Instant::now();
    let closing = tokio::time::timeout(
        Duration::from_secs(20),
        m.consumer.close_within(Duration::from_secs(3)),
    )
    .await;
    let took = started.elapsed();
    eprintln!("close_within(3 s) with connections dropped and the broker stalled took {took:?}");
    assert!(
        closing.is_ok(),
        "close_within(3 s) still running after 20 s"
    );
    assert!(
        took < Duration::from_secs(5),
        "close_within(3 s) took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_group_member_returns_at_once_even_with_the_broker_stalled() {
    let topic = unique("grp-close-dropm");
    create_topic(&topic, 2);
    produce(&topic, &["--partition", "0", "--count", "10"]);
    let proxy = Proxy::start(bootstrap());
    let m = member_behind(&proxy, &topic, 2).await;
    proxy.stall_all();
    // Something in flight towards the stalled broker when the consumer goes away.
    m.consumer.commit_async().unwrap();
    let started = std::time::Instant::now();
    drop(m);
    let took = started.elapsed();
    eprintln!("drop with the broker stalled took {took:?}");
    assert!(
        took < Duration::from_millis(200),
        "drop blocked for {took:?}"
    );
}

fn rkc_group_args<'a>(topic: &'a str, group: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "consume",
        "-b",
        bootstrap(),
        "-t",
        topic,
        "-G",
        group,
        "-o",
        "beginning",
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ];
    args.extend_from_slice(extra);
    args
}

/// Last printed offset per partition.
fn last_printed(rkc: &RkcProcess, partitions: i64) -> BTreeMap<i32, i64> {
    (0..partitions)
        .filter_map(|p| offsets_of(&rkc.messages, p).last().map(|o| (p as i32, *o)))
        .collect()
}

/// After rkc exited: the group is empty (it left), its committed offsets are one past what it
/// printed, it printed revoked for what it was assigned, and a librdkafka member of the group
/// reads exactly the records after the printed ones (`end`: one past the last record).
fn assert_clean_handover(
    rkc: &RkcProcess,
    group: &str,
    topic: &str,
    partitions: i64,
    end: &BTreeMap<i32, i64>,
) {
    let ctx = rkc.describe();
    let assigned: Vec<_> = rkc.events_of("assigned");
    assert!(!assigned.is_empty(), "{ctx}");
    let last = last_printed(rkc, partitions);
    support::assert_offsets_increase(&rkc.messages);
    for p in 0..partitions {
        let printed = offsets_of(&rkc.messages, p);
        assert_eq!(
            printed,
            (0..printed.len() as i64).collect::<Vec<_>>(),
            "partition {p}: printed from 0 without gaps\n{ctx}"
        );
    }
    let described = describe_group(group);
    assert_eq!(
        described["members"],
        serde_json::json!([]),
        "rkc left the group: {described}"
    );
    assert_eq!(described["state"], "EMPTY", "{described}");
    let committed = group_offsets(group, topic);
    let expected: BTreeMap<i32, i64> = last.iter().map(|(p, o)| (*p, o + 1)).collect();
    assert_eq!(
        committed, expected,
        "committed = one past the last printed offset of each partition\n{ctx}"
    );
    let remaining: i64 = (0..partitions as i32)
        .map(|p| end[&p] - last.get(&p).map_or(0, |o| o + 1))
        .sum();
    let mut peer = GroupPeer::spawn(group, topic, "range", &["--auto-offset-reset", "earliest"]);
    peer.wait_until(WAIT, "the records rkc did not print", |p| {
        p.messages().len() as i64 >= remaining
    });
    peer.pump_for(Duration::from_millis(1500));
    peer.stop(WAIT);
    for p in 0..partitions as i32 {
        let read: Vec<i64> = peer
            .messages()
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        let from = last.get(&p).map_or(0, |o| o + 1);
        assert_eq!(
            read,
            (from..end[&p]).collect::<Vec<_>>(),
            "partition {p}: librdkafka starts right after rkc's last printed offset\n{ctx}"
        );
    }
    // The revoked event of the orderly exit: everything it still owned, after its last
    // assignment.
    let revoked = rkc.events_of("revoked");
    assert!(
        !revoked.is_empty(),
        "rkc printed {{\"event\":\"revoked\",…}} when leaving on SIGTERM\n{ctx}"
    );
    assert!(
        owned_after(&rkc.events).is_empty(),
        "after the revoked event rkc owns nothing\n{ctx}"
    );
}

/// Auto commit off: the commit at exit is the only one, so everything hinges on it.
#[test]
fn rkc_consume_in_a_group_commits_what_it_printed_revokes_and_leaves_on_sigterm_while_records_flow()
{
    let topic = unique("grp-sigterm");
    create_topic(&topic, 3);
    let group = unique("g-sigterm");
    let producer = SteadyProducer::start(&topic, 3, Duration::from_millis(30));
    let mut rkc = RkcProcess::spawn(&rkc_group_args(
        &topic,
        &group,
        &["-X", "enable.auto.commit=false"],
    ));
    rkc.wait_until(WAIT, "assigned all 3 partitions", |r| r.owned().len() == 3);
    assert_eq!(
        rkc.events_of("assigned")[0]["partitions"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{}",
        rkc.describe()
    );
    rkc.wait_until(WAIT, "printing records", |r| r.messages.len() >= 60);
    rkc.signal("TERM");
    let code = rkc.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", rkc.describe());
    let end = producer.finish();
    assert_clean_handover(&rkc, &group, &topic, 3, &end);
}

/// Defaults (auto commit every 5 s, not reached here), idle at the signal.
#[test]
fn rkc_consume_in_a_group_with_default_settings_commits_what_it_printed_and_leaves_on_sigterm() {
    let topic = unique("grp-sigterm-idle");
    create_topic(&topic, 3);
    let group = unique("g-sigterm-idle");
    for p in 0..3 {
        produce(&topic, &["--partition", &p.to_string(), "--count", "20"]);
    }
    let mut rkc = RkcProcess::spawn(&rkc_group_args(&topic, &group, &[]));
    rkc.wait_until(WAIT, "all 60 printed", |r| r.messages.len() >= 60);
    assert_eq!(
        rkc.owned().len(),
        3,
        "assigned all 3 partitions: {}",
        rkc.describe()
    );
    rkc.signal("TERM");
    let code = rkc.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", rkc.describe());
    for p in 0..3 {
        produce(
            &topic,
            &[
                "--partition",
                &p.to_string(),
                "--count",
                "5",
                "--start",
                "20",
            ],
        );
    }
    let end: BTreeMap<i32, i64> = (0..3).map(|p| (p, 25)).collect();
    assert_clean_handover(&rkc, &group, &topic, 3, &end);
}

/// `rkc consume -G GROUP`, cooperative-sticky, heartbeat 0.5 s.
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

/// Closing while the member's JoinGroup is parked at the coordinator (the rebalance waits for
/// a dead member with a 20 s session) still commits what was consumed: the commit and the
/// LeaveGroup do not queue behind the parked join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_during_a_parked_join_commits_what_was_consumed() {
    let topic = unique("grp-close-join");
    create_topic(&topic, 2);
    for p in 0..2 {
        produce(&topic, &["--partition", &p.to_string(), "--count", "10"]);
    }
    let group = unique("g-close-join");
    let mut a = OurMember::start(
        "A",
        &group,
        &[&topic],
        &["partition.assignment.strategy=cooperative-sticky"],
    )
    .await;
    let mut dead = rkc_member(&group, &topic, 20_000);
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump().await;
        dead.observe_for(Duration::from_millis(20));
        if a.owned.len() == 1 && dead.owned().len() == 1 {
            let mine = a.owned.iter().next().unwrap().1;
            if a.messages.iter().filter(|(p, _, _)| *p == mine).count() == 10 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            a.describe(),
            dead.describe()
        );
    }
    let mine = a.owned.iter().next().unwrap().1;
    dead.signal("KILL");
    let _joiner = rkc_member(&group, &topic, 6000);
    loop {
        a.pump_for(Duration::from_millis(200)).await;
        let state = tokio::task::block_in_place(|| describe_group(&group));
        if state["state"]
            .as_str()
            .unwrap_or_default()
            .starts_with("PREPARING")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no rebalance started");
    }
    // A's next heartbeat sees the rebalance; its JoinGroup then waits for the dead member.
    a.pump_for(Duration::from_millis(1500)).await;
    let OurMember { consumer, .. } = a;
    consumer.close_within(Duration::from_secs(5)).await;
    let committed = tokio::task::block_in_place(|| group_offsets(&group, &topic));
    assert_eq!(
        committed.get(&mine),
        Some(&10),
        "close committed what A consumed of partition {mine}: {committed:?}"
    );
}
