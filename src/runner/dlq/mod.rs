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
//! Dead letters go back to their original topics with [`replay`] (`rkc dlq replay`), which
//! reads the provenance headers of every style this writer (and Connect, Spring, Streams)
//! writes.
//!
//! # Examples
//! A runner whose failed messages go to the DLQ `[dlq]` describes (`DlqWriter` is a
//! [`DeadLetterSink`]):
//! ```no_run
//! use std::sync::Arc;
//! use rskafka_consumer::runner::{HandlerError, Runner, RunnerConfig, dlq::DlqWriter, handler_fn};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RunnerConfig::load(std::path::Path::new("consumer.toml"))?;
//! let dlq = DlqWriter::connect(&config).await?;
//! let runner = Runner::builder(config)
//!     .handler(handler_fn(|message| async move {
//!         match message.value {
//!             Some(_) => Ok(()),
//!             None => Err(HandlerError::permanent("empty order")),
//!         }
//!     }))
//!     .dead_letter_sink(Arc::new(dlq))
//!     .build()?;
//! runner.run().await?;
//! # Ok(()) }
//! ```
//!
//! The writer on its own, with a producer of your own:
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
pub mod replay;
pub mod route;

pub use super::sink::{DeadLetter, DlqReceipt};
pub use error::DlqError;
pub use headers::{HeaderStyle, PROVENANCE_PREFIXES, is_provenance};

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;

use super::{
    RunnerConfig, RunnerError,
    config::{self, DlqCompression},
    sink::{DeadLetterSink, SinkError},
};
use crate::produce::{Compression, Producer, ProducerConfig, ProducerRecord};

/// The dead-letter producer's `delivery.timeout.ms` in [`DlqWriter::connect`]: much shorter
/// than librdkafka's 300 s default, so that a dead-letter outage is reported (a
/// `dlq_unavailable` event, the partition stalled and retried) within half a minute instead
/// of five.
pub const DLQ_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

use headers::Failure;
use route::PartitionChooser;

/// Writes dead letters through the project's idempotent [`Producer`].
#[derive(Debug)]
pub struct DlqWriter {
    producer: Arc<Producer>,
    /// Topic template, header style and compression: changed live by a config reload
    /// ([`DeadLetterSink::reconfigure`]); locked only to copy them, never across an await.
    route: std::sync::RwLock<Route>,
    chooser: PartitionChooser,
}

/// The `[dlq]` settings a writer takes live.
#[derive(Debug, Clone)]
struct Route {
    template: String,
    style: HeaderStyle,
    compression: Compression,
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
            route: std::sync::RwLock::new(Route {
                template: topic_template.unwrap_or_else(|| route::DEFAULT_TEMPLATE.to_owned()),
                style,
                compression,
            }),
            chooser: PartitionChooser::default(),
        }
    }

    fn route(&self) -> Route {
        self.route.read().expect("route lock").clone()
    }

    /// A writer for a runner configured by `config`: an idempotent [`Producer`] on the
    /// `[kafka]` connection properties (bootstrap servers, security, `client.id`) with
    /// `delivery.timeout.ms` = [`DLQ_DELIVERY_TIMEOUT`], and `[dlq] topic`, `header_style`,
    /// `compression`.
    ///
    /// # Errors
    /// [`RunnerError::Config`] for an invalid `[kafka]` section, [`RunnerError::Dlq`] when
    /// the producer cannot start (no broker answers, no producer id within the timeout).
    pub async fn connect(config: &RunnerConfig) -> Result<Self, RunnerError> {
        let client = config.consumer_config()?.client;
        let mut producer_config = ProducerConfig::from_client(client);
        producer_config.delivery_timeout = DLQ_DELIVERY_TIMEOUT;
        let producer = Producer::new(producer_config)
            .await
            .map_err(RunnerError::Dlq)?;
        Ok(Self::new(
            Arc::new(producer),
            config.dlq.topic.clone(),
            config.dlq.header_style.into(),
            config.dlq.compression.into(),
        ))
    }

    /// The DLQ topic for messages of `source_topic`.
    pub fn topic_for(&self, source_topic: &str) -> String {
        route::dlq_topic(&self.route().template, source_topic)
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
            headers: headers::dead_letter_headers(m, &failure, self.route().style),
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
        let Route {
            template,
            compression,
            ..
        } = self.route();
        let topic = route::dlq_topic(&template, &dead.message.topic);
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
                compression,
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

impl DeadLetterSink for DlqWriter {
    fn dead_letter<'a>(
        &'a self,
        letter: DeadLetter<'a>,
    ) -> BoxFuture<'a, Result<DlqReceipt, SinkError>> {
        Box::pin(async move { self.write(&letter).await.map_err(SinkError::from) })
    }

    fn reconfigure(&self, dlq: &config::DlqConfig) -> bool {
        let route = Route {
            template: dlq
                .topic
                .clone()
                .unwrap_or_else(|| route::DEFAULT_TEMPLATE.to_owned()),
            style: dlq.header_style.into(),
            compression: dlq.compression.into(),
        };
        *self.route.write().expect("route lock") = route;
        true
    }
}

impl From<DlqError> for SinkError {
    fn from(e: DlqError) -> Self {
        if e.is_retriable() {
            Self::retriable(e.to_string())
        } else {
            Self::permanent(e.to_string())
        }
    }
}

impl From<config::HeaderStyle> for HeaderStyle {
    fn from(style: config::HeaderStyle) -> Self {
        match style {
            config::HeaderStyle::Connect => Self::Connect,
            config::HeaderStyle::Spring => Self::Spring,
            config::HeaderStyle::Streams => Self::Streams,
        }
    }
}

impl From<DlqCompression> for Compression {
    fn from(c: DlqCompression) -> Self {
        match c {
            DlqCompression::None => Self::None,
            DlqCompression::Gzip => Self::Gzip,
            DlqCompression::Snappy => Self::Snappy,
            DlqCompression::Lz4 => Self::Lz4,
            DlqCompression::Zstd => Self::Zstd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_errors_keep_the_retriability_and_the_message() {
        let missing = SinkError::from(DlqError::TopicMissing {
            topic: "orders.dlq".into(),
        });
        assert!(missing.is_retriable());
        assert!(missing.message().contains("orders.dlq does not exist"));
        let too_large = SinkError::from(DlqError::TooLarge {
            topic: "orders.dlq".into(),
            size: 2_000_000,
        });
        assert!(!too_large.is_retriable());
        assert!(too_large.message().contains("2000000 bytes"));
    }

    #[test]
    fn configured_styles_and_codecs_map_one_to_one() {
        for (name, style) in [
            ("connect", config::HeaderStyle::Connect),
            ("spring", config::HeaderStyle::Spring),
            ("streams", config::HeaderStyle::Streams),
        ] {
            assert_eq!(
                HeaderStyle::from(style),
                HeaderStyle::from_name(name).unwrap()
            );
        }
        for (name, codec) in [
            ("none", DlqCompression::None),
            ("gzip", DlqCompression::Gzip),
            ("snappy", DlqCompression::Snappy),
            ("lz4", DlqCompression::Lz4),
            ("zstd", DlqCompression::Zstd),
        ] {
            assert_eq!(
                Compression::from(codec),
                crate::produce::parse_compression(name).unwrap()
            );
        }
    }
}
