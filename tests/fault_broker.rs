//! Broker-level faults against a PRIVATE cluster per test (own `RKC_KAFKA_STATE_DIR` under
//! `target/fault-kafka/`, own ports; never the shared `support::bootstrap()` broker): broker
//! restart, all brokers gone past session.timeout.ms, partitions added, topic deleted, leader
//! (and coordinator) failover on 3 brokers. Each checks our consumer's output against the
//! librdkafka reference reader and the group's committed offsets: nothing lost, nothing that is
//! not in the log, and duplicates only of records not yet committed. Recovery times (fault
//! cleared or injected → first record after it) are printed with `eprintln!` (`--nocapture`).
//!
//! The tests are serialized (each starts JVMs; CI machines are small).

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, Offset, TopicPartition};
use support::{PrivateCluster, unique};
use tokio::time::Instant;

async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

const BASE: &[&str] = &[
    "auto.offset.reset=earliest",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    "fetch.error.backoff.ms=100",
    "enable.auto.commit=false",
];

fn config(bootstrap: &str, group: Option<&str>, extra: &[&str]) -> ConsumerConfig {
    let mut config = ConsumerConfig::new(bootstrap).unwrap();
    let group = group.map(|g| format!("group.id={g}"));
    config
        .apply_pairs(
            BASE.iter()
                .copied()
                .chain(group.as_deref())
                .chain(extra.iter().copied()),
        )
        .unwrap();
    config
}

/// Our consumer plus what it delivered, checked as it goes.
struct Run {
    name: &'static str,
    consumer: Consumer,
    /// (topic, partition, offset) → (value, times delivered)
    seen: BTreeMap<(String, i32, i64), (String, u32)>,
    /// (time, topic, partition, offset) of every delivery, in order.
    deliveries: Vec<(Instant, String, i32, i64)>,
    /// One past the last message handed out, per partition (what `commit()` commits).
    next: BTreeMap<(String, i32), i64>,
    /// What our last successful `commit()` committed, per partition.
    committed: BTreeMap<(String, i32), i64>,
    /// Duplicates of already committed records (must stay empty).
    violations: Vec<String>,
    errors: Vec<(Instant, String)>,
    events: Vec<String>,
}

impl Run {
    fn new(name: &'static str, consumer: Consumer) -> Run {
        Run {
            name,
            consumer,
            seen: BTreeMap::new(),
            deliveries: Vec::new(),
            next: BTreeMap::new(),
            committed: BTreeMap::new(),
            violations: Vec::new(),
            errors: Vec::new(),
            events: Vec::new(),
        }
    }

    fn take(&mut self, event: rskafka_consumer::Result<Event>) {
        match event {
            Ok(Event::Message(m)) => {
                let topic = m.topic.to_string();
                let key = (topic.clone(), m.partition, m.offset);
                let value = String::from_utf8_lossy(m.value.as_deref().unwrap_or_default()).into();
                let entry = self.seen.entry(key).or_insert((value, 0));
                entry.1 += 1;
                if entry.1 > 1 {
                    let c = self.committed.get(&(topic.clone(), m.partition)).copied();
                    if c.is_some_and(|c| m.offset < c) {
                        self.violations.push(format!(
                            "{topic} [{}] offset {} delivered again below our committed offset {c:?}",
                            m.partition, m.offset
                        ));
                    }
                }
                self.next.insert((topic.clone(), m.partition), m.offset + 1);
                self.deliveries
                    .push((Instant::now(), topic, m.partition, m.offset));
            }
            Ok(Event::Assigned(tps)) => self.events.push(format!("assigned {}", show(&tps))),
            Ok(Event::Revoked(tps)) => self.events.push(format!("revoked {}", show(&tps))),
            Ok(Event::Lost(tps)) => self.events.push(format!("lost {}", show(&tps))),
            Ok(_) => {}
            Err(e) => {
                if self.errors.len() < 5 || self.errors.len().is_multiple_of(50) {
                    eprintln!(
                        "[{}] error event #{}: {e}",
                        self.name,
                        self.errors.len() + 1
                    );
                }
                self.errors.push((Instant::now(), e.to_string()));
            }
        }
    }

    async fn pump_for(&mut self, budget: Duration) {
        let deadline = Instant::now() + budget;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.consumer.poll_event(left).await {
                Some(event) => self.take(event),
                None => return,
            }
        }
    }

    /// Polls until `done` holds; panics after `timeout`.
    async fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&Run) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "[{}] timed out after {timeout:?} waiting for {what}\n{}",
                self.name,
                self.describe()
            );
            self.pump_for(Duration::from_millis(50)).await;
        }
    }

    /// Runs the blocking `fault` on a thread while polling; returns when it finished.
    async fn during(&mut self, fault: impl FnOnce() + Send + 'static) -> Instant {
        let handle = tokio::task::spawn_blocking(fault);
        while !handle.is_finished() {
            self.pump_for(Duration::from_millis(50)).await;
        }
        handle.await.expect("fault action panicked");
        Instant::now()
    }

    /// Time of the first delivery after `since` that satisfies `pred` (topic, partition, offset).
    fn first_delivery_after(
        &self,
        since: Instant,
        pred: impl Fn(&str, i32, i64) -> bool,
    ) -> Option<Instant> {
        self.deliveries
            .iter()
            .find(|(t, topic, p, o)| *t >= since && pred(topic, *p, *o))
            .map(|d| d.0)
    }

    fn distinct(&self, topic: &str) -> usize {
        self.seen.keys().filter(|k| k.0 == topic).count()
    }

    /// `commit()`, retried (bounded) while the coordinator is moving; records what it committed.
    async fn commit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let assigned: BTreeSet<(String, i32)> = self
                .consumer
                .assignment()
                .iter()
                .map(|tp| (tp.topic.to_string(), tp.partition))
                .collect();
            let snapshot = self.next.clone();
            match self.consumer.commit().await {
                Ok(()) => {
                    for (k, v) in snapshot {
                        if assigned.contains(&k) {
                            self.committed.insert(k, v);
                        }
                    }
                    return;
                }
                Err(e) => {
                    eprintln!("[{}] commit failed (retrying): {e}", self.name);
                    assert!(
                        Instant::now() < deadline,
                        "[{}] commit kept failing: {e}\n{}",
                        self.name,
                        self.describe()
                    );
                    self.pump_for(Duration::from_millis(200)).await;
                }
            }
        }
    }

    fn describe(&self) -> String {
        let mut per: BTreeMap<(String, i32), (usize, i64)> = BTreeMap::new();
        for (t, p, o) in self.seen.keys() {
            let e = per.entry((t.clone(), *p)).or_insert((0, -1));
            e.0 += 1;
            e.1 = e.1.max(*o);
        }
        let errors: Vec<&String> = self.errors.iter().rev().take(5).map(|e| &e.1).collect();
        format!(
            "distinct per partition (count, max offset): {per:?}\nassignment: {}\nevents: {:?}\n{} errors, last: {errors:?}\ncommitted: {:?}",
            show(&self.consumer.assignment()),
            self.events,
            self.errors.len(),
            self.committed
        )
    }

    /// Against the reference reader: every record of `topic` delivered at least once, nothing
    /// delivered that is not in the log (same values), no duplicate below a committed offset;
    /// with `group`, the group's committed offsets equal the log ends.
    fn verify(&self, cluster: &PrivateCluster, topic: &str, group: Option<&str>) {
        let reference = cluster.read_all(topic);
        let mut expected: BTreeMap<(i32, i64), String> = BTreeMap::new();
        let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &reference {
            let (p, o) = (
                m["partition"].as_i64().unwrap() as i32,
                m["offset"].as_i64().unwrap(),
            );
            expected.insert((p, o), m["value"].as_str().unwrap_or_default().to_owned());
            let e = ends.entry(p).or_insert(0);
            *e = (*e).max(o + 1);
        }
        let ours: BTreeMap<(i32, i64), (String, u32)> = self
            .seen
            .iter()
            .filter(|(k, _)| k.0 == topic)
            .map(|(k, v)| ((k.1, k.2), v.clone()))
            .collect();
        let missing: Vec<&(i32, i64)> = expected.keys().filter(|k| !ours.contains_key(k)).collect();
        let phantom: Vec<&(i32, i64)> = ours.keys().filter(|k| !expected.contains_key(k)).collect();
        let wrong: Vec<&(i32, i64)> = expected
            .iter()
            .filter(|(k, v)| ours.get(k).is_some_and(|o| &o.0 != *v))
            .map(|(k, _)| k)
            .collect();
        let dups = ours.values().filter(|v| v.1 > 1).count();
        eprintln!(
            "[{}] {topic}: reference {} records, ours {} distinct, {dups} delivered more than once",
            self.name,
            expected.len(),
            ours.len()
        );
        assert!(
            missing.is_empty() && phantom.is_empty() && wrong.is_empty(),
            "[{}] {topic}: missing {} {:?}…, not in the log {:?}, different value {:?}\n{}",
            self.name,
            missing.len(),
            &missing[..missing.len().min(10)],
            phantom,
            wrong,
            self.describe()
        );
        assert!(
            self.violations.is_empty(),
            "[{}] duplicates of committed records: {:?}",
            self.name,
            self.violations
        );
        if let Some(group) = group {
            let committed = cluster.group_offsets(group, topic);
            assert_eq!(
                committed, ends,
                "[{}] committed offsets vs log ends",
                self.name
            );
        }
    }
}

fn show(tps: &[TopicPartition]) -> String {
    let v: Vec<String> = tps
        .iter()
        .map(|tp| format!("{}/{}", tp.topic, tp.partition))
        .collect();
    v.join(",")
}

/// `count` records to each of partitions `0..partitions`, record indexes `start..`.
fn produce_each(cluster: &PrivateCluster, topic: &str, partitions: &[i32], start: u32, count: u32) {
    for p in partitions {
        cluster.produce(
            topic,
            &[
                "--partition",
                &p.to_string(),
                "--count",
                &count.to_string(),
                "--start",
                &start.to_string(),
            ],
        );
    }
}

/// A confluent-kafka group member (`group_member.py`, its own group, commits every 10
/// messages) reading the same topic, for its recovery time in the same situation.
struct Reference {
    process: support::PeerProcess,
    /// (wall time, partition, offset) of every message it printed.
    messages: Vec<(f64, i64, i64)>,
    errors: usize,
}

impl Reference {
    fn spawn(cluster: &PrivateCluster, topic: &str, extra: &[&str]) -> Reference {
        let group = unique("fault-ref-g");
        let mut args = vec![
            cluster.bootstrap(),
            group.as_str(),
            topic,
            "range",
            "--commit-every",
            "10",
            "-X",
            "fetch.error.backoff.ms=100",
        ];
        args.extend_from_slice(extra);
        Reference {
            process: support::PeerProcess::spawn("group_member.py", &args),
            messages: Vec::new(),
            errors: 0,
        }
    }

    fn drain(&mut self) {
        while let Some(v) = self.process.try_json(Duration::ZERO) {
            match v["event"].as_str() {
                Some("message") => self.messages.push((
                    v["ts"].as_f64().unwrap(),
                    v["partition"].as_i64().unwrap(),
                    v["offset"].as_i64().unwrap(),
                )),
                Some("error") => self.errors += 1,
                _ => {}
            }
        }
    }

    /// Waits (≤ 30 s) until it read `count` distinct records, then prints its recovery time:
    /// first message after `since` (wall clock) satisfying `pred` (partition, offset).
    fn report(&mut self, what: &str, count: usize, since: f64, pred: impl Fn(i64, i64) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.drain();
            let distinct: BTreeSet<(i64, i64)> = self.messages.iter().map(|m| (m.1, m.2)).collect();
            if distinct.len() >= count || std::time::Instant::now() >= deadline {
                let first = self
                    .messages
                    .iter()
                    .find(|m| m.0 >= since && pred(m.1, m.2))
                    .map(|m| format!("{:.2} s", m.0 - since));
                eprintln!(
                    "RECOVERY-librdkafka {what}: {} [{} of {count} records read, {} error events]",
                    first.unwrap_or_else(|| "no record after the fault".into()),
                    distinct.len(),
                    self.errors
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

const WAIT: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_restart_resumes_from_committed_offsets() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 39700));
    let topic = unique("fault-restart");
    cluster.create_topic(&topic, 3, 1, &[]);
    produce_each(&cluster, &topic, &[0, 1, 2], 0, 50);
    let group = unique("fault-restart-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("restart", consumer);
    let mut reference = Reference::spawn(&cluster, &topic, &[]);
    run.until("the first 150 records", WAIT, |r| r.distinct(&topic) >= 150)
        .await;
    run.commit().await;
    // 150 more, consumed but not committed: these may come again after the restart
    produce_each(&cluster, &topic, &[0, 1, 2], 50, 50);
    run.until("300 records", WAIT, |r| r.distinct(&topic) >= 300)
        .await;

    let c = Arc::clone(&cluster);
    let back = run.during(move || c.restart()).await;
    let back_wall = support::now_secs();
    produce_each(&cluster, &topic, &[0, 1, 2], 100, 50);
    run.until("all 450 records after the restart", WAIT, |r| {
        r.distinct(&topic) >= 450
    })
    .await;
    let first = run
        .first_delivery_after(back, |_, _, o| o >= 100)
        .expect("a new record");
    eprintln!(
        "RECOVERY single-node restart (cluster answering again → first new record): {} [{} error events, events {:?}]",
        secs(first - back),
        run.errors.len(),
        run.events
    );
    reference.report("single-node restart", 450, back_wall, |_, o| o >= 100);
    run.commit().await;
    run.verify(&cluster, &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_brokers_gone_longer_than_session_timeout_then_back() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 39710));
    let topic = unique("fault-gone");
    cluster.create_topic(&topic, 2, 1, &[]);
    produce_each(&cluster, &topic, &[0, 1], 0, 30);
    let group = unique("fault-gone-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("gone", consumer);
    let mut reference = Reference::spawn(&cluster, &topic, &[]);
    run.until("the first 60 records", WAIT, |r| r.distinct(&topic) >= 60)
        .await;
    run.commit().await;

    let c = Arc::clone(&cluster);
    let down = run.during(move || c.stop_node(1)).await;
    let errors_before = run.errors.len();
    run.pump_for(Duration::from_secs(8)).await; // > session.timeout.ms
    let outage_errors = run.errors.len() - errors_before;
    let c = Arc::clone(&cluster);
    let back = run.during(move || c.start_node(1)).await;
    let back_wall = support::now_secs();
    eprintln!(
        "[gone] broker down {} ; {outage_errors} error events during the outage",
        secs(back - down)
    );
    assert!(
        outage_errors <= 100,
        "[gone] {outage_errors} error events while the broker was down: a hot loop"
    );
    produce_each(&cluster, &topic, &[0, 1], 30, 30);
    run.until(
        "the 60 records produced after the broker returned",
        WAIT,
        |r| r.distinct(&topic) >= 120,
    )
    .await;
    let first = run
        .first_delivery_after(back, |_, _, o| o >= 30)
        .expect("a new record");
    eprintln!(
        "RECOVERY all brokers gone 8 s (broker answering again → first new record): {} [events {:?}]",
        secs(first - back),
        run.events
    );
    reference.report("all brokers gone 8 s", 120, back_wall, |_, o| o >= 30);
    run.commit().await;
    run.verify(&cluster, &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_added_while_subscribed_are_picked_up() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 39720));
    let topic = unique("fault-grow");
    cluster.create_topic(&topic, 2, 1, &[]);
    produce_each(&cluster, &topic, &[0, 1], 0, 20);
    let group = unique("fault-grow-g");
    let consumer = Consumer::new(config(
        cluster.bootstrap(),
        Some(&group),
        &["topic.metadata.refresh.interval.ms=1000"],
    ))
    .await
    .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("grow", consumer);
    let mut reference = Reference::spawn(
        &cluster,
        &topic,
        &["-X", "topic.metadata.refresh.interval.ms=1000"],
    );
    run.until("the first 40 records", WAIT, |r| r.distinct(&topic) >= 40)
        .await;

    let (c, t) = (Arc::clone(&cluster), topic.clone());
    let grown = run
        .during(move || {
            c.admin("create-partitions", &[&t, "4"]);
        })
        .await;
    let grown_wall = support::now_secs();
    produce_each(&cluster, &topic, &[2, 3], 0, 20);
    run.until("records of the added partitions", WAIT, |r| {
        r.distinct(&topic) >= 80
    })
    .await;
    let first = run
        .first_delivery_after(grown, |_, p, _| p >= 2)
        .expect("a record of a new partition");
    eprintln!(
        "RECOVERY partitions added (create_partitions done → first record of a new partition): {} [events {:?}]",
        secs(first - grown),
        run.events
    );
    let assigned: BTreeSet<i32> = run
        .consumer
        .assignment()
        .iter()
        .map(|tp| tp.partition)
        .collect();
    reference.report("partitions added", 80, grown_wall, |p, _| p >= 2);
    assert_eq!(assigned, BTreeSet::from([0, 1, 2, 3]), "{}", run.describe());
    run.commit().await;
    run.verify(&cluster, &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_deleted_while_assigned_errors_without_hot_loop() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(1, 39730));
    let doomed = unique("fault-doomed");
    let kept = unique("fault-kept");
    cluster.create_topic(&doomed, 1, 1, &[]);
    cluster.create_topic(&kept, 1, 1, &[]);
    produce_each(&cluster, &doomed, &[0], 0, 10);
    produce_each(&cluster, &kept, &[0], 0, 10);

    // explicit assignment (no group, through a counting proxy) and a group member, side by side
    let proxy = support::proxy::Proxy::start(cluster.bootstrap());
    let assigned = Consumer::new(config(&proxy.address(), None, &[]))
        .await
        .unwrap();
    assigned
        .assign([
            (TopicPartition::new(doomed.as_str(), 0), Offset::Beginning),
            (TopicPartition::new(kept.as_str(), 0), Offset::Beginning),
        ])
        .unwrap();
    let group = unique("fault-doomed-g");
    let member = Consumer::new(config(
        cluster.bootstrap(),
        Some(&group),
        &["topic.metadata.refresh.interval.ms=1000"],
    ))
    .await
    .unwrap();
    member.subscribe(&[&doomed, &kept]).unwrap();
    let mut a = Run::new("deleted/assign", assigned);
    let mut g = Run::new("deleted/group", member);
    for run in [&mut a, &mut g] {
        run.until("both topics' records", WAIT, |r| {
            r.distinct(&doomed) >= 10 && r.distinct(&kept) >= 10
        })
        .await;
    }

    // idle traffic of the assigned consumer (long-poll fetches) over 2 s, for comparison
    let idle_from = proxy.stats().bytes_to_broker;
    a.pump_for(Duration::from_secs(2)).await;
    let idle_bytes = proxy.stats().bytes_to_broker - idle_from;

    let (c, t) = (Arc::clone(&cluster), doomed.clone());
    let deleted = tokio::task::spawn_blocking(move || {
        c.admin("delete-topic", &[&t]);
    });
    // poll both while the deletion runs
    while !deleted.is_finished() {
        a.pump_for(Duration::from_millis(25)).await;
        g.pump_for(Duration::from_millis(25)).await;
    }
    deleted.await.unwrap();
    let gone = Instant::now();
    let (ea, eg) = (a.errors.len(), g.errors.len());
    let after_from = proxy.stats().bytes_to_broker;
    produce_each(&cluster, &kept, &[0], 10, 10);
    let window = Instant::now() + Duration::from_secs(5);
    while Instant::now() < window {
        a.pump_for(Duration::from_millis(25)).await;
        g.pump_for(Duration::from_millis(25)).await;
    }
    let after_bytes = proxy.stats().bytes_to_broker - after_from;
    eprintln!(
        "[deleted/assign] requests to the broker: {idle_bytes} bytes in 2 s idle before, {after_bytes} bytes in the 5 s (+ one produce) after the deletion"
    );
    let mut failures = Vec::new();
    if after_bytes > 1_000_000 {
        failures.push(format!(
            "[deleted/assign] {after_bytes} bytes of requests in 5 s after the deletion: a hot loop"
        ));
    }
    for (run, before) in [(&a, ea), (&g, eg)] {
        let in_window = run.errors.iter().filter(|e| e.0 >= gone).count();
        let first = run.first_delivery_after(gone, |t, _, o| t == kept && o >= 10);
        eprintln!(
            "[{}] errors: {before} before the deletion finished, {in_window} in the 5 s after; first texts: {:?}; kept topic resumed after {:?}; events {:?}; assignment {}",
            run.name,
            run.errors.iter().take(3).map(|e| &e.1).collect::<Vec<_>>(),
            first.map(|f| secs(f - gone)),
            run.events,
            show(&run.consumer.assignment())
        );
        // the group member may instead drop the deleted topic in a rebalance (it is no longer
        // assigned); the explicitly assigned consumer has no other way to learn about it
        let dropped = run.name == "deleted/group"
            && !run
                .consumer
                .assignment()
                .iter()
                .any(|tp| *tp.topic == doomed);
        if dropped && run.errors.is_empty() {
            eprintln!(
                "[{}] no error event, but the deleted topic was revoked",
                run.name
            );
        }
        if run.errors.is_empty() && !dropped {
            failures.push(format!(
                "[{}] no error event for the deleted topic\n{}",
                run.name,
                run.describe()
            ));
        }
        if in_window > 60 {
            failures.push(format!(
                "[{}] {in_window} error events in 5 s: a hot loop\n{}",
                run.name,
                run.describe()
            ));
        }
        if run.distinct(&kept) < 20 {
            failures.push(format!(
                "[{}] the other topic stopped\n{}",
                run.name,
                run.describe()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    a.verify(&cluster, &kept, None);
    g.verify(&cluster, &kept, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_leader_failover() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(3, 39740));
    let topic = unique("fault-failover");
    cluster.create_topic(&topic, 3, 3, &["min.insync.replicas=2"]);
    produce_each(&cluster, &topic, &[0, 1, 2], 0, 50);
    let group = unique("fault-failover-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("failover", consumer);
    let mut reference = Reference::spawn(&cluster, &topic, &[]);
    run.until("the first 150 records", WAIT, |r| r.distinct(&topic) >= 150)
        .await;
    run.commit().await;

    // 1. the leader of partition 0
    let leaders = cluster.leaders(&topic);
    let leader = leaders[&0] as u32;
    eprintln!("[failover] leaders before: {leaders:?}; stopping node {leader}");
    let c = Arc::clone(&cluster);
    let stopped = run.during(move || c.stop_node(leader)).await;
    let stopped_wall = support::now_secs();
    eprintln!("[failover] leaders after: {:?}", cluster.leaders(&topic));
    produce_each(&cluster, &topic, &[0, 1, 2], 50, 50);
    run.until(
        "the 150 records produced after the leader stopped",
        WAIT,
        |r| r.distinct(&topic) >= 300,
    )
    .await;
    let first = run
        .first_delivery_after(stopped, |_, p, o| p == 0 && o >= 50)
        .expect("a new record of partition 0");
    eprintln!(
        "RECOVERY leader stopped (stop-node returned → first new record of its partition): {} [{} errors, events {:?}]",
        secs(first - stopped),
        run.errors.len(),
        run.events
    );
    reference.report("leader stopped", 300, stopped_wall, |p, o| {
        p == 0 && o >= 50
    });
    run.commit().await;
    run.verify(&cluster, &topic, Some(&group));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_coordinator_failover() {
    let _serial = serial().await;
    let cluster = Arc::new(PrivateCluster::start(3, 39750));
    let topic = unique("fault-coord");
    cluster.create_topic(&topic, 3, 3, &["min.insync.replicas=2"]);
    produce_each(&cluster, &topic, &[0, 1, 2], 0, 100);
    let group = unique("fault-coord-g");
    let consumer = Consumer::new(config(cluster.bootstrap(), Some(&group), &[]))
        .await
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut run = Run::new("coordinator", consumer);
    let mut reference = Reference::spawn(&cluster, &topic, &[]);
    run.until("the first 300 records", WAIT, |r| r.distinct(&topic) >= 300)
        .await;
    run.commit().await;

    // 2. the group coordinator
    let coordinator: serde_json::Value =
        serde_json::from_slice(&cluster.admin("coordinator", &[&group])).unwrap();
    let coordinator = coordinator["id"].as_i64().unwrap() as u32;
    eprintln!(
        "[coordinator] stopping the coordinator, node {coordinator}; leaders {:?}",
        cluster.leaders(&topic)
    );
    let c = Arc::clone(&cluster);
    let stopped = run.during(move || c.stop_node(coordinator)).await;
    let stopped_wall = support::now_secs();
    produce_each(&cluster, &topic, &[0, 1, 2], 100, 50);
    run.until(
        "the 150 records produced after the coordinator stopped",
        WAIT,
        |r| r.distinct(&topic) >= 450,
    )
    .await;
    let first = run
        .first_delivery_after(stopped, |_, _, o| o >= 100)
        .expect("a new record");
    eprintln!(
        "RECOVERY coordinator stopped (→ first new record): {} [{} errors]",
        secs(first - stopped),
        run.errors.len()
    );
    let committing = Instant::now();
    run.commit().await;
    eprintln!(
        "RECOVERY coordinator stopped (→ first successful commit, asked at {}): {}",
        secs(committing - stopped),
        secs(Instant::now() - stopped)
    );
    reference.report(
        "coordinator's node stopped (its own group: coordinator may differ)",
        450,
        stopped_wall,
        |_, o| o >= 100,
    );
    run.verify(&cluster, &topic, Some(&group));
}
