//! Rebalance timings, ours against librdkafka in the same scenario (a measurement: it prints a
//! table and asserts only correctness). Per run, in a fresh group on a 6-partition topic:
//!
//! * subscribe → first record: from subscribe() returning (the client already created) to the
//!   first record handed to the application;
//! * member added → converged: from the second member's subscribe() to the last rebalance
//!   callback (either member) that leaves the two assignments disjoint and complete;
//! * member removed → converged: from the second member's close() starting to the first
//!   member's last rebalance callback that gives it all 6 partitions.
//!
//! Times are wall-clock stamps taken where things happen: our listener runs on the group task;
//! librdkafka's callbacks and messages are stamped by the peer (`group_member.py`), so Python's
//! start-up is not counted. Both members use session.timeout.ms=6000, heartbeat.interval.ms=500.
//! A member notices a rebalance at its next heartbeat, so the phase of that heartbeat matters:
//! run `i` (0, 1, 2) waits `i` × heartbeat.interval.ms / 3 before adding and before removing the
//! second member, for both clients alike.
//! Ignored by default (CI runs correctness, not measurements). Run alone for steadier numbers:
//! `cargo test --test group_rebalance_timing -- --ignored --test-threads=1 --nocapture`.

mod support;

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use support::{
    GroupPeer, OurMember, create_topic, disjoint_and_complete, group_config, now_secs, produce,
    unique,
};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);
const RUNS: usize = 3;

#[derive(Debug, Clone, Copy)]
struct Sample {
    first_record: f64,
    added: f64,
    removed: f64,
}

/// Latest `"ts"` among `events` at or after `since`.
fn last_ts_since(events: &[Value], since: f64) -> Option<f64> {
    events
        .iter()
        .filter_map(|e| e["ts"].as_f64())
        .filter(|t| *t >= since)
        .reduce(f64::max)
}

async fn settle(a: &mut OurMember, b: Option<&mut OurMember>, d: Duration) {
    let deadline = Instant::now() + d;
    let mut b = b;
    while Instant::now() < deadline {
        a.pump().await;
        if let Some(b) = b.as_deref_mut() {
            b.pump().await;
        }
    }
}

async fn ours_once(topic: &str, strategy: &str, phase: Duration) -> Sample {
    let group = unique("g-time-ours");
    let strategy = format!("partition.assignment.strategy={strategy}");
    let mut a = OurMember::with_config("A", group_config(&group, &[&strategy])).await;
    let t0 = now_secs();
    a.subscribe(&[topic]);
    let deadline = Instant::now() + WAIT;
    while a.messages.is_empty() {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    let first_record = a.messages[0].2 - t0;
    assert_eq!((a.messages[0].0, a.messages[0].1), (0, 0), "first record");
    while a.owned.len() < 6 {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    settle(&mut a, None, Duration::from_millis(500) + phase).await;

    let mut b = OurMember::with_config("B", group_config(&group, &[&strategy])).await;
    let t_add = now_secs();
    b.subscribe(&[topic]);
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump().await;
        b.pump().await;
        if disjoint_and_complete(&[&a.owned, &b.owned], topic, 6)
            && a.events_match_assignment()
            && b.events_match_assignment()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            a.describe(),
            b.describe()
        );
    }
    settle(&mut a, Some(&mut b), Duration::from_millis(1000) + phase).await;
    assert!(disjoint_and_complete(&[&a.owned, &b.owned], topic, 6));
    let mut calls = a.listener.calls();
    calls.extend(b.listener.calls());
    let added = last_ts_since(&calls, t_add).expect("rebalance callbacks") - t_add;

    let t_rm = now_secs();
    let OurMember { consumer, .. } = b;
    let closing = tokio::spawn(consumer.close());
    let deadline = Instant::now() + WAIT;
    while a.owned.len() < 6 || !a.events_match_assignment() {
        assert!(Instant::now() < deadline, "{}", a.describe());
        a.pump().await;
    }
    settle(&mut a, None, Duration::from_millis(500)).await;
    let removed = last_ts_since(&a.listener.calls(), t_rm).expect("A's callbacks") - t_rm;
    closing.await.unwrap();
    assert!(a.errors.is_empty(), "{}", a.describe());
    a.consumer.close().await;
    Sample {
        first_record,
        added,
        removed,
    }
}

fn ts_of(peer: &GroupPeer, kind: &str) -> f64 {
    peer.events_of(kind)
        .first()
        .and_then(|e| e["ts"].as_f64())
        .unwrap_or_else(|| panic!("no {kind}: {}", peer.describe()))
}

fn librdkafka_once(topic: &str, strategy: &str, phase: Duration) -> Sample {
    let group = unique("g-time-rdk");
    let mut a = GroupPeer::spawn(&group, topic, strategy, &[]);
    a.wait_until(WAIT, "first record", |p| !p.messages().is_empty());
    assert_eq!(a.messages()[0], (0, 0), "first record");
    let first_record = ts_of(&a, "message") - ts_of(&a, "subscribed");
    a.wait_until(WAIT, "owns 6", |p| p.owned.len() == 6);
    a.pump_for(Duration::from_millis(500) + phase);

    let mut b = GroupPeer::spawn(&group, topic, strategy, &[]);
    let deadline = Instant::now() + WAIT;
    loop {
        a.pump();
        b.pump();
        if disjoint_and_complete(&[&a.owned, &b.owned], topic, 6) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}\n{}",
            a.describe(),
            b.describe()
        );
        b.pump_for(Duration::from_millis(10));
    }
    a.pump_for(Duration::from_millis(500));
    b.pump_for(Duration::from_millis(500) + phase);
    assert!(disjoint_and_complete(&[&a.owned, &b.owned], topic, 6));
    let t_add = ts_of(&b, "subscribed");
    let mut events: Vec<Value> = a.rebalance_events().into_iter().cloned().collect();
    events.extend(b.rebalance_events().into_iter().cloned());
    let added = last_ts_since(&events, t_add).expect("rebalance callbacks") - t_add;

    b.request_stop();
    a.wait_until(WAIT, "owns 6 again", |p| p.owned.len() == 6);
    b.wait_until(WAIT, "closed", |p| p.closed());
    a.pump_for(Duration::from_millis(500));
    let t_rm = ts_of(&b, "closing");
    let events: Vec<Value> = a.rebalance_events().into_iter().cloned().collect();
    let removed = last_ts_since(&events, t_rm).expect("A's callbacks") - t_rm;
    b.stop(WAIT);
    a.stop(WAIT);
    Sample {
        first_record,
        added,
        removed,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn row(name: &str, samples: &[Sample]) -> String {
    let col = |f: fn(&Sample) -> f64| {
        let all: Vec<f64> = samples.iter().map(f).collect();
        let list: Vec<String> = all.iter().map(|x| format!("{:.0}", x * 1000.0)).collect();
        format!("{:>6.0} ({})", median(all) * 1000.0, list.join("/"))
    };
    format!(
        "{name:<36} {:>26} {:>26} {:>26}",
        col(|s| s.first_record),
        col(|s| s.added),
        col(|s| s.removed)
    )
}

async fn measure(strategy: &str) {
    let topic = unique("grp-time");
    create_topic(&topic, 6);
    produce(&topic, &["--partition", "0", "--count", "10"]);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 0..RUNS {
        let phase = Duration::from_millis(500 * run as u64 / 3);
        ours.push(ours_once(&topic, strategy, phase).await);
        theirs.push(tokio::task::block_in_place(|| {
            librdkafka_once(&topic, strategy, phase)
        }));
    }
    let header = format!(
        "{:<36} {:>26} {:>26} {:>26}",
        format!("{strategy}, ms: median (runs)"),
        "subscribe→first record",
        "member added→converged",
        "member removed→converged"
    );
    eprintln!(
        "\n{header}\n{}\n{}\n",
        row("rskafka-consumer", &ours),
        row("librdkafka 2.16", &theirs)
    );
    let all: BTreeSet<bool> = ours
        .iter()
        .chain(&theirs)
        .map(|s| s.first_record >= 0.0 && s.added >= 0.0 && s.removed >= 0.0)
        .collect();
    assert_eq!(all, BTreeSet::from([true]), "{ours:?} {theirs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for the benchmark report; run with --ignored"]
async fn rebalance_times_under_range_for_ours_and_librdkafka() {
    measure("range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for the benchmark report; run with --ignored"]
async fn rebalance_times_under_cooperative_sticky_for_ours_and_librdkafka() {
    measure("cooperative-sticky").await;
}
