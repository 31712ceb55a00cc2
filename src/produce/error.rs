//! What a send can fail with: every outcome a caller must tell apart is its own variant.

use std::time::Duration;

use thiserror::Error;

use crate::{error::Error, error::KafkaCode, record::EncodeError};

/// A send (or the producer's start) failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The cluster does not know the topic. The producer never creates topics.
    #[error("topic {topic} does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The topic exists but has no such partition.
    #[error("{topic} has {partitions} partitions, there is no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: usize,
    },
    /// The encoded batch is larger than `message.max.bytes` (`max` is set), or the broker
    /// refused it as too large for the topic's `max.message.bytes` (`max` is `None`).
    #[error("record batch for {topic} [{partition}] is too large: {size} bytes{}",
        max.map(|m| format!(" (message.max.bytes is {m})")).unwrap_or_else(|| " for the broker".to_owned()))]
    RecordTooLarge {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Size of the encoded batch.
        size: usize,
        /// The client-side limit, when it was the one exceeded.
        max: Option<usize>,
    },
    /// The broker refused the batch with an error that retrying cannot fix (authorization,
    /// an invalid record, a policy violation, an unsupported codec…). Nothing was written.
    #[error("{topic} [{partition}] refused the batch: {code}{}",
        message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    NotWritable {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The broker's error code.
        code: KafkaCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// The send did not complete within `delivery.timeout.ms`. The batch may or may not have
    /// been written; the next send to the partition starts under a new producer id.
    #[error(
        "delivery to {topic} [{partition}] timed out after {timeout:?}; last error: {last_error}"
    )]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The configured bound.
        timeout: Duration,
        /// The last failure seen before the deadline.
        last_error: String,
    },
    /// The broker refused to give this producer an id (e.g. cluster authorization failed).
    #[error("InitProducerId failed: {code}")]
    ProducerId {
        /// The broker's error code.
        code: KafkaCode,
    },
    /// No producer id could be obtained before the deadline (the cluster kept failing).
    #[error("no producer id before the deadline; last error: {last_error}")]
    ProducerIdUnavailable {
        /// The last failure seen.
        last_error: String,
    },
    /// The batch could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The cluster could not be reached or answered with something unusable.
    #[error(transparent)]
    Cluster(#[from] Error),
}

impl ProduceError {
    /// Whether a later send of the same record may succeed without anything changing on the
    /// caller's side: timeouts and connection trouble. A missing topic is not retriable here,
    /// though it may be created later; callers that wait for it decide that themselves.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::DeliveryTimeout { .. } | Self::ProducerIdUnavailable { .. } => true,
            Self::Cluster(e) => e.is_retriable(),
            Self::UnknownTopic { .. }
            | Self::UnknownPartition { .. }
            | Self::RecordTooLarge { .. }
            | Self::NotWritable { .. }
            | Self::ProducerId { .. }
            | Self::Encode(_) => false,
        }
    }
}
