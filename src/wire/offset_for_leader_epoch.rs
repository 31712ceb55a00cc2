//! OffsetForLeaderEpoch (API key 23), versions 2–4: where a leader epoch ends in the leader's
//! log (KIP-320: a consumer validates its position after a leader change).
//!
//! Versions 0–1 were removed by Kafka 4.0 (KIP-896); 2 adds the current leader epoch (fencing,
//! FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH) and the throttle time, 3 the replica id (−1 for
//! a consumer: it sees offsets up to the high watermark only), 4 is the first flexible version.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks a partition leader where each given epoch ends in its log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderEpochRequest {
    /// Topics and partitions to look up.
    pub topics: Vec<OffsetForLeaderTopic>,
}

/// The partitions to look up in one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderTopic {
    /// Topic name.
    pub topic: String,
    /// Its partitions.
    pub partitions: Vec<OffsetForLeaderPartition>,
}

/// One partition to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetForLeaderPartition {
    /// Partition index.
    pub partition: i32,
    /// Leader epoch the consumer believes current, −1 when unknown (no fencing).
    pub current_leader_epoch: i32,
    /// The epoch whose end offset is asked for: that of the record before the position.
    pub leader_epoch: i32,
}

impl WireRequest for OffsetForLeaderEpochRequest {
    type Response = OffsetForLeaderEpochResponse;
    const NAME: &'static str = "OffsetForLeaderEpoch";
    const API_KEY: i16 = 23;
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 4;
    const FIRST_FLEXIBLE_VERSION: i16 = 4;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        if version >= 3 {
            e.i32(-1); // replica_id: a consumer
        }
        e.array_len(flexible, Some(self.topics.len()));
        for topic in &self.topics {
            e.string(flexible, &topic.topic);
            e.array_len(flexible, Some(topic.partitions.len()));
            for p in &topic.partitions {
                e.i32(p.partition);
                e.i32(p.current_leader_epoch);
                e.i32(p.leader_epoch);
                e.tagged_fields(flexible);
            }
            e.tagged_fields(flexible);
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to an [`OffsetForLeaderEpochRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Per-topic results.
    pub topics: Vec<OffsetForLeaderTopicResult>,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderTopicResult {
    /// Topic name.
    pub topic: String,
    /// Per-partition results.
    pub partitions: Vec<EpochEndOffset>,
}

/// Where an epoch ends in the leader's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// Partition-level error code, 0 when none.
    pub error_code: i16,
    /// Partition index.
    pub partition: i32,
    /// The largest epoch of the leader's log not above the one asked for, −1 when unknown.
    pub leader_epoch: i32,
    /// The end offset of that epoch (the first offset of the next one), −1 when unknown.
    pub end_offset: i64,
}

impl WireResponse for OffsetForLeaderEpochResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = OffsetForLeaderEpochRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let topics = d.array_of(flexible, |d| {
            let topic = d.string(flexible)?.to_owned();
            let partitions = d.array_of(flexible, |d| {
                let partition = EpochEndOffset {
                    error_code: d.i16()?,
                    partition: d.i32()?,
                    leader_epoch: d.i32()?,
                    end_offset: d.i64()?,
                };
                d.tagged_fields(flexible)?;
                Ok(partition)
            })?;
            d.tagged_fields(flexible)?;
            Ok(OffsetForLeaderTopicResult { topic, partitions })
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
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        OffsetForLeaderEpochRequest::MIN_VERSION..=OffsetForLeaderEpochRequest::MAX_VERSION;

    fn encode_response(r: &OffsetForLeaderEpochResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 4;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.topic);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i16(p.error_code);
                e.i32(p.partition);
                e.i32(p.leader_epoch);
                e.i64(p.end_offset);
                unknown_tag(&mut e, flexible);
            }
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample() -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse {
            throttle_time_ms: 4,
            topics: vec![OffsetForLeaderTopicResult {
                topic: "t".into(),
                partitions: vec![
                    EpochEndOffset {
                        error_code: 0,
                        partition: 0,
                        leader_epoch: 3,
                        end_offset: 10,
                    },
                    EpochEndOffset {
                        error_code: 74, // FENCED_LEADER_EPOCH
                        partition: 1,
                        leader_epoch: -1,
                        end_offset: -1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(), version));
            let mut d = Decoder::new(&buf);
            let got = OffsetForLeaderEpochResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, sample(), "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(), version));
            assert_every_truncation_fails::<OffsetForLeaderEpochResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let request = OffsetForLeaderEpochRequest {
            topics: vec![OffsetForLeaderTopic {
                topic: "t".into(),
                partitions: vec![OffsetForLeaderPartition {
                    partition: 1,
                    current_leader_epoch: 5,
                    leader_epoch: 3,
                }],
            }],
        };
        let mut buf = Vec::new();
        request.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v2_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 1,             // partition
            0, 0, 0, 5,             // current_leader_epoch
            0, 0, 0, 3,             // leader_epoch
        ];
        assert_eq!(encode_request(2), expected);
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            2,                      // topics: compact 1
            2, b't',                // compact name
            2,                      // partitions: compact 1
            0, 0, 0, 1,             // partition
            0, 0, 0, 5,             // current_leader_epoch
            0, 0, 0, 3,             // leader_epoch
            0,                      // partition tagged fields
            0,                      // topic tagged fields
            0,                      // top-level tagged fields
        ];
        assert_eq!(encode_request(4), expected);
    }
}
