//! What the runner reports: retries, dead letters, the circuit, rebalances, errors.
//!
//! Invariants: every failure the runner handles is reported once as an event (and logged
//! through `tracing` with topic/partition/offset); a dead-letter outage is reported once per
//! outage, not per attempt; `circuit_open` is reported once per opening. The JSON shape of
//! each event ([`RunnerEvent::to_json`]) is an interface: `rkc run` prints it on stderr.

use std::time::Duration;

use serde_json::{Value, json};

use super::sink::DlqReceipt;
use crate::{Message, TopicPartition};

/// Where a message came from, for events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl From<&Message> for Source {
    fn from(m: &Message) -> Self {
        Self {
            topic: m.topic.to_string(),
            partition: m.partition,
            offset: m.offset,
        }
    }
}

/// One thing the runner reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunnerEvent {
    /// Partitions assigned to this member.
    Assigned(Vec<TopicPartition>),
    /// Partitions revoked (their finished prefix committed first, when possible).
    Revoked(Vec<TopicPartition>),
    /// Partitions lost (nothing committed).
    Lost(Vec<TopicPartition>),
    /// An attempt failed retryably; the next one starts after `backoff`.
    Retry {
        /// The message.
        source: Source,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Its error class.
        error_class: String,
        /// Its error.
        error: String,
        /// The wait before the next attempt.
        backoff: Duration,
    },
    /// A message is safely in the dead-letter topic (its offset may be committed).
    DeadLettered {
        /// The message.
        source: Source,
        /// Where it landed.
        dlq: DlqReceipt,
        /// Attempts made.
        attempts: u32,
        /// The last error's class.
        error_class: String,
        /// The last error.
        error: String,
    },
    /// Dead-lettering failed; the partition stalls and retries (once per outage).
    DlqUnavailable {
        /// The message waiting.
        source: Source,
        /// Why.
        error: String,
        /// Whether the failure may clear by itself (a missing topic, an unreachable
        /// cluster); `false` needs an operator (authorization, size limits).
        retriable: bool,
    },
    /// The idempotency store knew the message: skipped (and committed past).
    Skipped {
        /// The message.
        source: Source,
    },
    /// Too many failures: dead-lettering stopped, partitions paused.
    CircuitOpen {
        /// Failures in the window.
        failures: u32,
        /// Messages ended in the window.
        total: u32,
        /// The cooldown before a probe.
        cooldown: Duration,
    },
    /// The half-open probe succeeded: processing resumes.
    CircuitClosed,
    /// A commit failed (it is tried again).
    CommitFailed {
        /// Why.
        error: String,
    },
    /// An error from the consumer (the runner goes on).
    Error {
        /// What.
        error: String,
    },
    /// A new configuration was applied: what changed and how (see
    /// [`super::RunnerHandle::update_config`]).
    ConfigReloaded(super::reload::ReloadReport),
    /// A new configuration was rejected; the running one stays.
    ConfigRejected {
        /// Why (names the key).
        error: String,
    },
}

impl RunnerEvent {
    /// The event as the JSON object `rkc run` prints (`{"event": NAME, …}`).
    pub fn to_json(&self) -> Value {
        let src =
            |s: &Source| json!({"topic": s.topic, "partition": s.partition, "offset": s.offset});
        let tps = |kind: &str, tps: &[TopicPartition]| {
            let ps: Vec<Value> = tps
                .iter()
                .map(|tp| json!({"topic": &*tp.topic, "partition": tp.partition}))
                .collect();
            json!({"event": kind, "partitions": ps})
        };
        let merge = |mut base: Value, extra: Value| {
            if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
                b.extend(e);
            }
            base
        };
        match self {
            Self::Assigned(t) => tps("assigned", t),
            Self::Revoked(t) => tps("revoked", t),
            Self::Lost(t) => tps("lost", t),
            Self::Retry {
                source,
                attempt,
                error_class,
                error,
                backoff,
            } => merge(
                json!({"event": "retry"}),
                merge(
                    src(source),
                    json!({"attempt": attempt, "error": error, "error_class": error_class,
                           "backoff_ms": backoff.as_millis() as u64}),
                ),
            ),
            Self::DeadLettered {
                source,
                dlq,
                attempts,
                error_class,
                error,
            } => merge(
                json!({"event": "dead_lettered"}),
                merge(
                    src(source),
                    json!({"dlq_topic": dlq.topic, "dlq_partition": dlq.partition,
                           "dlq_offset": dlq.offset, "attempts": attempts, "error": error,
                           "error_class": error_class}),
                ),
            ),
            Self::DlqUnavailable {
                source,
                error,
                retriable,
            } => merge(
                json!({"event": "dlq_unavailable"}),
                merge(src(source), json!({"error": error, "retriable": retriable})),
            ),
            Self::Skipped { source } => merge(json!({"event": "skipped"}), src(source)),
            Self::CircuitOpen {
                failures,
                total,
                cooldown,
            } => json!({"event": "circuit_open", "failures": failures, "total": total,
                        "cooldown_ms": cooldown.as_millis() as u64}),
            Self::CircuitClosed => json!({"event": "circuit_closed"}),
            Self::CommitFailed { error } => json!({"event": "commit_failed", "error": error}),
            Self::Error { error } => json!({"event": "error", "error": error}),
            Self::ConfigReloaded(report) => report.to_json(),
            Self::ConfigRejected { error } => json!({"event": "config_rejected", "error": error}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes_keep_the_documented_names() {
        let source = Source {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
        };
        let retry = RunnerEvent::Retry {
            source: source.clone(),
            attempt: 3,
            error_class: "Timeout".into(),
            error: "took too long".into(),
            backoff: Duration::from_millis(400),
        };
        assert_eq!(
            retry.to_json().to_string(),
            r#"{"event":"retry","topic":"orders","partition":2,"offset":41,"attempt":3,"error":"took too long","error_class":"Timeout","backoff_ms":400}"#
        );
        let dl = RunnerEvent::DeadLettered {
            source,
            dlq: DlqReceipt {
                topic: "orders.dlq".into(),
                partition: 2,
                offset: 7,
            },
            attempts: 5,
            error_class: "Permanent".into(),
            error: "bad".into(),
        };
        let v = dl.to_json();
        for key in [
            "topic",
            "partition",
            "offset",
            "dlq_topic",
            "dlq_partition",
            "dlq_offset",
            "attempts",
            "error",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        assert_eq!(v["event"], "dead_lettered");
    }
}
