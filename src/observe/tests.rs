//! Unit tests of the observer, its exposition and the probes, fed through the hooks with a
//! stand-in partition table.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_parse::{Scrape, Value};

use super::{Metrics, Observer, probes};
use crate::{
    TopicPartition,
    hooks::{
        CircuitState, CommitReport, FetchReport, HandlerOutcome, Hooks, PartitionSource,
        PartitionStats, RebalanceReport,
    },
};

/// A partition table whose content the test sets.
struct FakeTable(Mutex<Vec<PartitionStats>>);

impl PartitionSource for FakeTable {
    fn partitions(&self) -> Vec<PartitionStats> {
        self.0.lock().unwrap().clone()
    }
    fn buffered_bytes(&self) -> usize {
        10
    }
    fn buffer_budget(&self) -> usize {
        100
    }
    fn group_id(&self) -> Option<&str> {
        Some("billing")
    }
}

fn partition(topic: &str, partition: i32, position: i64, end: i64) -> PartitionStats {
    PartitionStats {
        topic: topic.into(),
        partition,
        position: Some(position),
        committed: Some(position),
        high_watermark: Some(end),
        last_stable_offset: Some(end),
        end: Some(end),
        lag: Some(end - position),
        committed_lag: Some(end - position),
        paused: false,
    }
}

fn started(parts: Vec<PartitionStats>) -> (Arc<Observer>, Arc<FakeTable>) {
    let observer = Arc::new(Observer::new());
    let table = Arc::new(FakeTable(Mutex::new(parts)));
    let source: Arc<dyn PartitionSource> = Arc::clone(&table) as _;
    observer.on_start(Arc::downgrade(&source));
    (observer, table)
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the exposition parses")
}

fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
            Value::Summary(_) => f64::NAN,
        })
}

fn feed(observer: &Observer) {
    let tp = TopicPartition::new("orders", 0);
    let topics = [(Arc::<str>::from("orders"), 5, 500)];
    observer.on_fetch(&FetchReport {
        broker: 1,
        latency: Duration::from_millis(3),
        bytes: 500,
        topics: &topics,
    });
    observer.on_rebalance_started("billing");
    observer.on_rebalance_finished(&RebalanceReport {
        group: "billing",
        generation: 7,
        member_id: "rkc-1",
        duration: Duration::from_millis(250),
        assigned: 2,
    });
    observer.on_commit(&CommitReport {
        group: "billing",
        latency: Duration::from_millis(4),
        partitions: 2,
        ok: false,
    });
    for outcome in [
        HandlerOutcome::Processed,
        HandlerOutcome::Processed,
        HandlerOutcome::Retryable,
        HandlerOutcome::Permanent,
    ] {
        observer.on_handler(&tp, Duration::from_millis(2), outcome);
    }
    observer.on_retry(&tp);
    observer.on_dead_lettered(&tp, Duration::from_millis(6));
    observer.on_dead_letter_failed(&tp);
    observer.on_idempotent_skip(&tp);
    observer.on_broker_error(2);
}

#[test]
fn the_exposition_parses_and_carries_every_metric_with_the_hooked_values() {
    let (observer, _table) = started(vec![
        partition("orders", 0, 3, 10),
        partition("orders", 1, 4, 4),
    ]);
    feed(&observer);
    let text = Metrics::new(Arc::clone(&observer)).encode();
    let scrape = parse(&text);
    for name in super::METRIC_NAMES {
        let base = name.trim_end_matches("_total");
        assert!(
            scrape
                .samples
                .iter()
                .any(|s| s.metric == *name || s.metric == base),
            "{name} missing from\n{text}"
        );
    }
    let p0 = [
        ("topic", "orders"),
        ("partition", "0"),
        ("group", "billing"),
    ];
    assert_eq!(value(&scrape, "rkc_partition_lag", &p0), Some(7.0));
    assert_eq!(value(&scrape, "rkc_partition_position", &p0), Some(3.0));
    assert_eq!(
        value(
            &scrape,
            "rkc_consumed_records_total",
            &[("topic", "orders")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(&scrape, "rkc_consumed_bytes_total", &[("topic", "orders")]),
        Some(500.0)
    );
    assert_eq!(
        value(&scrape, "rkc_fetch_requests_total", &[("broker", "1")]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "rkc_connection_errors_total", &[("broker", "2")]),
        Some(1.0)
    );
    assert_eq!(value(&scrape, "rkc_group_generation", &[]), Some(7.0));
    assert_eq!(value(&scrape, "rkc_assigned_partitions", &[]), Some(2.0));
    assert_eq!(value(&scrape, "rkc_rebalances_total", &[]), Some(1.0));
    assert_eq!(value(&scrape, "rkc_commit_failures_total", &[]), Some(1.0));
    assert_eq!(
        value(
            &scrape,
            "rkc_handler_outcomes_total",
            &[("outcome", "processed")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&scrape, "rkc_handler_duration_seconds", &[]),
        Some(4.0)
    );
    assert_eq!(value(&scrape, "rkc_retries_total", &[]), Some(1.0));
    assert_eq!(value(&scrape, "rkc_dlq_records_total", &[]), Some(1.0));
    assert_eq!(
        value(&scrape, "rkc_dlq_produce_failures_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "rkc_idempotency_skips_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, "rkc_circuit_state", &[("state", "closed")]),
        Some(1.0)
    );
    assert_eq!(value(&scrape, "rkc_buffered_bytes", &[]), Some(10.0));
}

#[test]
fn per_partition_series_exist_only_for_assigned_partitions() {
    let (observer, table) = started(vec![
        partition("orders", 0, 3, 10),
        partition("orders", 1, 4, 4),
    ]);
    let metrics = Metrics::new(Arc::clone(&observer));
    let count = |scrape: &Scrape| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric.starts_with("rkc_partition_"))
            .filter(|s| s.labels.get("partition") == Some("1"))
            .count()
    };
    assert_eq!(count(&parse(&metrics.encode())), 7);
    table.0.lock().unwrap().retain(|p| p.partition == 0);
    assert_eq!(count(&parse(&metrics.encode())), 0);
}

#[test]
fn statistics_serialize_to_json_with_totals_and_partitions() {
    let (observer, _table) = started(vec![partition("orders", 0, 3, 10)]);
    feed(&observer);
    let json = serde_json::to_value(observer.statistics()).unwrap();
    assert_eq!(json["lag"], 7);
    assert_eq!(json["group"]["generation"], 7);
    assert_eq!(json["group"]["state"], "stable");
    assert_eq!(json["partitions"][0]["topic"], "orders");
    assert_eq!(json["topics"][0]["records"], 5);
    assert_eq!(json["runner"]["dead_lettered"], 1);
    assert_eq!(json["runner"]["handler_outcomes"]["processed"], 2);
    assert_eq!(json["runner"]["handler_outcomes"]["permanent"], 1);
    assert_eq!(json["runner"]["circuit"], "closed");
}

#[test]
fn readiness_needs_an_assignment_a_closed_circuit_and_a_reachable_cluster() {
    let (observer, _table) = started(vec![partition("orders", 0, 3, 10)]);
    assert!(probes::liveness(&observer).ok);
    let r = probes::readiness(&observer, Duration::ZERO);
    assert!(!r.ok, "{r:?}");
    assert!(
        probes::readiness(&observer, Duration::from_secs(3600)).ok,
        "within the grace period"
    );
    feed(&observer);
    // Broker 2 failed, broker 1 answered: reachable.
    assert!(probes::readiness(&observer, Duration::ZERO).ok);
    observer.on_broker_error(1);
    let r = probes::readiness(&observer, Duration::from_secs(3600));
    assert!(!r.ok && r.reason.contains("unreachable"), "{r:?}");
    observer.on_fetch(&FetchReport {
        broker: 2,
        latency: Duration::ZERO,
        bytes: 0,
        topics: &[],
    });
    assert!(probes::readiness(&observer, Duration::ZERO).ok);
    observer.on_circuit(CircuitState::Open);
    let r = probes::readiness(&observer, Duration::from_secs(3600));
    assert!(!r.ok && r.reason.contains("circuit"), "{r:?}");
    observer.on_circuit(CircuitState::Closed);
    observer.on_rebalance_started("billing");
    assert!(!probes::readiness(&observer, Duration::ZERO).ok);
}

#[test]
fn without_a_consumer_nothing_is_live() {
    let observer = Observer::new();
    assert!(!probes::liveness(&observer).ok);
    let (observer, table) = started(Vec::new());
    drop(table);
    assert!(!probes::liveness(&observer).ok, "the consumer was dropped");
}

#[tokio::test(start_paused = true)]
async fn statistics_arrive_every_interval_on_the_channel() {
    let (observer, _table) = started(vec![partition("orders", 0, 3, 10)]);
    let mut rx = observer.statistics_channel(Duration::from_secs(5));
    let first = rx.recv().await.unwrap();
    let second = rx.recv().await.unwrap();
    assert_eq!(first.lag, 7);
    assert!(second.uptime_seconds - first.uptime_seconds >= 5.0);
}
