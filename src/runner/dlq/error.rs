//! Why a dead letter could not be written. The runner never skips a message on any of these:
//! it stalls the partition and tries again (see [`DlqError::is_retriable`] for what can clear
//! by itself).

use std::time::Duration;

use thiserror::Error;

use crate::produce::ProduceError;

/// A dead-letter write failed; nothing about the source message was committed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DlqError {
    /// The DLQ topic does not exist (the writer never creates it).
    #[error("dead-letter topic {topic} does not exist")]
    TopicMissing {
        /// The DLQ topic.
        topic: String,
    },
    /// The cluster refused the write (authorization, policy, invalid record…).
    #[error("dead-letter topic {topic} is not writable: {source}")]
    NotWritable {
        /// The DLQ topic.
        topic: String,
        /// The producer's error.
        source: ProduceError,
    },
    /// The dead-letter record is larger than the producer's `message.max.bytes` or the DLQ
    /// topic's `max.message.bytes`.
    #[error("dead letter for {topic} is too large ({size} bytes)")]
    TooLarge {
        /// The DLQ topic.
        topic: String,
        /// The encoded batch size.
        size: usize,
    },
    /// The write was not acknowledged within the producer's `delivery.timeout.ms`. It may or
    /// may not be in the DLQ.
    #[error("dead-letter write to {topic} timed out after {timeout:?}: {last_error}")]
    Timeout {
        /// The DLQ topic.
        topic: String,
        /// The bound.
        timeout: Duration,
        /// The last failure before the deadline.
        last_error: String,
    },
    /// The cluster could not be reached.
    #[error("dead-letter topic {topic} unreachable: {source}")]
    Unavailable {
        /// The DLQ topic.
        topic: String,
        /// The producer's error.
        source: ProduceError,
    },
}

impl DlqError {
    /// The DLQ topic the error is about.
    pub fn topic(&self) -> &str {
        match self {
            Self::TopicMissing { topic }
            | Self::NotWritable { topic, .. }
            | Self::TooLarge { topic, .. }
            | Self::Timeout { topic, .. }
            | Self::Unavailable { topic, .. } => topic,
        }
    }

    /// Whether the same write may succeed later without anyone changing the message: the
    /// topic may be created, the cluster may come back. An oversized record or a refusal
    /// needs an operator.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::TopicMissing { .. } | Self::Timeout { .. } | Self::Unavailable { .. } => true,
            Self::NotWritable { .. } | Self::TooLarge { .. } => false,
        }
    }

    /// Classifies a producer error for a write to `topic`.
    pub(crate) fn from_produce(topic: &str, e: ProduceError) -> Self {
        let topic = topic.to_owned();
        match e {
            ProduceError::UnknownTopic { .. } => Self::TopicMissing { topic },
            ProduceError::RecordTooLarge { size, .. } => Self::TooLarge { topic, size },
            ProduceError::DeliveryTimeout {
                timeout,
                last_error,
                ..
            } => Self::Timeout {
                topic,
                timeout,
                last_error,
            },
            e if e.is_retriable() => Self::Unavailable { topic, source: e },
            e => Self::NotWritable { topic, source: e },
        }
    }
}
