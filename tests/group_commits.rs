//! Commits and rebalances: `rkc consume -G --commit sync` members under a steady producer on a
//! cooperative-sticky group. A commit is never sent with a generation the group has left, a
//! commit error never starts another rebalance, and a rebalance never holds back commits on the
//! same connection.

mod support;

use std::{collections::BTreeSet, time::Duration};

use support::{
    OurMember, RkcProcess, SteadyProducer, bootstrap, create_topic, describe_group,
    disjoint_and_complete, group_offsets, owned_after, produce, proxy::Proxy, unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 12;

/// `rkc consume -G GROUP --commit sync`, cooperative-sticky, session 6 s, with the group's
/// debug logs on stderr (the "joined" lines carry the generation).
fn member(group: &str, topic: &str) -> RkcProcess {
    member_with_session(group, topic, 6000)
}

fn member_with_session(group: &str, topic: &str, session_ms: u32) -> RkcProcess {
    let session = format!("session.timeout.ms={session_ms}");
    RkcProcess::spawn_with_env(
        &[
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
        ],
        &[("RKC_LOG", "rskafka_consumer::group=debug")],
    )
}

/// The generations a member's "joined" debug lines report.
fn generations(p: &RkcProcess) -> BTreeSet<i64> {
    p.stderr
        .lines()
        .filter(|l| l.contains("joined"))
        .filter_map(|l| {
            let rest = &l[l.find("generation=")? + "generation=".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

fn error_events(p: &RkcProcess) -> Vec<String> {
    p.events_of("error").iter().map(|e| e.to_string()).collect()
}

/// Three membership changes (A joins, B joins, B leaves) under ~200 records/s: no commit fails,
/// and the group goes through at most two rebalances per change (cooperative-sticky needs two
/// when partitions move: one revokes, the next assigns).
#[test]
fn sync_commits_during_cooperative_rebalances_fail_never_and_start_no_rebalance() {
    let topic = unique("grp-commit-storm");
    create_topic(&topic, PARTITIONS as u32);
    let group = unique("g-commit-storm");
    let producer = SteadyProducer::start(&topic, PARTITIONS, Duration::from_millis(60));

    let mut a = member(&group, &topic);
    a.wait_until(WAIT, "A owns every partition", |a| {
        a.owned().len() == PARTITIONS as usize && !a.messages.is_empty()
    });
    let mut b = member(&group, &topic);
    let deadline = Instant::now() + WAIT;
    loop {
        a.observe_for(Duration::from_millis(100));
        b.observe_for(Duration::from_millis(100));
        if disjoint_and_complete(&[&a.owned(), &b.owned()], &topic, PARTITIONS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A and B share the partitions\n{}\n{}",
            a.describe(),
            b.describe()
        );
    }
    // Both consume and commit for a while, then B leaves (SIGTERM: commit, revoke, leave).
    for _ in 0..40 {
        a.observe_for(Duration::from_millis(100));
        b.observe_for(Duration::from_millis(100));
    }
    b.signal("TERM");
    let code = b.wait_exit(WAIT);
    assert_eq!(code, 0, "{}", b.describe());
    a.wait_until(WAIT, "A owns every partition again", |a| {
        a.owned().len() == PARTITIONS as usize
    });
    a.observe_for(Duration::from_secs(3));
    let _ = producer.finish();
    a.signal("TERM");
    assert_eq!(a.wait_exit(WAIT), 0, "{}", a.describe());

    let errors: Vec<String> = error_events(&a)
        .into_iter()
        .chain(error_events(&b))
        .collect();
    assert!(
        errors.is_empty(),
        "no commit (or other) error during the rebalances: {errors:#?}\n{}\n{}",
        a.describe(),
        b.describe()
    );
    let mut all = generations(&a);
    all.extend(generations(&b));
    assert!(
        all.len() <= 6,
        "at most two rebalances per membership change (3 changes), saw generations {all:?}\n{}\n{}",
        a.describe(),
        b.describe()
    );
    assert!(owned_after(&b.events).is_empty(), "{}", b.describe());
}

/// The group's state as librdkafka's AdminClient reports it (`"STABLE"`,
/// `"PREPARING_REBALANCE"`, …).
fn group_state(group: &str) -> String {
    let d = tokio::task::block_in_place(|| describe_group(group));
    d["state"].as_str().unwrap_or_default().to_owned()
}

/// Polls and commits (as `rkc --commit sync` does) for `budget`; returns how many commits
/// succeeded.
async fn consume_and_commit(a: &mut OurMember, budget: Duration) -> usize {
    let deadline = Instant::now() + budget;
    let mut committed = 0;
    while Instant::now() < deadline {
        a.pump_for(Duration::from_millis(100)).await;
        let left = deadline.saturating_duration_since(Instant::now());
        if let Ok(Ok(())) = tokio::time::timeout(left, a.consumer.commit()).await {
            committed += 1;
        }
    }
    committed
}

/// A member dies (SIGKILL, session 20 s) and a new one joins at once: the group prepares a
/// rebalance and waits for the dead member's session to expire. Meanwhile the survivor (our
/// library consumer, cooperative-sticky, committing after each batch as `rkc --commit sync`
/// does) has rejoined — its JoinGroup is parked at the coordinator — and keeps receiving
/// records and committing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survivors_keep_consuming_and_committing_while_a_rebalance_waits_for_a_dead_member() {
    let topic = unique("grp-survivor");
    create_topic(&topic, 6);
    let group = unique("g-survivor");
    let producer = SteadyProducer::start(&topic, 6, Duration::from_millis(30));
    let mut a = OurMember::start(
        "A",
        &group,
        &[&topic],
        &[
            "partition.assignment.strategy=cooperative-sticky",
            "enable.auto.commit=false",
        ],
    )
    .await;
    let deadline = Instant::now() + WAIT;
    while a.owned.len() < 6 || a.messages.is_empty() {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    let mut b = member_with_session(&group, &topic, 20_000);
    loop {
        a.pump().await;
        b.observe_for(Duration::from_millis(50));
        if disjoint_and_complete(&[&a.owned, &b.owned()], &topic, 6) && !b.messages.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A and B share the partitions\n{}\n{}",
            a.describe(),
            b.describe()
        );
    }
    b.signal("KILL");
    let _c = member(&group, &topic);
    loop {
        consume_and_commit(&mut a, Duration::from_millis(200)).await;
        let state = group_state(&group);
        if state.starts_with("PREPARING") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group never prepared a rebalance (last state {state})"
        );
    }
    // A's next heartbeat (every 0.5 s) sees the rebalance and A rejoins; its JoinGroup then
    // waits at the coordinator for the dead member.
    consume_and_commit(&mut a, Duration::from_secs(1)).await;
    let before = a.messages.len();
    let committed = consume_and_commit(&mut a, Duration::from_secs(3)).await;
    let received = a.messages.len() - before;
    let state = group_state(&group);
    assert!(
        state.starts_with("PREPARING"),
        "the rebalance ended ({state}) before the window closed (B's session is 20 s): A was \
         held back ({received} records, {committed} commits in the window)\n{}",
        a.describe()
    );
    assert!(
        received > 0 && committed > 0,
        "A keeps consuming and committing while the rebalance waits: {received} records, \
         {committed} commits\n{}",
        a.describe()
    );
    assert!(a.errors.is_empty(), "{}", a.describe());
    drop(producer);
}

/// OffsetCommit's API key.
const OFFSET_COMMIT: i16 = 8;

/// `rkc consume -G --commit sync` keeps writing while a commit waits for the coordinator
/// (as when the coordinator moves and loads its offsets, seen for ~9 s in the soak): the
/// commit goes on in the background, the next one starts when it ends, and the last one,
/// at exit, covers everything written. Before, the output loop awaited each commit, so
/// nothing was written until the held commit was answered.
#[test]
fn a_sync_commit_waiting_for_the_coordinator_does_not_hold_back_output() {
    let topic = unique("commit-pipelined");
    let group = unique("commit-pipelined-group");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "10"]);
    let proxy = Proxy::start(bootstrap());
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        &proxy.address(),
        "-t",
        &topic,
        "-G",
        &group,
        "--commit",
        "sync",
        "-X",
        "auto.offset.reset=earliest",
    ]);
    rkc.wait_until(WAIT, "the first 10 records", |p| p.messages.len() >= 10);

    // Every OffsetCommit from now on is held by the "coordinator", with the rest of its
    // connection (heartbeats too: the hold stays well inside the 45 s session).
    proxy.hold_requests(OFFSET_COMMIT);
    produce(&topic, &["--count", "10", "--start", "10"]);
    rkc.wait_until(WAIT, "records 10..20", |p| p.messages.len() >= 20);
    let held = Instant::now();
    while proxy.stats().held == 0 {
        assert!(
            held.elapsed() < WAIT,
            "no commit reached the proxy after records 10..20\n{}",
            rkc.describe()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A commit is held now: records produced meanwhile must still reach stdout.
    produce(&topic, &["--count", "10", "--start", "20"]);
    rkc.wait_until(
        Duration::from_secs(20),
        "records 20..30 while a commit is held",
        |p| p.messages.len() >= 30,
    );
    proxy.release_requests();

    rkc.signal("TERM");
    assert_eq!(rkc.wait_exit(WAIT), 0, "{}", rkc.describe());
    let values: Vec<String> = rkc
        .messages
        .iter()
        .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    let expected: Vec<String> = (0..30).map(|i| format!("value-{i}")).collect();
    assert_eq!(values, expected, "each record once, in order");
    assert_eq!(
        group_offsets(&group, &topic).get(&0),
        Some(&30),
        "the commit at exit covers everything written"
    );
    assert!(rkc.events_of("error").is_empty(), "{}", rkc.describe());
}
