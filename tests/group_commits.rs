//! Commits and rebalances: `rkc consume -G --commit sync` members under a steady producer on a
//! cooperative-sticky group. A commit is never sent with a generation the group has left, a
//! commit error never starts another rebalance, and a rebalance never holds back commits on the
//! same connection.

mod support;

use std::{collections::BTreeSet, time::Duration};

use support::{
    RkcProcess, SteadyProducer, bootstrap, create_topic, disjoint_and_complete, owned_after, unique,
};

const WAIT: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 12;

/// `rkc consume -G GROUP --commit sync`, cooperative-sticky, session 6 s, with the group's
/// debug logs on stderr (the "joined" lines carry the generation).
fn member(group: &str, topic: &str) -> RkcProcess {
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
            "session.timeout.ms=6000",
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
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        a.observe_for(Duration::from_millis(100));
        b.observe_for(Duration::from_millis(100));
        if disjoint_and_complete(&[&a.owned(), &b.owned()], &topic, PARTITIONS) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
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
