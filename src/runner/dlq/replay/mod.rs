//! Dead-letter replay: re-produce what a DLQ holds to the topics it came from, once.
//!
//! Invariants:
//! - **Progress is the replay group's committed offsets.** The DLQ is read in a consumer group
//!   of its own (default `rkc-dlq-replay-<dlq topic>`, [`default_group`]); a dead letter's
//!   offset is committed only after its copy was acknowledged by all in-sync replicas of the
//!   destination (the project's idempotent producer, acks=all). A finished replay therefore
//!   starts the next one where it ended: nothing is replayed twice. A crash (or a failed
//!   commit) between the acknowledgement and the commit replays those records again:
//!   at-least-once, like every Kafka consumer without transactions.
//! - **Nothing is skipped.** A dead letter that cannot be replayed (no provenance and no
//!   `to`, a destination that does not exist or refuses it) stops the replay with a
//!   [`ReplayError`] naming its DLQ topic, partition and offset; what was replayed before it
//!   is committed, it and everything after it in its partition is not.
//! - **The original record.** The copy has the dead letter's key, value and timestamp, its
//!   headers in order without provenance headers of any style, and
//!   `dlq.replayed.from = <dlq topic>/<partition>/<offset>` ([`origin`]). It goes to the
//!   original topic named by the provenance (or `to`), to the original partition when the
//!   destination has it, else by murmur2 on the key (Java's default partitioner), else round
//!   robin. Records of one DLQ partition are written in their order. Note that the
//!   destination's retention counts from these original timestamps.
//! - **Ends when caught up**: every assigned partition reached its end (partition EOF), or
//!   after `limit` records, or when the caller's stop future completes; each way the progress
//!   is committed and the member leaves the group.
//!
//! # Examples
//! ```no_run
//! use rskafka_consumer::runner::dlq::replay::{Replay, ReplayConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ReplayConfig::new("127.0.0.1:9092", "orders.dlq")?;
//! let mut replay = Replay::start(config).await?;
//! let result = replay.run(std::future::pending()).await;
//! println!("{}", replay.summary().to_json());
//! replay.close().await;
//! result?;
//! # Ok(()) }
//! ```

mod error;
pub mod origin;

pub use error::ReplayError;
pub use origin::{Origin, REPLAYED_FROM};

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    time::Duration,
};

use futures::FutureExt as _;
use serde_json::{Value, json};

use super::route::PartitionChooser;
use crate::{
    Consumer, ConsumerConfig, Event, Message, TopicPartition,
    config::ConfigError,
    produce::{Producer, ProducerConfig, ProducerRecord},
};

/// Replayed records between two commits, at most.
const COMMIT_EVERY: usize = 500;

/// The replay group of `dlq_topic` unless one is given: `rkc-dlq-replay-<dlq topic>`.
pub fn default_group(dlq_topic: &str) -> String {
    format!("rkc-dlq-replay-{dlq_topic}")
}

/// What a replay reads, where it writes, and how the consumer and producer are configured.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The DLQ topic to replay.
    pub from: String,
    /// Write every record here instead of its original topic.
    pub to: Option<String>,
    /// Stop after this many replayed records.
    pub limit: Option<u64>,
    /// The consumer reading the DLQ: `group.id` (default [`default_group`]),
    /// `auto.offset.reset=earliest`, `enable.auto.commit=false`, `enable.partition.eof=true`.
    pub consumer: ConsumerConfig,
    /// Producer-only properties (`compression.type`, `delivery.timeout.ms`, …); the
    /// connection properties are the consumer's.
    producer_properties: Vec<(String, String)>,
}

/// Property names only the producer has.
const PRODUCER_PROPERTIES: [&str; 11] = [
    "compression.type",
    "compression.codec",
    "delivery.timeout.ms",
    "message.timeout.ms",
    "request.timeout.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "message.max.bytes",
    "enable.idempotence",
    "acks",
    "request.required.acks",
];

impl ReplayConfig {
    /// A replay of `from` through the cluster at `bootstrap_servers`, in the default group.
    ///
    /// # Errors
    /// [`ConfigError`] for an invalid bootstrap list.
    pub fn new(bootstrap_servers: &str, from: &str) -> Result<Self, ConfigError> {
        let mut consumer = ConsumerConfig::new(bootstrap_servers)?;
        consumer.set("group.id", &default_group(from))?;
        consumer.set("auto.offset.reset", "earliest")?;
        consumer.set("enable.auto.commit", "false")?;
        consumer.enable_partition_eof = true;
        Ok(Self {
            from: from.to_owned(),
            to: None,
            limit: None,
            consumer,
            producer_properties: Vec::new(),
        })
    }

    /// Sets a librdkafka property: producer-only names (`compression.type`,
    /// `delivery.timeout.ms`, `acks`, …) configure the producer, all others the consumer (whose
    /// connection properties the producer shares).
    ///
    /// # Errors
    /// [`ConfigError`] for an unknown property or a bad value, and for
    /// `enable.auto.commit=true` or `enable.partition.eof=false` (the replay owns its commits
    /// and needs to see the end).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        if PRODUCER_PROPERTIES.contains(&name) {
            // Validated now, applied when the producer is built.
            ProducerConfig::from_client(self.consumer.client.clone()).set(name, value)?;
            self.producer_properties
                .push((name.to_owned(), value.to_owned()));
            return Ok(());
        }
        let mut next = self.consumer.clone();
        next.set(name, value)?;
        if next.group.enable_auto_commit {
            return Err(ConfigError::InvalidValue {
                name: name.to_owned(),
                value: value.to_owned(),
                reason: "a replay commits only what was re-produced: auto commit is refused".into(),
            });
        }
        if !next.enable_partition_eof {
            return Err(ConfigError::InvalidValue {
                name: name.to_owned(),
                value: value.to_owned(),
                reason: "a replay ends at the partitions' end: it needs partition EOF".into(),
            });
        }
        self.consumer = next;
        Ok(())
    }

    /// The replay group.
    pub fn group(&self) -> &str {
        self.consumer.group.group_id.as_deref().unwrap_or_default()
    }

    /// The producer's configuration: the consumer's connection, the producer properties set.
    ///
    /// # Errors
    /// None in practice (every property was checked when set).
    pub fn producer_config(&self) -> Result<ProducerConfig, ConfigError> {
        let mut producer = ProducerConfig::from_client(self.consumer.client.clone());
        for (name, value) in &self.producer_properties {
            producer.set(name, value)?;
        }
        Ok(producer)
    }
}

/// Why a replay ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStop {
    /// Every partition of the DLQ reached its end.
    CaughtUp,
    /// The `limit` was reached.
    Limit,
    /// The caller's stop future completed.
    Stopped,
}

impl ReplayStop {
    /// `caught_up`, `count` or `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CaughtUp => "caught_up",
            Self::Limit => "count",
            Self::Stopped => "stopped",
        }
    }
}

/// What a replay did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// The DLQ topic.
    pub from: String,
    /// The replay group.
    pub group: String,
    /// Records re-produced (acknowledged).
    pub replayed: u64,
    /// Records re-produced per destination topic.
    pub topics: BTreeMap<String, u64>,
    /// The group's committed offset (next to replay) per DLQ partition, as committed by this
    /// replay.
    pub committed: BTreeMap<i32, i64>,
    /// How the replay ended, once it has.
    pub stop: Option<ReplayStop>,
}

impl ReplaySummary {
    /// One JSON object:
    /// `{"from","group","replayed","topics":{topic:n},"committed":{partition:offset},"stopped"}`.
    pub fn to_json(&self) -> Value {
        let committed: serde_json::Map<String, Value> = self
            .committed
            .iter()
            .map(|(p, o)| (p.to_string(), json!(o)))
            .collect();
        json!({
            "from": self.from,
            "group": self.group,
            "replayed": self.replayed,
            "topics": self.topics,
            "committed": committed,
            "stopped": self.stop.map(ReplayStop::name),
        })
    }
}

/// A running replay: the DLQ consumer (subscribed) and the producer.
#[derive(Debug)]
pub struct Replay {
    config: ReplayConfig,
    consumer: Consumer,
    producer: Producer,
    chooser: PartitionChooser,
    summary: ReplaySummary,
    /// Next offset to commit per DLQ partition: replayed, not yet committed.
    pending: BTreeMap<i32, i64>,
    assigned: BTreeSet<i32>,
    at_end: BTreeSet<i32>,
}

impl Replay {
    /// Checks that the DLQ topic exists, starts the producer, and subscribes the consumer.
    ///
    /// # Errors
    /// [`ReplayError::TopicMissing`], [`ReplayError::Kafka`] when the cluster cannot be
    /// reached (or with a [`ConfigError`] when `to` is the DLQ topic itself),
    /// [`ReplayError::Producer`] when the producer cannot start.
    pub async fn start(config: ReplayConfig) -> Result<Self, ReplayError> {
        if config.to.as_deref() == Some(config.from.as_str()) {
            // Every copy would be read again: the replay would never catch up.
            return Err(ReplayError::Kafka(
                ConfigError::InvalidValue {
                    name: "to".into(),
                    value: config.from.clone(),
                    reason: "the destination must not be the dead-letter topic replayed".into(),
                }
                .into(),
            ));
        }
        let consumer = Consumer::new(config.consumer.clone()).await?;
        let metadata = consumer
            .metadata(Some(std::slice::from_ref(&config.from)))
            .await?;
        if metadata
            .topic(&config.from)
            .is_none_or(|t| t.error.is_some() || t.partitions.is_empty())
        {
            consumer.close().await;
            return Err(ReplayError::TopicMissing {
                topic: config.from.clone(),
            });
        }
        let producer_config = config
            .producer_config()
            .map_err(|e| ReplayError::Kafka(e.into()))?;
        let producer = match Producer::new(producer_config).await {
            Ok(p) => p,
            Err(e) => {
                consumer.close().await;
                return Err(ReplayError::Producer(e));
            }
        };
        consumer.subscribe(&[config.from.as_str()])?;
        let summary = ReplaySummary {
            from: config.from.clone(),
            group: config.group().to_owned(),
            ..ReplaySummary::default()
        };
        Ok(Self {
            config,
            consumer,
            producer,
            chooser: PartitionChooser::default(),
            summary,
            pending: BTreeMap::new(),
            assigned: BTreeSet::new(),
            at_end: BTreeSet::new(),
        })
    }

    /// What the replay did so far.
    pub fn summary(&self) -> &ReplaySummary {
        &self.summary
    }

    /// Replays until caught up, the limit, or `stop` completes; commits the progress on every
    /// way out (also before returning an error).
    ///
    /// # Errors
    /// See [`ReplayError`]; the record named in it is not committed.
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> Result<ReplayStop, ReplayError> {
        let mut stop = std::pin::pin!(stop.fuse());
        let outcome = self.replay_until(&mut stop).await;
        let committed = self.commit().await;
        let stop = outcome?;
        committed?;
        self.summary.stop = Some(stop);
        Ok(stop)
    }

    async fn replay_until(
        &mut self,
        stop: &mut std::pin::Pin<&mut futures::future::Fuse<impl Future<Output = ()>>>,
    ) -> Result<ReplayStop, ReplayError> {
        loop {
            if self
                .config
                .limit
                .is_some_and(|limit| self.summary.replayed >= limit)
            {
                return Ok(ReplayStop::Limit);
            }
            if stop.as_mut().now_or_never().is_some() {
                return Ok(ReplayStop::Stopped);
            }
            let event = match self.consumer.poll_event(Duration::ZERO).await {
                Some(event) => event,
                None => {
                    // Nothing ready: a natural point to commit, and to notice the end.
                    self.commit().await?;
                    if self.caught_up() {
                        return Ok(ReplayStop::CaughtUp);
                    }
                    tokio::select! {
                        event = self.consumer.poll_event(Duration::from_secs(1)) => match event {
                            Some(event) => event,
                            None => continue,
                        },
                        () = stop.as_mut() => return Ok(ReplayStop::Stopped),
                    }
                }
            };
            match event {
                Ok(Event::Message(m)) => {
                    self.at_end.remove(&m.partition);
                    self.replay_one(&m).await?;
                    if self.pending.len() >= COMMIT_EVERY {
                        self.commit().await?;
                    }
                }
                Ok(Event::PartitionEof { partition, .. }) => {
                    self.at_end.insert(partition);
                }
                Ok(Event::Assigned(tps)) => {
                    self.assigned.extend(tps.iter().map(|tp| tp.partition));
                }
                Ok(Event::Revoked(tps)) => {
                    // Still ours until the next poll: commit what was replayed of them.
                    self.commit().await?;
                    self.forget(&tps);
                }
                Ok(Event::Lost(tps)) => {
                    for tp in &tps {
                        self.pending.remove(&tp.partition);
                    }
                    self.forget(&tps);
                }
                Err(e) if e.is_retriable() => {
                    tracing::warn!(topic = %self.config.from, error = %e, "replay: consumer error, continuing");
                }
                Err(e) => return Err(ReplayError::Kafka(e)),
            }
        }
    }

    fn forget(&mut self, tps: &[TopicPartition]) {
        for tp in tps {
            self.assigned.remove(&tp.partition);
            self.at_end.remove(&tp.partition);
        }
    }

    fn caught_up(&self) -> bool {
        !self.assigned.is_empty() && self.assigned.is_subset(&self.at_end)
    }

    /// Re-produces one dead letter and records its offset as replayed.
    async fn replay_one(&mut self, m: &Message) -> Result<(), ReplayError> {
        let origin = origin::origin(&m.headers);
        let destination = match (&self.config.to, &origin) {
            (Some(to), _) => to.clone(),
            (None, Some(origin)) => origin.topic.clone(),
            (None, None) => {
                return Err(ReplayError::NoProvenance {
                    topic: m.topic.to_string(),
                    partition: m.partition,
                    offset: m.offset,
                });
            }
        };
        let failed = |source| ReplayError::Produce {
            topic: m.topic.to_string(),
            partition: m.partition,
            offset: m.offset,
            destination: destination.clone(),
            source,
        };
        let partitions = self
            .producer
            .partition_count(&destination)
            .await
            .map_err(failed)?;
        // With no original partition, -1 is never a partition: the key decides.
        let original = origin.as_ref().and_then(|o| o.partition).unwrap_or(-1);
        let partition = self.chooser.choose(original, m.key.as_deref(), partitions);
        let record = ProducerRecord {
            key: m.key.clone(),
            value: m.value.clone(),
            headers: origin::replayed_headers(m),
            timestamp: (m.timestamp >= 0).then_some(m.timestamp),
        };
        let meta = self
            .producer
            .send(&destination, partition, record)
            .await
            .map_err(failed)?;
        tracing::debug!(
            dlq_topic = %m.topic,
            dlq_partition = m.partition,
            dlq_offset = m.offset,
            topic = %meta.topic,
            partition = meta.partition,
            offset = meta.offset,
            "dead letter replayed"
        );
        self.pending.insert(m.partition, m.offset + 1);
        self.summary.replayed += 1;
        *self.summary.topics.entry(destination).or_default() += 1;
        Ok(())
    }

    /// Commits what was replayed and not yet committed.
    async fn commit(&mut self) -> Result<(), ReplayError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let offsets: Vec<(TopicPartition, i64)> = self
            .pending
            .iter()
            .map(|(p, o)| (TopicPartition::new(self.config.from.as_str(), *p), *o))
            .collect();
        self.consumer
            .commit_offsets(&offsets, None)
            .await
            .map_err(ReplayError::Commit)?;
        self.summary.committed.append(&mut self.pending);
        Ok(())
    }

    /// Leaves the group and closes the consumer (the progress was committed by `run`).
    pub async fn close(self) {
        self.consumer.unsubscribe(Duration::from_secs(10)).await;
        self.consumer.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_properties_go_to_the_producer_and_the_rest_to_the_consumer() {
        let mut c = ReplayConfig::new("a:1", "orders.dlq").unwrap();
        assert_eq!(c.group(), "rkc-dlq-replay-orders.dlq");
        c.set("compression.type", "zstd").unwrap();
        c.set("client.id", "replayer").unwrap();
        c.set("group.id", "mine").unwrap();
        let p = c.producer_config().unwrap();
        assert_eq!(p.compression, crate::produce::Compression::Zstd);
        assert_eq!(p.client.client_id, "replayer");
        assert_eq!(c.group(), "mine");
        assert!(c.set("acks", "1").is_err());
        assert!(c.set("no.such.property", "1").is_err());
    }

    #[test]
    fn auto_commit_and_disabling_eof_are_refused() {
        let mut c = ReplayConfig::new("a:1", "orders.dlq").unwrap();
        assert!(c.set("enable.auto.commit", "true").is_err());
        assert!(c.set("enable.partition.eof", "false").is_err());
        assert!(!c.consumer.group.enable_auto_commit);
        assert!(c.consumer.enable_partition_eof);
    }

    #[test]
    fn the_summary_is_one_json_object() {
        let s = ReplaySummary {
            from: "orders.dlq".into(),
            group: "g".into(),
            replayed: 3,
            topics: BTreeMap::from([("orders".into(), 3)]),
            committed: BTreeMap::from([(0, 2), (1, 1)]),
            stop: Some(ReplayStop::CaughtUp),
        };
        assert_eq!(
            s.to_json().to_string(),
            r#"{"from":"orders.dlq","group":"g","replayed":3,"topics":{"orders":3},"committed":{"0":2,"1":1},"stopped":"caught_up"}"#
        );
    }
}
