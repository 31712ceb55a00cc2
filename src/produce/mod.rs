//! The project's own idempotent producer, on its wire layer (InitProducerId, Produce): what
//! the runner's dead-letter path writes with.
//!
//! Invariants:
//! - **Idempotent, acks=all.** The producer takes one producer id at start (InitProducerId,
//!   not transactional) and numbers every partition's batches in sequence. A retry re-sends
//!   the very same bytes (same id, epoch and sequence), so the broker appends a batch at most
//!   once however often a lost response makes the producer repeat it; the broker answers a
//!   repeat with the original offset (or DUPLICATE_SEQUENCE_NUMBER, which counts as success).
//! - **One batch in flight per partition.** The simplest order-preserving choice: a send waits
//!   for the previous send to the same partition to finish, so sequences reach the broker in
//!   order and no batch can overtake a failed one. Sends to different partitions run
//!   concurrently. Throughput per partition is one round trip per batch; this producer is for
//!   the dead-letter path, not bulk loading.
//! - **Bounded.** Each request waits at most `request.timeout.ms` (plus the connection's
//!   `socket.timeout.ms` slack); a whole send, retries included, at most
//!   `delivery.timeout.ms`. Retriable errors (leader changes, timeouts, not enough replicas,
//!   connection loss) are retried with exponential backoff (`retry.backoff.ms` doubling up to
//!   `retry.backoff.max.ms`), refreshing the partition's leader first.
//! - **Typed failures, at once.** A topic the cluster does not know is
//!   [`ProduceError::UnknownTopic`] after one fresh metadata lookup (topics are never created),
//!   a missing partition [`ProduceError::UnknownPartition`], a batch over `message.max.bytes`
//!   or the topic's `max.message.bytes` [`ProduceError::RecordTooLarge`], any other
//!   non-retriable refusal [`ProduceError::NotWritable`].
//! - **Re-initialisation.** OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID,
//!   INVALID_PRODUCER_EPOCH and PRODUCER_FENCED mean the broker no longer accepts this
//!   identity's sequence. The producer takes a fresh producer id, every partition starts again
//!   at sequence 0, and the failed batch is re-encoded and sent under the new id. What that
//!   means for duplicates: the broker de-duplicates only within one producer id, so if an
//!   earlier attempt of that batch *was* written under the old id (its response lost), the
//!   re-sent copy is a second record. The same holds for a send that timed out or was
//!   cancelled: its batch may or may not be in the log, and the partition's next send starts
//!   under a new id (reusing the sequence would let the broker drop the new records as
//!   duplicates of the old ones). Delivery is therefore exactly-once per successful send,
//!   at-least-once across a reported failure that the caller retries.
//!
//! # Cancel safety
//! [`Producer::send`] may be dropped (e.g. in a `select!`): the partition's slot is released
//! and the partition's next send starts under a new producer id, as described above.
//!
//! # Examples
//! ```no_run
//! use rskafka_consumer::produce::{Producer, ProducerConfig, ProducerRecord};
//!
//! # async fn demo() -> Result<(), rskafka_consumer::produce::ProduceError> {
//! let producer = Producer::new(ProducerConfig::new("127.0.0.1:9092")?).await?;
//! let record = ProducerRecord::new(Some("key"), Some("value"));
//! let meta = producer.send("orders.dlq", 0, record).await?;
//! println!("written at {} [{}] offset {}", meta.topic, meta.partition, meta.offset);
//! # Ok(()) }
//! ```

mod config;
mod error;
mod identity;
mod leaders;
mod partitioner;
mod send;
mod sequence;

pub use config::{ProducerConfig, parse_compression};
pub use error::ProduceError;
pub use partitioner::{murmur2, partition_for_key};

pub use crate::record::{Compression, Header, ProducerRecord};

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use crate::{
    cluster::{Cluster, pool::ConnectionPool},
    config::ConfigError,
};

use identity::Identity;
use leaders::{Leaders, TopicLayout};
use sequence::PartitionSequence;

impl From<ConfigError> for ProduceError {
    fn from(e: ConfigError) -> Self {
        Self::Cluster(e.into())
    }
}

/// Where a sent batch landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Offset of the (first) record; −1 when the broker reported the batch as a duplicate of
    /// one it no longer remembers the offset of (DUPLICATE_SEQUENCE_NUMBER).
    pub offset: i64,
}

/// An idempotent Kafka producer (see the [module docs](self) for its guarantees).
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    cluster: Cluster,
    pool: ConnectionPool,
    leaders: Leaders,
    identity: Identity,
    partitions: Mutex<HashMap<(String, i32), Arc<PartitionSequence>>>,
}

impl Producer {
    /// Connects to the cluster and takes a producer id (InitProducerId), retrying retriable
    /// failures for up to `delivery.timeout.ms`.
    ///
    /// # Errors
    /// [`ProduceError::Cluster`] when no bootstrap broker answers,
    /// [`ProduceError::ProducerId`] when the cluster refuses an id,
    /// [`ProduceError::ProducerIdUnavailable`] when none came before the deadline.
    pub async fn new(config: ProducerConfig) -> Result<Self, ProduceError> {
        let deadline = Instant::now() + config.delivery_timeout;
        let cluster = Cluster::connect(config.client.clone()).await?;
        let identity = identity::init(&cluster, deadline, backoff(&config)).await?;
        tracing::debug!(
            producer_id = identity.id,
            epoch = identity.epoch,
            "idempotent producer ready"
        );
        Ok(Self {
            pool: ConnectionPool::new(config.client.clone()),
            config,
            cluster,
            leaders: Leaders::default(),
            identity: Identity::new(identity),
            partitions: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration the producer was built with.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Sends one record to `topic`/`partition` and waits until all in-sync replicas have it.
    ///
    /// A record without a timestamp gets the current time (CreateTime).
    ///
    /// # Errors
    /// See [`ProduceError`]; every error names the topic and partition.
    ///
    /// # Cancel safety
    /// Cancel safe in the sense of the [module docs](self#cancel-safety): dropping the future
    /// leaves the record's fate unknown, never corrupts later sends.
    pub async fn send(
        &self,
        topic: &str,
        partition: i32,
        record: ProducerRecord,
    ) -> Result<RecordMetadata, ProduceError> {
        self.send_batch(topic, partition, std::slice::from_ref(&record))
            .await
    }

    /// Sends `records` to `topic`/`partition` as one batch (compressed with
    /// `compression.type`): all of them are written, in order, or none. The returned offset
    /// is the first record's.
    ///
    /// # Errors
    /// As [`Producer::send`]; an empty `records` is [`ProduceError::Encode`].
    pub async fn send_batch(
        &self,
        topic: &str,
        partition: i32,
        records: &[ProducerRecord],
    ) -> Result<RecordMetadata, ProduceError> {
        self.deliver(topic, partition, records, self.config.compression)
            .await
    }

    /// As [`Producer::send_batch`], compressed with `compression` instead of the configured
    /// `compression.type` (one producer can serve writers with different codecs).
    ///
    /// # Errors
    /// As [`Producer::send_batch`].
    pub async fn send_batch_compressed(
        &self,
        topic: &str,
        partition: i32,
        records: &[ProducerRecord],
        compression: Compression,
    ) -> Result<RecordMetadata, ProduceError> {
        self.deliver(topic, partition, records, compression).await
    }

    /// The number of partitions of `topic`, from metadata cached for at most five minutes.
    ///
    /// # Errors
    /// [`ProduceError::UnknownTopic`] when the cluster does not know it,
    /// [`ProduceError::NotWritable`] for another topic-level error that does not clear within
    /// `delivery.timeout.ms`.
    pub async fn partition_count(&self, topic: &str) -> Result<usize, ProduceError> {
        let deadline = Instant::now() + self.config.delivery_timeout;
        let (mut pause, max) = backoff(&self.config);
        loop {
            let error = match self.leaders.layout(&self.cluster, &self.pool, topic).await {
                Ok(TopicLayout::Partitions(p)) => return Ok(p.len()),
                Ok(TopicLayout::Missing) => {
                    return Err(ProduceError::UnknownTopic {
                        topic: topic.to_owned(),
                    });
                }
                Ok(TopicLayout::Error(code)) if !code.is_retriable() => {
                    return Err(ProduceError::NotWritable {
                        topic: topic.to_owned(),
                        partition: -1,
                        code,
                        message: None,
                    });
                }
                Ok(TopicLayout::Error(code)) => code.to_string(),
                Err(e) if e.is_retriable() => e.to_string(),
                Err(e) => return Err(e.into()),
            };
            if Instant::now() + pause >= deadline {
                return Err(ProduceError::DeliveryTimeout {
                    topic: topic.to_owned(),
                    partition: -1,
                    timeout: self.config.delivery_timeout,
                    last_error: error,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(max);
        }
    }

    /// The sequence state of `topic`/`partition`, created on first use.
    fn partition_sequence(&self, topic: &str, partition: i32) -> Arc<PartitionSequence> {
        let mut partitions = self.partitions.lock().expect("partitions lock");
        Arc::clone(partitions.entry((topic.to_owned(), partition)).or_default())
    }
}

/// `(retry.backoff.ms, retry.backoff.max.ms)`.
fn backoff(config: &ProducerConfig) -> (std::time::Duration, std::time::Duration) {
    (
        config.retry_backoff,
        config.retry_backoff_max.max(config.retry_backoff),
    )
}
