//! The [`Observer`]: the in-process record of what a consumer and its runner did — the one
//! source of truth that statistics, the Prometheus exposition, the probes (and a status page
//! or alert evaluator) read.
//!
//! Invariants:
//! - Counters only grow (they are totals since the observer was created); gauges that exist
//!   per partition are never stored here but read from the consumer's partition table when a
//!   snapshot is taken ([`Observer::statistics`]), so revoked partitions vanish by
//!   themselves.
//! - A hook takes at most one short lock (the per-topic or per-broker map, once per fetch
//!   response) and never awaits; runner hooks are atomics only.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::time::Instant;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::{
    TopicPartition,
    hooks::{
        CircuitState, CommitReport, ErrorReport, FetchReport, HandlerOutcome, Hooks,
        PartitionSource, RebalanceReport,
    },
};

use super::{
    errors::ErrorLog,
    statistics::{
        BrokerStatistics, BufferStatistics, CommitStatistics, FiringAlert, GroupState,
        GroupStatistics, RunnerStatistics, Statistics, TopicStatistics,
    },
};

/// A histogram of durations with its count and sum kept alongside (for statistics).
#[derive(Debug)]
pub(crate) struct Timing {
    pub(crate) histogram: Histogram,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Timing {
    /// Buckets from 0.5 ms doubling up to about 16 s.
    fn new() -> Self {
        Self {
            histogram: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        self.histogram.observe(d.as_secs_f64());
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// (count, total seconds).
    pub(crate) fn totals(&self) -> (u64, f64) {
        (
            self.count.load(Ordering::Relaxed),
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[derive(Debug, Default)]
struct TopicTotals {
    records: u64,
    bytes: u64,
}

#[derive(Debug)]
struct BrokerTotals {
    requests: u64,
    bytes: u64,
    errors: u64,
    latency: Arc<Timing>,
    /// Sequence numbers (0 = never) of the last response from and the last error of the
    /// broker: the newer tells whether it is reachable.
    last_response: u64,
    last_error: u64,
}

impl BrokerTotals {
    fn new() -> Self {
        Self {
            requests: 0,
            bytes: 0,
            errors: 0,
            latency: Arc::new(Timing::new()),
            last_response: 0,
            last_error: 0,
        }
    }
}

#[derive(Debug)]
struct GroupView {
    state: GroupState,
    generation: i32,
    member_id: String,
    assigned: usize,
    rebalances: u64,
    rebalance_time: Duration,
}

/// Records what the consumer and the runner report through [`Hooks`] and builds
/// [`Statistics`] snapshots from it and from the consumer's partition table.
///
/// Install it on a consumer with `config.hooks = observer.clone().into()` (or
/// `RunnerBuilder::hooks`); one observer serves one consumer.
///
/// # Examples
///
/// ```no_run
/// use std::{sync::Arc, time::Duration};
/// use rskafka_consumer::{Consumer, ConsumerConfig, observe::Observer};
///
/// # async fn demo() -> Result<(), rskafka_consumer::Error> {
/// let observer = Arc::new(Observer::new());
/// let mut config = ConsumerConfig::new("127.0.0.1:9092")?;
/// config.set("statistics.interval.ms", "5000")?;
/// config.hooks = Arc::clone(&observer).into();
/// let interval = config.statistics_interval;
/// let consumer = Consumer::new(config).await?;
/// let mut stats = observer.statistics_channel(interval);
/// tokio::spawn(async move {
///     while let Some(s) = stats.recv().await {
///         println!("{}", serde_json::to_string(&s).unwrap());
///     }
/// });
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Observer {
    started: Instant,
    source: Mutex<Option<Weak<dyn PartitionSource>>>,
    group: Mutex<GroupView>,
    topics: Mutex<BTreeMap<Arc<str>, TopicTotals>>,
    brokers: Mutex<BTreeMap<i32, BrokerTotals>>,
    /// Numbers the brokers' contacts and errors in order (see [`BrokerTotals`]).
    contacts: AtomicU64,
    commits: AtomicU64,
    commit_failures: AtomicU64,
    pub(crate) commit_latency: Timing,
    outcomes: [AtomicU64; 5],
    pub(crate) handler_duration: Timing,
    retries: AtomicU64,
    dead_lettered: AtomicU64,
    dlq_failures: AtomicU64,
    pub(crate) dlq_latency: Timing,
    skips: AtomicU64,
    circuit: AtomicU8,
    errors: ErrorLog,
    alerts: Mutex<Vec<FiringAlert>>,
}

const OUTCOMES: [HandlerOutcome; 5] = [
    HandlerOutcome::Processed,
    HandlerOutcome::Retryable,
    HandlerOutcome::Permanent,
    HandlerOutcome::Timeout,
    HandlerOutcome::Panic,
];

fn outcome_index(o: HandlerOutcome) -> usize {
    OUTCOMES.iter().position(|x| *x == o).unwrap_or(0)
}

fn circuit_from(v: u8) -> CircuitState {
    match v {
        1 => CircuitState::Open,
        2 => CircuitState::HalfOpen,
        _ => CircuitState::Closed,
    }
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer {
    /// An observer with nothing recorded yet.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            source: Mutex::new(None),
            group: Mutex::new(GroupView {
                state: GroupState::Unjoined,
                generation: -1,
                member_id: String::new(),
                assigned: 0,
                rebalances: 0,
                rebalance_time: Duration::ZERO,
            }),
            topics: Mutex::new(BTreeMap::new()),
            brokers: Mutex::new(BTreeMap::new()),
            contacts: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            commit_latency: Timing::new(),
            outcomes: Default::default(),
            handler_duration: Timing::new(),
            retries: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            dlq_failures: AtomicU64::new(0),
            dlq_latency: Timing::new(),
            skips: AtomicU64::new(0),
            circuit: AtomicU8::new(0),
            errors: ErrorLog::default(),
            alerts: Mutex::new(Vec::new()),
        }
    }

    /// The next contact sequence number.
    fn next_contact(&self) -> u64 {
        self.contacts.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// How long ago the observer was created.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The consumer this observer reads, while it is alive.
    pub(crate) fn source(&self) -> Option<Arc<dyn PartitionSource>> {
        self.source
            .lock()
            .expect("observer source lock")
            .as_ref()
            .and_then(Weak::upgrade)
    }

    /// The circuit breaker's state as last reported.
    pub fn circuit(&self) -> CircuitState {
        circuit_from(self.circuit.load(Ordering::Relaxed))
    }

    /// Whether the cluster looks unreachable: every broker fetched from answered its last
    /// request with a connection or request failure.
    pub fn cluster_unreachable(&self) -> bool {
        let brokers = self.brokers.lock().expect("observer brokers lock");
        !brokers.is_empty() && brokers.values().all(|b| b.last_error > b.last_response)
    }

    /// Replaces the alerts reported as firing (an alert evaluator calls this after each
    /// evaluation); snapshots show them until the next call.
    pub fn set_firing_alerts(&self, alerts: Vec<FiringAlert>) {
        *self.alerts.lock().expect("observer alerts lock") = alerts;
    }

    /// The per-broker fetch latency histograms, for the exposition.
    pub(crate) fn fetch_latencies(&self) -> Vec<(i32, Arc<Timing>)> {
        let brokers = self.brokers.lock().expect("observer brokers lock");
        brokers
            .iter()
            .map(|(b, t)| (*b, Arc::clone(&t.latency)))
            .collect()
    }

    /// A snapshot of everything: totals since start, the group's state, and every assigned
    /// partition as of now.
    pub fn statistics(&self) -> Statistics {
        let source = self.source();
        let partitions = source.as_ref().map(|s| s.partitions()).unwrap_or_default();
        let group_id = source
            .as_ref()
            .and_then(|s| s.group_id().map(str::to_owned));
        let buffer = source.as_ref().map(|s| BufferStatistics {
            bytes: s.buffered_bytes() as u64,
            budget: s.buffer_budget() as u64,
        });
        let group = group_id.map(|id| {
            let g = self.group.lock().expect("observer group lock");
            GroupStatistics {
                id,
                state: g.state,
                generation: g.generation,
                member_id: g.member_id.clone(),
                assigned_partitions: g.assigned as u64,
                rebalances: g.rebalances,
                rebalance_seconds: g.rebalance_time.as_secs_f64(),
            }
        });
        let topics = self
            .topics
            .lock()
            .expect("observer topics lock")
            .iter()
            .map(|(t, v)| TopicStatistics {
                topic: Arc::clone(t),
                records: v.records,
                bytes: v.bytes,
            })
            .collect();
        let brokers = self
            .brokers
            .lock()
            .expect("observer brokers lock")
            .iter()
            .map(|(b, v)| {
                let (_, secs) = v.latency.totals();
                BrokerStatistics {
                    broker: *b,
                    fetch_requests: v.requests,
                    fetch_bytes: v.bytes,
                    fetch_seconds: secs,
                    connection_errors: v.errors,
                }
            })
            .collect();
        let (_, commit_seconds) = self.commit_latency.totals();
        let (_, handler_seconds) = self.handler_duration.totals();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let lag = partitions.iter().filter_map(|p| p.lag).sum();
        let committed_lag = partitions.iter().filter_map(|p| p.committed_lag).sum();
        Statistics {
            time_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            group,
            lag,
            committed_lag,
            partitions,
            topics,
            brokers,
            buffer,
            commits: CommitStatistics {
                count: load(&self.commits),
                failures: load(&self.commit_failures),
                seconds: commit_seconds,
            },
            runner: RunnerStatistics {
                handler_outcomes: OUTCOMES
                    .iter()
                    .map(|o| (o.as_str(), load(&self.outcomes[outcome_index(*o)])))
                    .collect(),
                handler_seconds,
                retries: load(&self.retries),
                dead_lettered: load(&self.dead_lettered),
                dlq_produce_failures: load(&self.dlq_failures),
                idempotent_skips: load(&self.skips),
                circuit: self.circuit().as_str(),
            },
            cluster_reachable: !self.cluster_unreachable(),
            errors: self.errors.recent(),
            alerts: self.alerts.lock().expect("observer alerts lock").clone(),
        }
    }

    /// Delivers a [`Statistics`] snapshot to `callback` every `interval` (librdkafka's
    /// `statistics.interval.ms`, [`crate::ConsumerConfig::statistics_interval`]) until the
    /// returned task is aborted or the observer is dropped. A zero interval delivers nothing.
    pub fn on_statistics(
        self: &Arc<Self>,
        interval: Duration,
        mut callback: impl FnMut(Statistics) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let observer = Arc::downgrade(self);
        tokio::spawn(async move {
            if interval.is_zero() {
                return;
            }
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(observer) = observer.upgrade() else {
                    return;
                };
                callback(observer.statistics());
            }
        })
    }

    /// As [`Observer::on_statistics`], into a channel (holding at most a few snapshots: a
    /// snapshot the receiver is too slow for is dropped, never queued without bound). The
    /// channel closes when the observer is dropped.
    pub fn statistics_channel(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::sync::mpsc::Receiver<Statistics> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let closed = tx.clone();
        let task = self.on_statistics(interval, move |s| {
            let _ = tx.try_send(s);
        });
        tokio::spawn(async move {
            closed.closed().await;
            task.abort();
        });
        rx
    }
}

impl Hooks for Observer {
    fn on_start(&self, source: Weak<dyn PartitionSource>) {
        *self.source.lock().expect("observer source lock") = Some(source);
    }

    fn on_fetch(&self, fetch: &FetchReport<'_>) {
        let seq = self.next_contact();
        {
            let mut brokers = self.brokers.lock().expect("observer brokers lock");
            let b = brokers
                .entry(fetch.broker)
                .or_insert_with(BrokerTotals::new);
            b.last_response = b.last_response.max(seq);
            b.requests += 1;
            b.bytes += fetch.bytes;
            b.latency.observe(fetch.latency);
        }
        if fetch.topics.is_empty() {
            return;
        }
        let mut topics = self.topics.lock().expect("observer topics lock");
        for (topic, records, bytes) in fetch.topics {
            let t = match topics.get_mut(topic) {
                Some(t) => t,
                None => topics.entry(Arc::clone(topic)).or_default(),
            };
            t.records += records;
            t.bytes += bytes;
        }
    }

    fn on_broker_error(&self, broker: i32) {
        let seq = self.next_contact();
        let mut brokers = self.brokers.lock().expect("observer brokers lock");
        let b = brokers.entry(broker).or_insert_with(BrokerTotals::new);
        b.last_error = b.last_error.max(seq);
        b.errors += 1;
    }

    fn on_rebalance_started(&self, _group: &str) {
        let mut g = self.group.lock().expect("observer group lock");
        g.state = GroupState::Rebalancing;
    }

    fn on_rebalance_finished(&self, r: &RebalanceReport<'_>) {
        let mut g = self.group.lock().expect("observer group lock");
        g.state = GroupState::Stable;
        g.generation = r.generation;
        if g.member_id != r.member_id {
            r.member_id.clone_into(&mut g.member_id);
        }
        g.assigned = r.assigned;
        g.rebalances += 1;
        g.rebalance_time += r.duration;
    }

    fn on_commit(&self, c: &CommitReport<'_>) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if !c.ok {
            self.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.commit_latency.observe(c.latency);
    }

    fn on_handler(&self, _tp: &TopicPartition, elapsed: Duration, outcome: HandlerOutcome) {
        self.outcomes[outcome_index(outcome)].fetch_add(1, Ordering::Relaxed);
        self.handler_duration.observe(elapsed);
    }

    fn on_retry(&self, _tp: &TopicPartition) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    fn on_idempotent_skip(&self, _tp: &TopicPartition) {
        self.skips.fetch_add(1, Ordering::Relaxed);
    }

    fn on_dead_lettered(&self, _tp: &TopicPartition, latency: Duration) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
        self.dlq_latency.observe(latency);
    }

    fn on_dead_letter_failed(&self, _tp: &TopicPartition) {
        self.dlq_failures.fetch_add(1, Ordering::Relaxed);
    }

    fn on_circuit(&self, state: CircuitState) {
        let v = match state {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        };
        self.circuit.store(v, Ordering::Relaxed);
    }

    fn on_error(&self, error: &ErrorReport<'_>) {
        self.errors.record(error);
    }
}
