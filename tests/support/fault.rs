//! The harness shared by the fault-tolerance suites (`fault_*` test binaries): our consumer
//! driven while faults are injected ([`Run`]), a confluent-kafka group member in the same
//! situation for comparison ([`Reference`]), and the verdict against the librdkafka reference
//! reader and the committed offsets ([`Run::verify`]): nothing lost, nothing that is not in the
//! log, and duplicates only of records not yet committed.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use rskafka_consumer::{Consumer, ConsumerConfig, Event, TopicPartition};
use tokio::time::Instant;

use super::{PeerProcess, group_offsets_at, produce_at, read_all_at, unique};

/// Settings every fault scenario shares: read from the start, notice a lost member within
/// seconds, retry fetch errors quickly, commit only when the test says so.
pub const BASE: &[&str] = &[
    "auto.offset.reset=earliest",
    "session.timeout.ms=6000",
    "heartbeat.interval.ms=500",
    "fetch.error.backoff.ms=100",
    "enable.auto.commit=false",
];

/// A consumer config: [`BASE`], `group.id` when given, then `extra`.
pub fn config(bootstrap: &str, group: Option<&str>, extra: &[&str]) -> ConsumerConfig {
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
pub struct Run {
    pub name: &'static str,
    pub consumer: Consumer,
    /// (topic, partition, offset) → (value, times delivered)
    pub seen: BTreeMap<(String, i32, i64), (String, u32)>,
    /// (time, topic, partition, offset) of every delivery, in order.
    pub deliveries: Vec<(Instant, String, i32, i64)>,
    /// One past the last message handed out, per partition (what `commit()` commits).
    pub next: BTreeMap<(String, i32), i64>,
    /// What our last successful `commit()` committed, per partition.
    pub committed: BTreeMap<(String, i32), i64>,
    /// Duplicates of already committed records (must stay empty).
    pub violations: Vec<String>,
    pub errors: Vec<(Instant, String)>,
    pub events: Vec<String>,
}

impl Run {
    pub fn new(name: &'static str, consumer: Consumer) -> Run {
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

    pub fn take(&mut self, event: rskafka_consumer::Result<Event>) {
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

    pub async fn pump_for(&mut self, budget: Duration) {
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
    pub async fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&Run) -> bool) {
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
    pub async fn during(&mut self, fault: impl FnOnce() + Send + 'static) -> Instant {
        let handle = tokio::task::spawn_blocking(fault);
        while !handle.is_finished() {
            self.pump_for(Duration::from_millis(50)).await;
        }
        handle.await.expect("fault action panicked");
        Instant::now()
    }

    /// [`produce_each`] while polling, so that deliveries are timed as they arrive (a
    /// blocking produce would hold back the polls, and with them every delivery's time).
    pub async fn produce(
        &mut self,
        bootstrap: &str,
        topic: &str,
        partitions: &[i32],
        start: u32,
        count: u32,
    ) {
        let (bootstrap, topic, partitions) =
            (bootstrap.to_owned(), topic.to_owned(), partitions.to_vec());
        self.during(move || produce_each(&bootstrap, &topic, &partitions, start, count))
            .await;
    }

    /// Time of the first delivery after `since` that satisfies `pred` (topic, partition, offset).
    pub fn first_delivery_after(
        &self,
        since: Instant,
        pred: impl Fn(&str, i32, i64) -> bool,
    ) -> Option<Instant> {
        self.deliveries
            .iter()
            .find(|(t, topic, p, o)| *t >= since && pred(topic, *p, *o))
            .map(|d| d.0)
    }

    pub fn distinct(&self, topic: &str) -> usize {
        self.seen.keys().filter(|k| k.0 == topic).count()
    }

    /// `commit()`, retried (bounded) while the coordinator is moving; records what it committed.
    pub async fn commit(&mut self) {
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

    pub fn describe(&self) -> String {
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
    pub fn verify(&self, bootstrap: &str, topic: &str, group: Option<&str>) {
        let reference = read_all_at(bootstrap, topic);
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
            let committed = group_offsets_at(bootstrap, group, topic);
            assert_eq!(
                committed, ends,
                "[{}] committed offsets vs log ends",
                self.name
            );
        }
    }
}

/// `topic/partition,…` for messages.
pub fn show(tps: &[TopicPartition]) -> String {
    let v: Vec<String> = tps
        .iter()
        .map(|tp| format!("{}/{}", tp.topic, tp.partition))
        .collect();
    v.join(",")
}

/// `count` records to each of partitions `0..partitions`, record indexes `start..`.
pub fn produce_each(bootstrap: &str, topic: &str, partitions: &[i32], start: u32, count: u32) {
    for p in partitions {
        produce_at(
            bootstrap,
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
pub struct Reference {
    pub process: PeerProcess,
    /// (wall time, partition, offset) of every message it printed.
    pub messages: Vec<(f64, i64, i64)>,
    pub errors: usize,
}

impl Reference {
    pub fn spawn(bootstrap: &str, topic: &str, extra: &[&str]) -> Reference {
        let group = unique("fault-ref-g");
        let mut args = vec![
            bootstrap,
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
            process: PeerProcess::spawn("group_member.py", &args),
            messages: Vec::new(),
            errors: 0,
        }
    }

    pub fn drain(&mut self) {
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
    pub fn report(
        &mut self,
        what: &str,
        count: usize,
        since: f64,
        pred: impl Fn(i64, i64) -> bool,
    ) {
        let read = self.wait_for(count);
        let first = self
            .messages
            .iter()
            .find(|m| m.0 >= since && pred(m.1, m.2))
            .map(|m| format!("{:.2} s", m.0 - since));
        eprintln!(
            "RECOVERY-librdkafka {what}: {} [{read} of {count} records read, {} error events]",
            first.unwrap_or_else(|| "no record after the fault".into()),
            self.errors
        );
    }

    /// Takes in its output until it read `count` distinct records (at most 30 s); returns how
    /// many it read.
    pub fn wait_for(&mut self, count: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.drain();
            let distinct: BTreeSet<(i64, i64)> = self.messages.iter().map(|m| (m.1, m.2)).collect();
            if distinct.len() >= count || std::time::Instant::now() >= deadline {
                return distinct.len();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A duration as seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
