//! [`Statistics`]: one snapshot of a consumer (and its runner), serializable to JSON — the
//! counterpart of librdkafka's `statistics.interval.ms` JSON.
//!
//! Invariants: every counter is a total since the observer was created (rates are the
//! difference of two snapshots divided by the time between them); per-partition values are
//! those of the partitions assigned when the snapshot was taken, and nothing else.

use std::{collections::BTreeMap, sync::Arc};

use serde::Serialize;

use crate::hooks::PartitionStats;

use super::errors::ErrorEvent;

/// Where the member stands in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Not joined yet.
    Unjoined,
    /// Joining or rejoining: no stable assignment.
    Rebalancing,
    /// Synced into a generation.
    Stable,
}

impl GroupState {
    /// `unjoined`, `rebalancing`, `stable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unjoined => "unjoined",
            Self::Rebalancing => "rebalancing",
            Self::Stable => "stable",
        }
    }
}

/// The group membership.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatistics {
    /// `group.id`.
    pub id: String,
    /// Where the member stands.
    pub state: GroupState,
    /// The generation last synced into (−1: none yet).
    pub generation: i32,
    /// The member id the coordinator gave this member (empty before the first join).
    pub member_id: String,
    /// Partitions the member owns in that generation.
    pub assigned_partitions: u64,
    /// Rebalances completed.
    pub rebalances: u64,
    /// Time spent in those rebalances.
    pub rebalance_seconds: f64,
}

/// Data fetched for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicStatistics {
    /// Topic name.
    pub topic: Arc<str>,
    /// Records fetched (from batch headers, before read_committed filtering).
    pub records: u64,
    /// Record-batch bytes fetched.
    pub bytes: u64,
}

/// Fetches from one broker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerStatistics {
    /// The broker's node id.
    pub broker: i32,
    /// Fetch responses received.
    pub fetch_requests: u64,
    /// Record-batch bytes they carried.
    pub fetch_bytes: u64,
    /// Total fetch latency (divide by `fetch_requests` for the mean).
    pub fetch_seconds: f64,
    /// Failed requests and connections.
    pub connection_errors: u64,
}

/// The delivery buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BufferStatistics {
    /// Bytes buffered ahead of the application.
    pub bytes: u64,
    /// The budget (`queued.max.messages.kbytes` × 1024).
    pub budget: u64,
}

/// Offset commits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitStatistics {
    /// Commits made (each with its retries).
    pub count: u64,
    /// Of those, the ones that failed.
    pub failures: u64,
    /// Total commit latency.
    pub seconds: f64,
}

/// The runner (all zero for a plain consumer).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerStatistics {
    /// Handler attempts by outcome (`processed`, `retryable`, `permanent`, `timeout`,
    /// `panic`).
    pub handler_outcomes: BTreeMap<&'static str, u64>,
    /// Total time in the handler.
    pub handler_seconds: f64,
    /// Attempts scheduled again after a failure.
    pub retries: u64,
    /// Messages written to the dead-letter topic.
    pub dead_lettered: u64,
    /// Dead-letter writes that failed (and were retried).
    pub dlq_produce_failures: u64,
    /// Messages skipped because the idempotency store knew them.
    pub idempotent_skips: u64,
    /// The circuit breaker: `closed`, `open` or `half_open`.
    pub circuit: &'static str,
}

impl RunnerStatistics {
    /// Handler attempts that ended with `outcome` (e.g. `"processed"`).
    pub fn outcome(&self, outcome: &str) -> u64 {
        self.handler_outcomes.get(outcome).copied().unwrap_or(0)
    }
}

/// An alert that is firing now (filled by an alert evaluator through
/// [`super::Observer::set_firing_alerts`]; none without one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiringAlert {
    /// The rule's name.
    pub name: String,
    /// Its severity (e.g. `warning`, `critical`).
    pub severity: String,
    /// Since when it fires (Unix milliseconds).
    pub since_ms: u64,
    /// What it found, for humans.
    pub summary: String,
}

/// One snapshot of a consumer and its runner. Serialize it with `serde_json` for
/// librdkafka-style statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    /// When the snapshot was taken (Unix milliseconds).
    pub time_ms: u64,
    /// Seconds since the observer was created.
    pub uptime_seconds: f64,
    /// The group membership (`None` without a `group.id`).
    pub group: Option<GroupStatistics>,
    /// Sum of the assigned partitions' lag behind the end (position).
    pub lag: i64,
    /// Sum of the assigned partitions' lag behind the end (committed offset).
    pub committed_lag: i64,
    /// Every assigned partition.
    pub partitions: Vec<PartitionStats>,
    /// Data fetched per topic.
    pub topics: Vec<TopicStatistics>,
    /// Fetches per broker.
    pub brokers: Vec<BrokerStatistics>,
    /// The delivery buffer (`None` once the consumer is gone).
    pub buffer: Option<BufferStatistics>,
    /// Offset commits.
    pub commits: CommitStatistics,
    /// The runner's outcomes.
    pub runner: RunnerStatistics,
    /// False when the last thing heard from the cluster was an error.
    pub cluster_reachable: bool,
    /// The last errors, newest first (at most [`super::ERROR_RING`]).
    pub errors: Vec<ErrorEvent>,
    /// Alerts firing now (empty without an alert evaluator).
    pub alerts: Vec<FiringAlert>,
}
