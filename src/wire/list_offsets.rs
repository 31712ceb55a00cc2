//! ListOffsets (API key 2), versions 1–7: the offset for a timestamp, or the earliest/latest one.
//!
//! Version 0 was removed by Kafka 4.0 (KIP-896); 1 returns a single offset with its timestamp,
//! 2 adds the isolation level and the throttle time, 4 the current leader epoch (request) and
//! the leader epoch (response), 6 is the first flexible version, 7 accepts
//! [`MAX_TIMESTAMP`] (KIP-734). Versions 8+ (local/tiered log start, remote timeouts) serve tiered
//! storage and are not spoken here.
//!
//! The consumer's replica id (−1) is written by the encoder and not stored.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Timestamp that asks for the latest offset: the high watermark (read_uncommitted) or the last
/// stable offset (read_committed).
pub const LATEST_TIMESTAMP: i64 = -1;
/// Timestamp that asks for the earliest offset: the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp that asks for the offset of the record with the largest timestamp (v7+, KIP-734).
pub const MAX_TIMESTAMP: i64 = -3;

/// Asks partition leaders for offsets by timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// 0 read_uncommitted, 1 read_committed (v2+): whether "latest" means the high watermark
    /// or the last stable offset.
    pub isolation_level: i8,
    /// Topics and partitions to look up.
    pub topics: Vec<ListOffsetsTopic>,
}

/// The partitions to look up in one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    /// Topic name.
    pub topic: String,
    /// Its partitions.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// One partition to look up.
///
/// [`Default`] is partition 0, unknown leader epoch (−1), [`LATEST_TIMESTAMP`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// Partition index.
    pub partition: i32,
    /// Leader epoch the consumer believes current (v4+), −1 when unknown (no fencing).
    pub current_leader_epoch: i32,
    /// A timestamp in milliseconds, or [`LATEST_TIMESTAMP`], [`EARLIEST_TIMESTAMP`],
    /// [`MAX_TIMESTAMP`].
    pub timestamp: i64,
}

impl Default for ListOffsetsPartition {
    fn default() -> Self {
        Self {
            partition: 0,
            current_leader_epoch: -1,
            timestamp: LATEST_TIMESTAMP,
        }
    }
}

impl WireRequest for ListOffsetsRequest {
    type Response = ListOffsetsResponse;
    const NAME: &'static str = "ListOffsets";
    const API_KEY: i16 = 2;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 7;
    const FIRST_FLEXIBLE_VERSION: i16 = 6;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.i32(-1); // replica_id: a consumer
        if version >= 2 {
            e.i8(self.isolation_level);
        }
        e.array_len(flexible, Some(self.topics.len()));
        for topic in &self.topics {
            e.string(flexible, &topic.topic);
            e.array_len(flexible, Some(topic.partitions.len()));
            for p in &topic.partitions {
                e.i32(p.partition);
                if version >= 4 {
                    e.i32(p.current_leader_epoch);
                }
                e.i64(p.timestamp);
                e.tagged_fields(flexible);
            }
            e.tagged_fields(flexible);
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to a [`ListOffsetsRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Time the request was throttled by a quota, in milliseconds (v2+, 0 before).
    pub throttle_time_ms: i32,
    /// Per-topic results.
    pub topics: Vec<ListOffsetsResponseTopic>,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsResponseTopic {
    /// Topic name.
    pub topic: String,
    /// Per-partition results.
    pub partitions: Vec<ListOffsetsResponsePartition>,
}

/// The result for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsResponsePartition {
    /// Partition index.
    pub partition: i32,
    /// Partition-level error code, 0 when none.
    pub error_code: i16,
    /// Timestamp of the returned offset, −1 for the earliest/latest lookups.
    pub timestamp: i64,
    /// The offset found, −1 when none.
    pub offset: i64,
    /// Leader epoch of the returned offset (v4+), −1 before or when unknown.
    pub leader_epoch: i32,
}

impl WireResponse for ListOffsetsResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = ListOffsetsRequest::is_flexible(version);
        let throttle_time_ms = if version >= 2 { d.i32()? } else { 0 };
        let topics = d.array_of(flexible, |d| {
            let topic = d.string(flexible)?.to_owned();
            let partitions = d.array_of(flexible, |d| {
                let partition = ListOffsetsResponsePartition {
                    partition: d.i32()?,
                    error_code: d.i16()?,
                    timestamp: d.i64()?,
                    offset: d.i64()?,
                    leader_epoch: if version >= 4 { d.i32()? } else { -1 },
                };
                d.tagged_fields(flexible)?;
                Ok(partition)
            })?;
            d.tagged_fields(flexible)?;
            Ok(ListOffsetsResponseTopic { topic, partitions })
        })?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::assert_every_truncation_fails;

    const VERSIONS: std::ops::RangeInclusive<i16> =
        ListOffsetsRequest::MIN_VERSION..=ListOffsetsRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    /// Flexible versions carry an unknown tagged field at every level, which must be skipped.
    fn encode_response(r: &ListOffsetsResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 6;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        let unknown_tag = |e: &mut Encoder<'_>| {
            if flexible {
                e.unsigned_varint(1); // one field
                e.unsigned_varint(5); // tag
                e.unsigned_varint(1); // size
                e.i8(0x2a);
            }
        };
        if version >= 2 {
            e.i32(r.throttle_time_ms);
        }
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.topic);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i32(p.partition);
                e.i16(p.error_code);
                e.i64(p.timestamp);
                e.i64(p.offset);
                if version >= 4 {
                    e.i32(p.leader_epoch);
                }
                unknown_tag(&mut e);
            }
            unknown_tag(&mut e);
        }
        unknown_tag(&mut e);
        buf
    }

    fn sample(version: i16) -> ListOffsetsResponse {
        ListOffsetsResponse {
            throttle_time_ms: if version >= 2 { 3 } else { 0 },
            topics: vec![ListOffsetsResponseTopic {
                topic: "t".into(),
                partitions: vec![
                    ListOffsetsResponsePartition {
                        partition: 0,
                        error_code: 0,
                        timestamp: -1,
                        offset: 10,
                        leader_epoch: if version >= 4 { 2 } else { -1 },
                    },
                    ListOffsetsResponsePartition {
                        partition: 9,
                        error_code: 3, // UNKNOWN_TOPIC_OR_PARTITION
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: -1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = ListOffsetsResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<ListOffsetsResponse>(&buf, version);
        }
    }

    fn request() -> ListOffsetsRequest {
        ListOffsetsRequest {
            isolation_level: 1,
            topics: vec![ListOffsetsTopic {
                topic: "t".into(),
                partitions: vec![ListOffsetsPartition {
                    partition: 1,
                    current_leader_epoch: 3,
                    timestamp: EARLIEST_TIMESTAMP,
                }],
            }],
        }
    }

    fn encode_request(r: &ListOffsetsRequest, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 1,             // partition
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2
        ];
        assert_eq!(encode_request(&request(), 1), expected);
    }

    #[test]
    fn request_v5_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            1,                      // isolation_level
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 1,             // partition
            0, 0, 0, 3,             // current_leader_epoch
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2
        ];
        assert_eq!(encode_request(&request(), 5), expected);
    }

    #[test]
    fn request_v7_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            1,                      // isolation_level
            2,                      // topics: compact 1
            2, b't',                // compact name
            2,                      // partitions: compact 1
            0, 0, 0, 1,             // partition
            0, 0, 0, 3,             // current_leader_epoch
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2
            0,                      // partition tagged fields
            0,                      // topic tagged fields
            0,                      // top-level tagged fields
        ];
        assert_eq!(encode_request(&request(), 7), expected);
    }
}
