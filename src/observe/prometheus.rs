//! The Prometheus/OpenMetrics exposition of an [`Observer`], with the `prometheus-client`
//! crate.
//!
//! Invariants:
//! - Every value is read from the observer when scraped (one [`Statistics`] snapshot per
//!   scrape): the exposition never disagrees with the statistics, and per-partition series
//!   exist exactly for the partitions assigned at that moment — a revoked or lost partition's
//!   series are gone at the next scrape (bounded cardinality).
//! - Names follow Prometheus conventions: `rkc_` prefix, counters end in `_total`, units
//!   (`_seconds`, `_bytes`) are part of the name; labels are `topic`, `partition`, `group`,
//!   `broker` (and `outcome`, `state` for enumerations). [`METRIC_NAMES`] lists them all.

use std::{fmt, sync::Arc};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::{Registry, Unit},
};

use super::{Observer, Statistics, observer::Timing};

/// Every metric family name as it appears in the exposition (counters with `_total`;
/// histograms also have `_bucket`, `_sum`, `_count` series).
pub const METRIC_NAMES: &[&str] = &[
    "rkc_partition_position",
    "rkc_partition_committed_offset",
    "rkc_partition_high_watermark",
    "rkc_partition_last_stable_offset",
    "rkc_partition_lag",
    "rkc_partition_committed_lag",
    "rkc_partition_paused",
    "rkc_consumed_records_total",
    "rkc_consumed_bytes_total",
    "rkc_fetch_requests_total",
    "rkc_fetch_bytes_total",
    "rkc_fetch_latency_seconds",
    "rkc_connection_errors_total",
    "rkc_buffered_bytes",
    "rkc_buffer_budget_bytes",
    "rkc_group_generation",
    "rkc_group_stable",
    "rkc_assigned_partitions",
    "rkc_rebalances_total",
    "rkc_rebalance_seconds_total",
    "rkc_commits_total",
    "rkc_commit_failures_total",
    "rkc_commit_latency_seconds",
    "rkc_handler_duration_seconds",
    "rkc_handler_outcomes_total",
    "rkc_retries_total",
    "rkc_dlq_records_total",
    "rkc_dlq_produce_failures_total",
    "rkc_dlq_produce_latency_seconds",
    "rkc_idempotency_skips_total",
    "rkc_circuit_state",
    "rkc_cluster_reachable",
];

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A Prometheus registry holding an observer's metrics. More metrics or collectors (e.g.
/// alert state) can be registered through [`Metrics::registry_mut`] before serving.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
}

impl Metrics {
    /// The metrics of `observer`.
    pub fn new(observer: Arc<Observer>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ObserverCollector(observer)));
        Self { registry }
    }

    /// The registry, to register more metrics.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The exposition in the OpenMetrics text format (which Prometheus scrapes), ending
    /// with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[derive(Debug)]
struct ObserverCollector(Arc<Observer>);

type Labels = Vec<(&'static str, String)>;

/// One family of constant values.
fn family<V>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: impl IntoIterator<Item = (Labels, V)>,
) -> fmt::Result
where
    V: EncodeMetric,
{
    let mut series = series.into_iter().peekable();
    let Some((_, first)) = series.peek() else {
        return Ok(());
    };
    let kind = first.metric_type();
    let mut metric = enc.encode_descriptor(name, help, unit, kind)?;
    for (labels, value) in series {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, Arc<Timing>)>,
) -> fmt::Result {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric =
        enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    for (labels, timing) in series {
        timing.histogram.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge(v: i64) -> ConstGauge<i64> {
    ConstGauge::new(v)
}

fn partition_labels(group: &str, topic: &str, partition: i32) -> Labels {
    let mut l = vec![
        ("topic", topic.to_owned()),
        ("partition", partition.to_string()),
    ];
    if !group.is_empty() {
        l.push(("group", group.to_owned()));
    }
    l
}

impl Collector for ObserverCollector {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let s: Statistics = self.0.statistics();
        let group = s.group.as_ref().map(|g| g.id.clone()).unwrap_or_default();
        let group_labels: Labels = if group.is_empty() {
            Vec::new()
        } else {
            vec![("group", group.clone())]
        };
        let per_partition = |f: &dyn Fn(&crate::hooks::PartitionStats) -> Option<i64>| {
            s.partitions
                .iter()
                .filter_map(|p| {
                    f(p).map(|v| (partition_labels(&group, &p.topic, p.partition), gauge(v)))
                })
                .collect::<Vec<_>>()
        };
        let e = &mut enc;
        family(
            e,
            "rkc_partition_position",
            "Offset of the next message the application receives.",
            None,
            per_partition(&|p| p.position),
        )?;
        family(
            e,
            "rkc_partition_committed_offset",
            "The group's committed offset.",
            None,
            per_partition(&|p| p.committed),
        )?;
        family(
            e,
            "rkc_partition_high_watermark",
            "High watermark as of the last fetch.",
            None,
            per_partition(&|p| p.high_watermark),
        )?;
        family(
            e,
            "rkc_partition_last_stable_offset",
            "Last stable offset as of the last fetch.",
            None,
            per_partition(&|p| p.last_stable_offset),
        )?;
        family(
            e,
            "rkc_partition_lag",
            "Records between the position and the end (LSO under read_committed, else HW).",
            None,
            per_partition(&|p| p.lag),
        )?;
        family(
            e,
            "rkc_partition_committed_lag",
            "Records between the committed offset and the end.",
            None,
            per_partition(&|p| p.committed_lag),
        )?;
        family(
            e,
            "rkc_partition_paused",
            "1 while the partition is paused.",
            None,
            per_partition(&|p| Some(i64::from(p.paused))),
        )?;
        family(
            e,
            "rkc_consumed_records",
            "Records fetched, per topic.",
            None,
            s.topics
                .iter()
                .map(|t| (vec![("topic", t.topic.to_string())], counter(t.records))),
        )?;
        family(
            e,
            "rkc_consumed",
            "Record-batch bytes fetched, per topic.",
            Some(&Unit::Bytes),
            s.topics
                .iter()
                .map(|t| (vec![("topic", t.topic.to_string())], counter(t.bytes))),
        )?;
        let broker = |b: i32| vec![("broker", b.to_string())];
        family(
            e,
            "rkc_fetch_requests",
            "Fetch responses received, per broker.",
            None,
            s.brokers
                .iter()
                .map(|b| (broker(b.broker), counter(b.fetch_requests))),
        )?;
        family(
            e,
            "rkc_fetch",
            "Record-batch bytes fetched, per broker.",
            Some(&Unit::Bytes),
            s.brokers
                .iter()
                .map(|b| (broker(b.broker), counter(b.fetch_bytes))),
        )?;
        histogram(
            e,
            "rkc_fetch_latency",
            "Fetch request latency, per broker.",
            self.0
                .fetch_latencies()
                .into_iter()
                .map(|(b, t)| (broker(b), t)),
        )?;
        family(
            e,
            "rkc_connection_errors",
            "Failed requests and connections, per broker.",
            None,
            s.brokers
                .iter()
                .map(|b| (broker(b.broker), counter(b.connection_errors))),
        )?;
        if let Some(buffer) = &s.buffer {
            let bytes = |v: u64| gauge(i64::try_from(v).unwrap_or(i64::MAX));
            family(
                e,
                "rkc_buffered",
                "Fetched bytes buffered ahead of the application.",
                Some(&Unit::Bytes),
                [(Vec::new(), bytes(buffer.bytes))],
            )?;
            family(
                e,
                "rkc_buffer_budget",
                "The buffer's budget (queued.max.messages.kbytes).",
                Some(&Unit::Bytes),
                [(Vec::new(), bytes(buffer.budget))],
            )?;
        }
        if let Some(g) = &s.group {
            family(
                e,
                "rkc_group_generation",
                "The group generation last synced into.",
                None,
                [(group_labels.clone(), gauge(i64::from(g.generation)))],
            )?;
            family(
                e,
                "rkc_group_stable",
                "1 while the member is synced into a generation.",
                None,
                [(
                    group_labels.clone(),
                    gauge(i64::from(g.state == super::GroupState::Stable)),
                )],
            )?;
            family(
                e,
                "rkc_assigned_partitions",
                "Partitions the member owns.",
                None,
                [(
                    group_labels.clone(),
                    gauge(i64::try_from(g.assigned_partitions).unwrap_or(i64::MAX)),
                )],
            )?;
            family(
                e,
                "rkc_rebalances",
                "Rebalances completed.",
                None,
                [(group_labels.clone(), counter(g.rebalances))],
            )?;
            family(
                e,
                "rkc_rebalance",
                "Time spent rebalancing.",
                Some(&Unit::Seconds),
                [(group_labels.clone(), ConstCounter::new(g.rebalance_seconds))],
            )?;
        }
        family(
            e,
            "rkc_commits",
            "Offset commits (each with its retries).",
            None,
            [(group_labels.clone(), counter(s.commits.count))],
        )?;
        family(
            e,
            "rkc_commit_failures",
            "Offset commits that failed.",
            None,
            [(group_labels.clone(), counter(s.commits.failures))],
        )?;
        timing_family(
            e,
            "rkc_commit_latency",
            "Offset commit latency.",
            &group_labels,
            &self.0.commit_latency,
        )?;
        timing_family(
            e,
            "rkc_handler_duration",
            "Handler attempt duration.",
            &group_labels,
            &self.0.handler_duration,
        )?;
        family(
            e,
            "rkc_handler_outcomes",
            "Handler attempts by outcome.",
            None,
            s.runner.handler_outcomes.iter().map(|(o, n)| {
                let mut l = group_labels.clone();
                l.push(("outcome", (*o).to_owned()));
                (l, counter(*n))
            }),
        )?;
        let runner_counters: [(&str, &str, u64); 4] = [
            (
                "rkc_retries",
                "Attempts scheduled again after a failure.",
                s.runner.retries,
            ),
            (
                "rkc_dlq_records",
                "Messages written to the dead-letter topic.",
                s.runner.dead_lettered,
            ),
            (
                "rkc_dlq_produce_failures",
                "Dead-letter writes that failed (and were retried).",
                s.runner.dlq_produce_failures,
            ),
            (
                "rkc_idempotency_skips",
                "Messages skipped because the idempotency store knew them.",
                s.runner.idempotent_skips,
            ),
        ];
        for (name, help, v) in runner_counters {
            family(e, name, help, None, [(group_labels.clone(), counter(v))])?;
        }
        timing_family(
            e,
            "rkc_dlq_produce_latency",
            "Dead-letter write latency.",
            &group_labels,
            &self.0.dlq_latency,
        )?;
        family(
            e,
            "rkc_circuit_state",
            "1 for the circuit breaker's current state (closed, open, half_open).",
            None,
            ["closed", "open", "half_open"].map(|state| {
                let mut l = group_labels.clone();
                l.push(("state", state.to_owned()));
                (l, gauge(i64::from(s.runner.circuit == state)))
            }),
        )?;
        family(
            e,
            "rkc_cluster_reachable",
            "0 when the last thing heard from the cluster was an error.",
            None,
            [(Vec::new(), gauge(i64::from(s.cluster_reachable)))],
        )?;
        Ok(())
    }
}

fn timing_family(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    labels: &Labels,
    timing: &Timing,
) -> fmt::Result {
    let mut metric =
        enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    timing.histogram.encode(metric.encode_family(labels)?)
}
