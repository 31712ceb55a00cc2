//! Cooperative-sticky (KIP-429) with our consumer as the member that already owns everything:
//! when a member joins, only the partitions that move are revoked, and the partitions that stay
//! keep delivering through the rebalance. Records are produced steadily throughout.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::Value;
use support::{
    GroupPeer, OurMember, SteadyProducer, create_topic, disjoint_and_complete, event_partitions,
    unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
const COOPERATIVE: &str = "partition.assignment.strategy=cooperative-sticky";

/// The member that joins: a librdkafka consumer or another of ours.
enum Joiner {
    Librdkafka(GroupPeer),
    Ours(Box<OurMember>),
}

impl Joiner {
    async fn pump(&mut self) {
        match self {
            Joiner::Librdkafka(p) => p.pump(),
            Joiner::Ours(m) => m.pump().await,
        }
    }

    fn owned(&self) -> &BTreeSet<(String, i32)> {
        match self {
            Joiner::Librdkafka(p) => &p.owned,
            Joiner::Ours(m) => &m.owned,
        }
    }

    /// Rebalance callbacks as `{"event","partitions","ts"}`, timed where they ran.
    fn events(&self) -> Vec<Value> {
        match self {
            Joiner::Librdkafka(p) => p.rebalance_events().into_iter().cloned().collect(),
            Joiner::Ours(m) => m.listener.calls(),
        }
    }

    fn messages(&self) -> Vec<(i32, i64)> {
        match self {
            Joiner::Librdkafka(p) => p.messages(),
            Joiner::Ours(m) => m.messages.iter().map(|(p, o, _)| (*p, *o)).collect(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Joiner::Librdkafka(p) => p.describe(),
            Joiner::Ours(m) => m.describe(),
        }
    }
}

/// What happened when B joined A's group.
struct Run {
    topic: String,
    a: OurMember,
    b: Joiner,
    /// When B subscribed (wall clock, seconds).
    joined_at: f64,
    /// One past the last record produced, per partition.
    end: BTreeMap<i32, i64>,
}

impl Run {
    fn kept(&self) -> BTreeSet<i32> {
        self.a.owned.iter().map(|(_, p)| *p).collect()
    }

    fn moved(&self) -> BTreeSet<i32> {
        self.b.owned().iter().map(|(_, p)| *p).collect()
    }

    fn context(&self) -> String {
        format!("{}\n{}", self.a.describe(), self.b.describe())
    }
}

/// A (ours, cooperative-sticky) owns all 6 partitions and consumes a steady stream; then B
/// joins. Runs until the group converged, then until every produced record was consumed.
async fn run(librdkafka_joins: bool) -> Run {
    let topic = unique("grp-coop");
    create_topic(&topic, 6);
    let group = unique("g-coop");
    let producer = SteadyProducer::start(&topic, 6, Duration::from_millis(20));
    let mut a = OurMember::start("A", &group, &[&topic], &[COOPERATIVE]).await;
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump().await;
        let flowing: BTreeSet<i32> = a.messages.iter().map(|(p, _, _)| *p).collect();
        if a.owned.len() == 6 && flowing.len() == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A owns and reads all 6: {}",
            a.describe()
        );
    }

    let joined_at = support::now_secs();
    let mut b = if librdkafka_joins {
        Joiner::Librdkafka(GroupPeer::spawn(&group, &topic, "cooperative-sticky", &[]))
    } else {
        Joiner::Ours(Box::new(
            OurMember::start("B", &group, &[&topic], &[COOPERATIVE]).await,
        ))
    };
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump().await;
        b.pump().await;
        if disjoint_and_complete(&[&a.owned, b.owned()], &topic, 6) && a.events_match_assignment() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A and B converge\n{}\n{}",
            a.describe(),
            b.describe()
        );
    }
    // Keep the stream going a little past the rebalance, then drain everything.
    let after = Instant::now() + Duration::from_secs(2);
    while Instant::now() < after {
        a.pump().await;
        b.pump().await;
    }
    let end = tokio::task::block_in_place(|| producer.finish());
    let total: i64 = end.values().sum();
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump().await;
        b.pump().await;
        let mut seen: BTreeSet<(i32, i64)> = a.messages.iter().map(|(p, o, _)| (*p, *o)).collect();
        seen.extend(b.messages());
        if seen.len() as i64 >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A and B consume all {total} records (have {})\n{}\n{}",
            seen.len(),
            a.describe(),
            b.describe()
        );
    }
    Run {
        topic,
        a,
        b,
        joined_at,
        end,
    }
}

/// The partitions of `kind` events (`revoked`, `lost`, `assigned`) after the first event.
fn partitions_in(events: &[Value], kind: &str, skip_first: bool) -> Vec<Vec<i32>> {
    events
        .iter()
        .skip(usize::from(skip_first))
        .filter(|e| e["event"] == kind)
        .map(|e| event_partitions(e).into_iter().map(|(_, p)| p).collect())
        .collect()
}

fn assert_only_moved_partitions_revoked(r: &Run) {
    let ctx = r.context();
    let kept = r.kept();
    let moved = r.moved();
    assert_eq!(kept.len() + moved.len(), 6, "{ctx}");
    assert_eq!(kept.len(), 3, "cooperative-sticky balances 3/3\n{ctx}");
    // From the events A's poll returned and from the listener A's group task called: the
    // same story.
    for (source, events) in [
        ("events", r.a.events.clone()),
        ("listener", r.a.listener.calls()),
    ] {
        assert_eq!(
            partitions_in(&events, "assigned", false).first(),
            Some(&(0..6).collect::<Vec<_>>()),
            "A's first assignment is all 6 ({source})\n{ctx}"
        );
        assert_eq!(
            partitions_in(&events, "assigned", true),
            Vec::<Vec<i32>>::new(),
            "A is assigned nothing again: it keeps its partitions ({source})\n{ctx}"
        );
        assert_eq!(
            partitions_in(&events, "lost", false),
            Vec::<Vec<i32>>::new(),
            "A loses nothing ({source})\n{ctx}"
        );
        let revoked = partitions_in(&events, "revoked", false);
        let all_revoked: BTreeSet<i32> = revoked.iter().flatten().copied().collect();
        assert_eq!(
            all_revoked, moved,
            "A revokes exactly the partitions that end up at B ({source}): {revoked:?}\n{ctx}"
        );
        assert!(
            revoked.iter().flatten().all(|p| !kept.contains(p)),
            "A never revokes a partition it keeps ({source}): {revoked:?}\n{ctx}"
        );
    }
}

/// Records of A's kept partitions keep arriving at A through the rebalance: every offset from
/// 0 to the end, once each and in order (no pause-and-refetch, no duplicate, no gap), and some
/// of them while B was not yet assigned the moved ones.
fn assert_kept_partitions_flow_through_the_rebalance(r: &Run) {
    let ctx = r.context();
    let kept = r.kept();
    let a_revoked_at =
        r.a.listener
            .calls()
            .iter()
            .find(|e| e["event"] == "revoked")
            .and_then(|e| e["ts"].as_f64())
            .unwrap_or_else(|| panic!("A revoked something\n{ctx}"));
    let b_assigned_at =
        r.b.events()
            .iter()
            .find(|e| e["event"] == "assigned" && !event_partitions(e).is_empty())
            .and_then(|e| e["ts"].as_f64())
            .unwrap_or_else(|| panic!("B was assigned something\n{ctx}"));
    let mut during = 0;
    let mut max_gap: f64 = 0.0;
    for p in &kept {
        let received: Vec<(i64, f64)> =
            r.a.messages
                .iter()
                .filter(|(q, _, _)| q == p)
                .map(|(_, o, t)| (*o, *t))
                .collect();
        let offsets: Vec<i64> = received.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..r.end[p]).collect::<Vec<_>>(),
            "A reads kept partition {p} of {} exactly once, in order, without a gap\n{ctx}",
            r.topic
        );
        during += received
            .iter()
            .filter(|(_, t)| *t > a_revoked_at && *t < b_assigned_at)
            .count();
        for w in received.windows(2) {
            if w[1].1 > r.joined_at && w[0].1 < b_assigned_at + 1.0 {
                max_gap = max_gap.max(w[1].1 - w[0].1);
            }
        }
    }
    eprintln!(
        "B joined; A revoked after {:.3} s, B assigned after {:.3} s; A received {during} records \
         of its kept partitions in between; longest pause on a kept partition around the \
         rebalance: {:.3} s",
        a_revoked_at - r.joined_at,
        b_assigned_at - r.joined_at,
        max_gap
    );
    assert!(
        during > 0,
        "A kept receiving its kept partitions between revoking the moved ones and B's \
         assignment\n{ctx}"
    );
}

/// Every produced record of every partition was consumed by A or B: nothing lost.
fn assert_nothing_lost(r: &Run) {
    let mut seen: BTreeSet<(i32, i64)> = r.a.messages.iter().map(|(p, o, _)| (*p, *o)).collect();
    seen.extend(r.b.messages());
    for (p, end) in &r.end {
        let missing: Vec<i64> = (0..*end).filter(|o| !seen.contains(&(*p, *o))).collect();
        assert!(
            missing.is_empty(),
            "partition {p}: offsets {missing:?} were consumed by nobody\n{}",
            r.context()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_librdkafka_member_joining_under_cooperative_sticky_makes_ours_revoke_only_the_moved_partitions()
 {
    let r = run(true).await;
    assert_only_moved_partitions_revoked(&r);
    assert_kept_partitions_flow_through_the_rebalance(&r);
    assert_nothing_lost(&r);
    r.a.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_of_ours_joining_under_cooperative_sticky_makes_ours_revoke_only_the_moved_partitions()
 {
    let r = run(false).await;
    assert_only_moved_partitions_revoked(&r);
    assert_kept_partitions_flow_through_the_rebalance(&r);
    assert_nothing_lost(&r);
    r.a.consumer.close().await;
}

/// The moved partitions' new owner starts exactly where A stopped: A committed (auto commit,
/// on revoke) one past the last record it handed to the application, so nothing is read twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_handover_starts_the_new_owner_right_after_the_last_record_the_old_owner_delivered()
 {
    let r = run(true).await;
    assert_nothing_lost(&r);
    let ctx = r.context();
    for p in r.moved() {
        let a_last =
            r.a.messages
                .iter()
                .filter(|(q, _, _)| *q == p)
                .map(|(_, o, _)| *o)
                .max()
                .unwrap_or(-1);
        let b_first =
            r.b.messages()
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, o)| *o)
                .min();
        let a_last_at =
            r.a.messages
                .iter()
                .find(|(q, o, _)| *q == p && *o == a_last)
                .map_or(0.0, |(_, _, t)| *t);
        let revoked_at =
            r.a.listener
                .calls()
                .iter()
                .find(|e| e["event"] == "revoked")
                .and_then(|e| e["ts"].as_f64())
                .unwrap_or(0.0);
        assert_eq!(
            b_first,
            Some(a_last + 1),
            "moved partition {p}: A delivered up to {a_last} (that one {:+.4} s from A's \
             on_revoked), B starts at {b_first:?}\n{ctx}",
            a_last_at - revoked_at
        );
    }
    r.a.consumer.close().await;
}

/// Records which thread ran each `on_revoked`.
#[derive(Default)]
struct ThreadListener {
    revoked: std::sync::Mutex<Vec<(Vec<i32>, std::thread::ThreadId)>>,
}

impl rskafka_consumer::group::member::RebalanceListener for ThreadListener {
    fn on_revoked(&self, partitions: &[rskafka_consumer::TopicPartition]) {
        self.revoked.lock().unwrap().push((
            partitions.iter().map(|tp| tp.partition).collect(),
            std::thread::current().id(),
        ));
    }
}

/// Revocation is a window the application closes: when B joins, A's poll returns
/// `Revoked(R)` (the listener ran on A's poll path, the test's own thread); R is no longer
/// handed out; while A does not poll, R does not move (B gets none of it); A commits what it
/// finished of R (auto commit off), polls again, and only then does R move — B starts each
/// partition of R exactly at A's commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_waits_for_the_application_which_commits_what_it_finished_first() {
    use rskafka_consumer::{Event, TopicPartition};
    let topic = unique("grp-revoke-ack");
    create_topic(&topic, 6);
    let group = unique("g-revoke-ack");
    let producer = SteadyProducer::start(&topic, 6, Duration::from_millis(20));
    let listener = std::sync::Arc::new(ThreadListener::default());
    let a = rskafka_consumer::Consumer::new(support::group_config(
        &group,
        &[COOPERATIVE, "enable.auto.commit=false"],
    ))
    .await
    .unwrap();
    a.subscribe_with(&[&topic], Some(listener.clone())).unwrap();
    let test_thread = std::thread::current().id();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while last.len() < 6 {
        assert!(Instant::now() < deadline, "A reads all 6: {last:?}");
        if let Some(Ok(Event::Message(m))) = a.poll_event(Duration::from_millis(50)).await {
            last.insert(m.partition, m.offset);
        }
    }
    let mut b = OurMember::start("B", &group, &[&topic], &[COOPERATIVE]).await;
    let revoked: Vec<TopicPartition> = loop {
        assert!(
            Instant::now() < deadline,
            "A is asked to revoke\n{}",
            b.describe()
        );
        b.pump().await;
        match a.poll_event(Duration::from_millis(20)).await {
            Some(Ok(Event::Message(m))) => {
                last.insert(m.partition, m.offset);
            }
            Some(Ok(Event::Revoked(tps))) => break tps,
            Some(Ok(Event::Lost(tps))) => panic!("A lost {tps:?}"),
            Some(Err(e)) => panic!("A: {e}"),
            _ => {}
        }
    };
    let r: BTreeSet<i32> = revoked.iter().map(|tp| tp.partition).collect();
    assert!(!r.is_empty());
    let calls = listener.revoked.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![(r.iter().copied().collect::<Vec<_>>(), test_thread)],
        "on_revoked ran once, for R, on the application's poll path"
    );
    // A holds the revocation (no poll) for 3 s: R does not move.
    let hold = Instant::now() + Duration::from_secs(3);
    while Instant::now() < hold {
        b.pump().await;
    }
    let moved_early: Vec<i32> = b
        .owned
        .iter()
        .map(|(_, p)| *p)
        .filter(|p| r.contains(p))
        .collect();
    assert!(
        moved_early.is_empty(),
        "R moved before A acknowledged: {moved_early:?}\n{}",
        b.describe()
    );
    // A commits what it finished of R, then acknowledges by polling.
    let finished: Vec<(TopicPartition, i64)> = revoked
        .iter()
        .map(|tp| (tp.clone(), last[&tp.partition] + 1))
        .collect();
    a.commit_offsets(&finished, None).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "R moves to B\n{}", b.describe());
        b.pump().await;
        if let Some(Ok(Event::Message(m))) = a.poll_event(Duration::from_millis(20)).await {
            assert!(
                !r.contains(&m.partition),
                "A handed out {} of R after the revocation",
                m.offset
            );
        }
        let b_has: BTreeSet<i32> = b.messages.iter().map(|(p, _, _)| *p).collect();
        if r.iter().all(|p| b_has.contains(p)) {
            break;
        }
    }
    for (tp, committed) in &finished {
        let first = b
            .messages
            .iter()
            .find(|(p, _, _)| *p == tp.partition)
            .unwrap()
            .1;
        assert_eq!(first, *committed, "B starts {tp} at A's commit");
    }
    drop(producer);
    a.close().await;
}
