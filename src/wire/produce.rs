//! Produce (API key 0), versions 7–12: append record batches to partition logs.
//!
//! Versions 0–2 were removed by Kafka 4.0 (KIP-896) and 3–6 are deprecated; 7 is the first that
//! accepts zstd batches (KIP-110), so it is this crate's floor. 8 adds per-record errors and an
//! error message to the response (KIP-467), 9 is the first flexible version, 10 adds the
//! `CurrentLeader`/`NodeEndpoints` tagged fields to the response (KIP-951; skipped here like any
//! unknown tag, the producer refreshes metadata instead), 11 and 12 only widen the error codes
//! a transactional producer may see (KIP-890) and are byte-identical for an idempotent one.
//! Version 13 names topics by id instead of name (KIP-516) and is not spoken here.
//!
//! Invariant: the `records` of a partition are opaque to this module: one or more complete
//! magic-v2 batches built by [`crate::record::encode`].

use bytes::Bytes;

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// `acks` value asking for the whole in-sync replica set (`acks=all`).
pub const ACKS_ALL: i16 = -1;

/// Appends record batches to partitions led by the receiving broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// The transactional id; `None` for idempotent and plain producers.
    pub transactional_id: Option<String>,
    /// Acknowledgements required: 0, 1 or [`ACKS_ALL`].
    pub acks: i16,
    /// How long the broker may wait for the replicas, in milliseconds.
    pub timeout_ms: i32,
    /// The data, per topic.
    pub topics: Vec<ProduceTopic>,
}

/// The data for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceTopic {
    /// Topic name.
    pub topic: String,
    /// The data, per partition.
    pub partitions: Vec<ProducePartition>,
}

/// The data for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition {
    /// Partition index.
    pub partition: i32,
    /// Encoded record batches (a shared buffer: a retry re-sends the same bytes).
    pub records: Bytes,
}

impl WireRequest for ProduceRequest {
    type Response = ProduceResponse;
    const NAME: &'static str = "Produce";
    const API_KEY: i16 = 0;
    const MIN_VERSION: i16 = 7;
    const MAX_VERSION: i16 = 12;
    const FIRST_FLEXIBLE_VERSION: i16 = 9;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.nullable_string(flexible, self.transactional_id.as_deref());
        e.i16(self.acks);
        e.i32(self.timeout_ms);
        e.array_len(flexible, Some(self.topics.len()));
        for topic in &self.topics {
            e.string(flexible, &topic.topic);
            e.array_len(flexible, Some(topic.partitions.len()));
            for p in &topic.partitions {
                e.i32(p.partition);
                e.nullable_bytes(flexible, Some(&p.records));
                e.tagged_fields(flexible);
            }
            e.tagged_fields(flexible);
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to a [`ProduceRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Per-topic results.
    pub topics: Vec<ProduceResponseTopic>,
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceResponseTopic {
    /// Topic name.
    pub topic: String,
    /// Per-partition results.
    pub partitions: Vec<ProduceResponsePartition>,
}

/// The result for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProduceResponsePartition {
    /// Partition index.
    pub partition: i32,
    /// Error code, 0 when the batches were appended.
    pub error_code: i16,
    /// Offset of the first record appended, −1 on error.
    pub base_offset: i64,
    /// The broker's append time under LogAppendTime, −1 under CreateTime.
    pub log_append_time_ms: i64,
    /// The partition's log start offset, −1 when unknown.
    pub log_start_offset: i64,
    /// Records that made the broker drop the batch (v8+), by their index in the batch.
    pub record_errors: Vec<RecordError>,
    /// A summary of why the batch was dropped (v8+).
    pub error_message: Option<String>,
}

/// One record that made the broker reject its batch (KIP-467).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordError {
    /// Index of the record within its batch.
    pub batch_index: i32,
    /// Why it was rejected.
    pub message: Option<String>,
}

impl WireResponse for ProduceResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = ProduceRequest::is_flexible(version);
        let topics = d.array_of(flexible, |d| {
            let topic = d.string(flexible)?.to_owned();
            let partitions = d.array_of(flexible, |d| {
                let partition = d.i32()?;
                let error_code = d.i16()?;
                let base_offset = d.i64()?;
                let log_append_time_ms = d.i64()?;
                let log_start_offset = d.i64()?;
                let record_errors = if version >= 8 {
                    d.array_of(flexible, |d| {
                        let e = RecordError {
                            batch_index: d.i32()?,
                            message: d.nullable_string(flexible)?.map(str::to_owned),
                        };
                        d.tagged_fields(flexible)?;
                        Ok(e)
                    })?
                } else {
                    Vec::new()
                };
                let error_message = if version >= 8 {
                    d.nullable_string(flexible)?.map(str::to_owned)
                } else {
                    None
                };
                d.tagged_fields(flexible)?;
                Ok(ProduceResponsePartition {
                    partition,
                    error_code,
                    base_offset,
                    log_append_time_ms,
                    log_start_offset,
                    record_errors,
                    error_message,
                })
            })?;
            d.tagged_fields(flexible)?;
            Ok(ProduceResponseTopic { topic, partitions })
        })?;
        let throttle_time_ms = d.i32()?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            topics,
            throttle_time_ms,
        })
    }
}

impl ProduceResponse {
    /// The result for `topic`/`partition`, if the broker sent one.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&ProduceResponsePartition> {
        self.topics
            .iter()
            .filter(|t| t.topic == topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition == partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        ProduceRequest::MIN_VERSION..=ProduceRequest::MAX_VERSION;

    /// Encodes a response the way a broker would; flexible versions carry an unknown tagged
    /// field at every level (v10+ brokers send `CurrentLeader`/`NodeEndpoints` as tags).
    fn encode_response(r: &ProduceResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 9;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.topic);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i32(p.partition);
                e.i16(p.error_code);
                e.i64(p.base_offset);
                e.i64(p.log_append_time_ms);
                e.i64(p.log_start_offset);
                if version >= 8 {
                    e.array_len(flexible, Some(p.record_errors.len()));
                    for re in &p.record_errors {
                        e.i32(re.batch_index);
                        e.nullable_string(flexible, re.message.as_deref());
                        unknown_tag(&mut e, flexible);
                    }
                    e.nullable_string(flexible, p.error_message.as_deref());
                }
                unknown_tag(&mut e, flexible);
            }
            unknown_tag(&mut e, flexible);
        }
        e.i32(r.throttle_time_ms);
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> ProduceResponse {
        let v8 = version >= 8;
        ProduceResponse {
            topics: vec![ProduceResponseTopic {
                topic: "t".into(),
                partitions: vec![
                    ProduceResponsePartition {
                        partition: 0,
                        error_code: 0,
                        base_offset: 42,
                        log_append_time_ms: -1,
                        log_start_offset: 7,
                        record_errors: Vec::new(),
                        error_message: None,
                    },
                    ProduceResponsePartition {
                        partition: 1,
                        error_code: 87, // INVALID_RECORD
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        record_errors: if v8 {
                            vec![RecordError {
                                batch_index: 3,
                                message: Some("bad".into()),
                            }]
                        } else {
                            Vec::new()
                        },
                        error_message: v8.then(|| "one bad record".into()),
                    },
                ],
            }],
            throttle_time_ms: 5,
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = ProduceResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
            assert_eq!(got.partition("t", 0).unwrap().base_offset, 42);
            assert!(got.partition("t", 2).is_none());
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<ProduceResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = ProduceRequest {
            transactional_id: None,
            acks: ACKS_ALL,
            timeout_ms: 30_000,
            topics: vec![ProduceTopic {
                topic: "t".into(),
                partitions: vec![ProducePartition {
                    partition: 2,
                    records: Bytes::from_static(&[0xaa, 0xbb, 0xcc]),
                }],
            }],
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v7_and_v8_match_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff,             // transactional_id: null
            0xff, 0xff,             // acks -1
            0, 0, 0x75, 0x30,       // timeout_ms 30000
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 2,             // index
            0, 0, 0, 3, 0xaa, 0xbb, 0xcc, // records
        ];
        assert_eq!(encode_request(7), expected);
        assert_eq!(encode_request(8), expected);
    }

    #[test]
    fn request_v9_to_v12_match_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0,                      // transactional_id: compact null
            0xff, 0xff,             // acks -1
            0, 0, 0x75, 0x30,       // timeout_ms 30000
            2,                      // topics: compact 1
            2, b't',                // compact name
            2,                      // partitions: compact 1
            0, 0, 0, 2,             // index
            4, 0xaa, 0xbb, 0xcc,    // compact records
            0,                      // partition tagged fields
            0,                      // topic tagged fields
            0,                      // top-level tagged fields
        ];
        for version in 9..=12 {
            assert_eq!(encode_request(version), expected, "version {version}");
        }
    }
}
