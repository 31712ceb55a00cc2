//! Why a replay stopped before catching up. Every variant that concerns one dead letter names
//! its place in the DLQ (topic, partition, offset); the group's committed progress never
//! passes that record.

use thiserror::Error;

use crate::produce::ProduceError;

/// A replay failed; progress up to the failing record is committed, nothing after it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The dead-letter topic to replay from does not exist.
    #[error("dead-letter topic {topic} does not exist")]
    TopicMissing {
        /// The DLQ topic.
        topic: String,
    },
    /// A dead letter names no original topic (no provenance headers of any style) and no
    /// destination was given (`--to`).
    #[error(
        "{topic} [{partition}] offset {offset} has no provenance headers naming its original topic; replay it with --to TOPIC"
    )]
    NoProvenance {
        /// The DLQ topic.
        topic: String,
        /// The DLQ partition.
        partition: i32,
        /// The dead letter's offset.
        offset: i64,
    },
    /// Re-producing a dead letter failed (the destination topic is missing, not writable, or
    /// the write was not acknowledged in time).
    #[error("cannot replay {topic} [{partition}] offset {offset} to {destination}: {source}")]
    Produce {
        /// The DLQ topic.
        topic: String,
        /// The DLQ partition.
        partition: i32,
        /// The dead letter's offset.
        offset: i64,
        /// The topic it was to be written to.
        destination: String,
        /// The producer's error.
        source: ProduceError,
    },
    /// Committing the replay group's progress failed; the records after the last successful
    /// commit were produced and will be produced again by the next replay.
    #[error("committing the replay progress failed: {0}")]
    Commit(crate::Error),
    /// The consumer failed (could not start, or a non-retriable error while reading the DLQ).
    #[error(transparent)]
    Kafka(#[from] crate::Error),
    /// The producer could not start.
    #[error("the replay producer could not start: {0}")]
    Producer(ProduceError),
}
