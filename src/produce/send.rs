//! One send: encode the batch once, then attempt it against the partition's leader until it
//! is acknowledged, refused for good, or `delivery.timeout.ms` runs out.
//!
//! Invariant: every attempt of one batch under one producer identity sends the same bytes.
//! The batch is re-encoded only after the identity changed (re-initialisation), with the new
//! identity's sequence.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::time::Instant;

use super::{
    ProduceError, Producer, ProducerRecord, RecordMetadata, backoff,
    leaders::TopicLayout,
    sequence::{NextSequence, ProducerIdentity},
};
use crate::{
    cluster::pool::Purpose,
    error::KafkaCode,
    record::{BatchParams, Compression, encode_batch},
    wire::produce::{
        ACKS_ALL, ProducePartition, ProduceRequest, ProduceResponsePartition, ProduceTopic,
    },
};

/// Error codes of a Produce partition response that the producer treats specially.
mod code {
    pub(super) const MESSAGE_TOO_LARGE: i16 = 10;
    pub(super) const RECORD_LIST_TOO_LARGE: i16 = 18;
    pub(super) const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    pub(super) const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    pub(super) const INVALID_PRODUCER_EPOCH: i16 = 47;
    pub(super) const UNKNOWN_PRODUCER_ID: i16 = 59;
    pub(super) const PRODUCER_FENCED: i16 = 90;
}

/// A batch encoded under one identity.
#[derive(Debug, Clone)]
struct Encoded {
    identity: ProducerIdentity,
    sequence: i32,
    bytes: Bytes,
}

/// What one attempt came to.
#[derive(Debug)]
enum Step {
    /// Appended (or recognised as a duplicate) at this offset.
    Delivered(i64),
    /// Worth another attempt after a pause; `sent` says whether the request reached the wire.
    Retry { error: String, sent: bool },
    /// The broker no longer accepts this identity's sequence.
    Reinitialise(String),
    /// Final.
    Fail(ProduceError),
}

impl Producer {
    pub(super) async fn deliver(
        &self,
        topic: &str,
        partition: i32,
        records: &[ProducerRecord],
        compression: Compression,
    ) -> Result<RecordMetadata, ProduceError> {
        let timeout = self.config.delivery_timeout;
        let deadline = Instant::now() + timeout;
        let timed_out = |last_error: String| ProduceError::DeliveryTimeout {
            topic: topic.to_owned(),
            partition,
            timeout,
            last_error,
        };
        let count = i32::try_from(records.len())
            .map_err(|_| crate::record::EncodeError::TooLarge("record count"))?;
        if count == 0 {
            return Err(crate::record::EncodeError::Empty.into());
        }
        let sequence = self.partition_sequence(topic, partition);
        let _slot = tokio::time::timeout_at(deadline, sequence.acquire())
            .await
            .map_err(|_| timed_out("waiting for the partition's previous batch".to_owned()))?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let (mut pause, max_pause) = backoff(&self.config);
        let mut batch: Option<Encoded> = None;
        let mut maybe_written = false;

        loop {
            let encoded = match &batch {
                Some(b) => b.clone(),
                None => {
                    let encoded = self
                        .encode(
                            (topic, partition),
                            records,
                            compression,
                            (now_ms, deadline),
                            &sequence,
                        )
                        .await
                        .map_err(|e| match e {
                            ProduceError::ProducerIdUnavailable { last_error } => {
                                timed_out(last_error)
                            }
                            other => other,
                        })?;
                    batch = Some(encoded.clone());
                    encoded
                }
            };
            let step =
                tokio::time::timeout_at(deadline, self.attempt(topic, partition, &encoded.bytes))
                    .await
                    .unwrap_or_else(|_| Step::Retry {
                        error: "the attempt ran into the delivery timeout".to_owned(),
                        sent: true,
                    });
            let last_error = match step {
                Step::Delivered(offset) => {
                    sequence.delivered(encoded.identity, encoded.sequence, count);
                    return Ok(RecordMetadata {
                        topic: topic.to_owned(),
                        partition,
                        offset,
                    });
                }
                Step::Fail(e) => {
                    if !maybe_written {
                        sequence.rejected(encoded.identity, encoded.sequence);
                    }
                    return Err(e);
                }
                Step::Retry { error, sent } => {
                    maybe_written |= sent;
                    self.leaders.invalidate(topic);
                    error
                }
                Step::Reinitialise(error) => {
                    tracing::warn!(%topic, partition, %error, "producer identity refused, re-initialising");
                    let fresh = self
                        .identity
                        .replace(
                            &self.cluster,
                            encoded.identity,
                            deadline,
                            backoff(&self.config),
                        )
                        .await
                        .map_err(|e| match e {
                            ProduceError::ProducerIdUnavailable { last_error } => {
                                timed_out(last_error)
                            }
                            other => other,
                        })?;
                    debug_assert_ne!(fresh, encoded.identity);
                    // Re-encoded under the new identity at the next turn, after the pause (a
                    // broker that refuses every fresh id must not be hammered).
                    batch = None;
                    error
                }
            };
            if Instant::now() + pause >= deadline {
                if !maybe_written {
                    sequence.rejected(encoded.identity, encoded.sequence);
                }
                return Err(timed_out(last_error));
            }
            tracing::debug!(%topic, partition, error = %last_error, ?pause, "produce failed, retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(max_pause);
        }
    }

    /// Encodes `records` under the current identity with the partition's next sequence,
    /// re-initialising first if the partition's previous send ended uncertain.
    async fn encode(
        &self,
        (topic, partition): (&str, i32),
        records: &[ProducerRecord],
        compression: Compression,
        (now_ms, deadline): (i64, Instant),
        sequence: &super::sequence::PartitionSequence,
    ) -> Result<Encoded, ProduceError> {
        let mut identity = self.identity.current();
        let base_sequence = loop {
            match sequence.begin(identity) {
                NextSequence::Use(s) => break s,
                NextSequence::Reinitialise(old) => {
                    identity = self
                        .identity
                        .replace(&self.cluster, old, deadline, backoff(&self.config))
                        .await?;
                }
            }
        };
        let params = BatchParams {
            producer_id: identity.id,
            producer_epoch: identity.epoch,
            base_sequence,
            compression,
            default_timestamp: now_ms,
        };
        let bytes = match encode_batch(&params, records) {
            Ok(b) => b,
            Err(e) => {
                sequence.rejected(identity, base_sequence);
                return Err(e.into());
            }
        };
        if bytes.len() > self.config.max_message_bytes {
            sequence.rejected(identity, base_sequence);
            return Err(ProduceError::RecordTooLarge {
                topic: topic.to_owned(),
                partition,
                size: bytes.len(),
                max: Some(self.config.max_message_bytes),
            });
        }
        Ok(Encoded {
            identity,
            sequence: base_sequence,
            bytes,
        })
    }

    /// One attempt: find the leader, send, classify the answer.
    async fn attempt(&self, topic: &str, partition: i32, bytes: &Bytes) -> Step {
        let layout = match self.leaders.layout(&self.cluster, &self.pool, topic).await {
            Ok(layout) => layout,
            Err(e) if e.is_retriable() => {
                return Step::Retry {
                    error: e.to_string(),
                    sent: false,
                };
            }
            Err(e) => return Step::Fail(e.into()),
        };
        let leader = match layout {
            TopicLayout::Missing => {
                return Step::Fail(ProduceError::UnknownTopic {
                    topic: topic.to_owned(),
                });
            }
            TopicLayout::Error(code) if code.is_retriable() => {
                return Step::Retry {
                    error: format!("metadata for {topic}: {code}"),
                    sent: false,
                };
            }
            TopicLayout::Error(code) => {
                return Step::Fail(ProduceError::NotWritable {
                    topic: topic.to_owned(),
                    partition,
                    code,
                    message: None,
                });
            }
            TopicLayout::Partitions(partitions) => match partitions.get(&partition) {
                None => {
                    return Step::Fail(ProduceError::UnknownPartition {
                        topic: topic.to_owned(),
                        partition,
                        partitions: partitions.len(),
                    });
                }
                Some(&leader) if leader < 0 => {
                    return Step::Retry {
                        error: format!("{topic} [{partition}] has no leader"),
                        sent: false,
                    };
                }
                Some(&leader) => leader,
            },
        };
        let conn = match self.pool.get(leader, Purpose::Control).await {
            Ok(conn) => conn,
            Err(e) => {
                return Step::Retry {
                    error: e.to_string(),
                    sent: false,
                };
            }
        };
        let request = ProduceRequest {
            transactional_id: None,
            acks: ACKS_ALL,
            timeout_ms: i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX),
            topics: vec![ProduceTopic {
                topic: topic.to_owned(),
                partitions: vec![ProducePartition {
                    partition,
                    records: bytes.clone(),
                }],
            }],
        };
        let wait = self
            .config
            .request_timeout
            .max(self.config.client.request_timeout)
            + Duration::from_secs(1);
        let response = match conn.request_within(request, wait).await {
            Ok(r) => r,
            Err(e) => {
                self.pool.invalidate(leader, Purpose::Control, &conn).await;
                return Step::Retry {
                    error: e.to_string(),
                    sent: true,
                };
            }
        };
        let Some(p) = response.partition(topic, partition) else {
            return Step::Retry {
                error: format!("the Produce response has no result for {topic} [{partition}]"),
                sent: true,
            };
        };
        classify(topic, partition, p, bytes.len())
    }
}

/// What a partition's Produce result means for the batch.
fn classify(topic: &str, partition: i32, p: &ProduceResponsePartition, size: usize) -> Step {
    match p.error_code {
        0 => Step::Delivered(p.base_offset),
        code::DUPLICATE_SEQUENCE_NUMBER => Step::Delivered(p.base_offset.max(-1)),
        code::MESSAGE_TOO_LARGE | code::RECORD_LIST_TOO_LARGE => {
            Step::Fail(ProduceError::RecordTooLarge {
                topic: topic.to_owned(),
                partition,
                size,
                max: None,
            })
        }
        code::OUT_OF_ORDER_SEQUENCE_NUMBER
        | code::INVALID_PRODUCER_EPOCH
        | code::UNKNOWN_PRODUCER_ID
        | code::PRODUCER_FENCED => Step::Reinitialise(KafkaCode(p.error_code).to_string()),
        other if KafkaCode(other).is_retriable() => Step::Retry {
            error: format!("{topic} [{partition}]: {}", KafkaCode(other)),
            sent: true,
        },
        other => Step::Fail(ProduceError::NotWritable {
            topic: topic.to_owned(),
            partition,
            code: KafkaCode(other),
            message: p.error_message.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(error_code: i16, base_offset: i64) -> ProduceResponsePartition {
        ProduceResponsePartition {
            error_code,
            base_offset,
            error_message: Some("why".into()),
            ..ProduceResponsePartition::default()
        }
    }

    fn classify(topic: &str, partition: i32, code: i16, offset: i64, _m: Option<String>) -> Step {
        super::classify(topic, partition, &result(code, offset), 123)
    }

    #[test]
    fn duplicates_count_as_delivered_and_fencing_reinitialises() {
        assert!(matches!(classify("t", 0, 0, 5, None), Step::Delivered(5)));
        assert!(matches!(
            classify("t", 0, 46, -1, None),
            Step::Delivered(-1)
        ));
        for code in [45, 47, 59, 90] {
            assert!(
                matches!(classify("t", 0, code, -1, None), Step::Reinitialise(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn leader_changes_retry_and_refusals_are_typed() {
        for code in [6, 7, 19, 20, 74, 75] {
            assert!(
                matches!(
                    classify("t", 0, code, -1, None),
                    Step::Retry { sent: true, .. }
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify("t", 0, 10, -1, None),
            Step::Fail(ProduceError::RecordTooLarge {
                max: None,
                size: 123,
                ..
            })
        ));
        assert!(matches!(
            classify("t", 0, 29, -1, Some("denied".into())),
            Step::Fail(ProduceError::NotWritable { .. })
        ));
    }
}
