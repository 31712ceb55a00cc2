//! The dead-letter writer: after a message's last failed attempt, the runner hands it here and
//! commits the source offset only once [`DlqWriter::write`] has returned a [`DlqReceipt`].
//!
//! Invariants:
//! - **Acknowledged or an error.** A write returns only when all in-sync replicas of the DLQ
//!   partition have the record (the producer is idempotent with acks=all, so its retries never
//!   duplicate the record), or with a [`DlqError`]; there is no fire-and-forget path.
//! - **The original record, intact.** The dead letter keeps the original key, value, headers
//!   (in order, duplicates kept) and timestamp (as CreateTime; a negative timestamp becomes the
//!   time of writing). Provenance headers follow the original ones ([`HeaderStyle`]); those of
//!   an earlier dead-lettering are replaced, not stacked. Note that DLQ retention counts from
//!   these original timestamps.
//! - **Routing.** The topic is the template's, default `<source topic>.dlq`, never created by
//!   the writer; the partition is the source's when the DLQ topic has it, else murmur2 on the
//!   key, else round robin (see [`route`]).
//!
//! # Examples
//! ```no_run
//! use std::{sync::Arc, time::SystemTime};
//! use rskafka_consumer::{Message, produce::{Compression, Producer, ProducerConfig}};
//! use rskafka_consumer::runner::dlq::{DeadLetter, DlqWriter, HeaderStyle};
//!
//! # async fn demo(message: &Message) -> Result<(), Box<dyn std::error::Error>> {
//! let producer = Arc::new(Producer::new(ProducerConfig::new("127.0.0.1:9092")?).await?);
//! let writer = DlqWriter::new(producer, None, HeaderStyle::Connect, Compression::Zstd);
//! let receipt = writer
//!     .write(&DeadLetter {
//!         message,
//!         group_id: "billing",
//!         attempts: 5,
//!         error_class: "Permanent",
//!         error_message: "amount must be positive",
//!         failed_at: SystemTime::now(),
//!     })
//!     .await?;
//! println!("dead-lettered to {} [{}] at {}", receipt.topic, receipt.partition, receipt.offset);
//! # Ok(()) }
//! ```

mod error;
mod headers;
pub mod route;

pub use error::DlqError;
pub use headers::{HeaderStyle, PROVENANCE_PREFIXES, is_provenance};

use std::{sync::Arc, time::SystemTime};

use crate::{
    Message,
    produce::{Compression, Producer, ProducerRecord},
};

use headers::Failure;
use route::PartitionChooser;

/// A message whose processing failed for good, with why and when.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetter<'a> {
    /// The source message.
    pub message: &'a Message,
    /// The consumer group that failed to process it.
    pub group_id: &'a str,
    /// How many attempts were made (1-based count).
    pub attempts: u32,
    /// The error's class name (e.g. the handler error's kind).
    pub error_class: &'a str,
    /// The error's message (the chain, as text).
    pub error_message: &'a str,
    /// When the last attempt failed.
    pub failed_at: SystemTime,
}

/// Where a dead letter was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqReceipt {
    /// The DLQ topic.
    pub topic: String,
    /// The DLQ partition.
    pub partition: i32,
    /// The dead letter's offset (−1 if the broker reported it as a duplicate it no longer
    /// remembers the offset of).
    pub offset: i64,
}

/// Writes dead letters through the project's idempotent [`Producer`].
#[derive(Debug)]
pub struct DlqWriter {
    producer: Arc<Producer>,
    template: String,
    style: HeaderStyle,
    compression: Compression,
    chooser: PartitionChooser,
}

impl DlqWriter {
    /// A writer using `producer`, the topic `topic_template` (`{topic}` is replaced by the
    /// source topic; `None` means `<source topic>.dlq`), provenance headers in `style`, and
    /// batches compressed with `compression`.
    pub fn new(
        producer: Arc<Producer>,
        topic_template: Option<String>,
        style: HeaderStyle,
        compression: Compression,
    ) -> Self {
        Self {
            producer,
            template: topic_template.unwrap_or_else(|| route::DEFAULT_TEMPLATE.to_owned()),
            style,
            compression,
            chooser: PartitionChooser::default(),
        }
    }

    /// The DLQ topic for messages of `source_topic`.
    pub fn topic_for(&self, source_topic: &str) -> String {
        route::dlq_topic(&self.template, source_topic)
    }

    /// The record written for `dead` (original key, value, headers and timestamp, then the
    /// provenance headers).
    pub fn record_for(&self, dead: &DeadLetter<'_>) -> ProducerRecord {
        let failure = Failure {
            group_id: dead.group_id,
            attempts: dead.attempts,
            error_class: dead.error_class,
            error_message: dead.error_message,
            failed_at: dead.failed_at,
        };
        let m = dead.message;
        ProducerRecord {
            key: m.key.clone(),
            value: m.value.clone(),
            headers: headers::dead_letter_headers(m, &failure, self.style),
            timestamp: (m.timestamp >= 0).then_some(m.timestamp),
        }
    }

    /// Writes `dead` to its DLQ topic and waits for the acknowledgement.
    ///
    /// # Errors
    /// [`DlqError::TopicMissing`] at once when the DLQ topic does not exist;
    /// [`DlqError::Timeout`] after the producer's `delivery.timeout.ms`; see [`DlqError`].
    ///
    /// # Cancel safety
    /// May be dropped; the dead letter may then be in the DLQ or not, and a later write of the
    /// same message may add a second copy (the runner must not commit the source offset
    /// without a receipt).
    pub async fn write(&self, dead: &DeadLetter<'_>) -> Result<DlqReceipt, DlqError> {
        let topic = self.topic_for(&dead.message.topic);
        let partitions = self
            .producer
            .partition_count(&topic)
            .await
            .map_err(|e| DlqError::from_produce(&topic, e))?;
        let partition = self.chooser.choose(
            dead.message.partition,
            dead.message.key.as_deref(),
            partitions,
        );
        let record = self.record_for(dead);
        let meta = self
            .producer
            .send_batch_compressed(
                &topic,
                partition,
                std::slice::from_ref(&record),
                self.compression,
            )
            .await
            .map_err(|e| DlqError::from_produce(&topic, e))?;
        tracing::debug!(
            source_topic = %dead.message.topic,
            source_partition = dead.message.partition,
            source_offset = dead.message.offset,
            dlq_topic = %meta.topic,
            dlq_partition = meta.partition,
            dlq_offset = meta.offset,
            "dead letter written"
        );
        Ok(DlqReceipt {
            topic: meta.topic,
            partition: meta.partition,
            offset: meta.offset,
        })
    }
}
