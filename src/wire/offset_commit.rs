//! OffsetCommit (API key 8), versions 2–9: storing a group's consumed positions.
//!
//! Versions 0–1 were removed by Kafka 4.0 (KIP-896). 2 is the oldest left: it carries a
//! retention time, always sent as −1 (the broker's `offsets.retention.minutes`); 3 adds the
//! throttle time to the response, 4 is the same as 3, 5 drops the retention time, 6 adds the
//! committed leader epoch (KIP-320), 7 the group instance id (static membership, KIP-345), 8 is
//! the first flexible version, 9 is the same as 8 but also accepts the member epoch of the new
//! consumer protocol (KIP-848) and answers GROUP_ID_NOT_FOUND (69) instead of
//! ILLEGAL_GENERATION when a generation is given for a group that does not exist. Version 10+
//! identifies topics by topic id and is not spoken here.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Commits offsets for a group.
///
/// [`Default`] is a commit outside group management (generation −1, empty member id), which the
/// coordinator accepts for an empty or nonexistent group ("simple" commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The group id.
    pub group_id: String,
    /// The generation from JoinGroup (classic protocol), or the member epoch (KIP-848); −1 for a
    /// commit outside group management.
    pub generation_id_or_member_epoch: i32,
    /// This member's id; empty for a commit outside group management.
    pub member_id: String,
    /// The static member id (v7+; ignored before), `None` when dynamic.
    pub group_instance_id: Option<String>,
    /// The offsets to commit, per topic.
    pub topics: Vec<OffsetCommitTopic>,
}

impl Default for OffsetCommitRequest {
    fn default() -> Self {
        Self {
            group_id: String::new(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            topics: Vec::new(),
        }
    }
}

/// The offsets to commit in one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    /// Topic name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<OffsetCommitPartition>,
}

/// The offset to commit for one partition.
///
/// [`Default`] is partition 0, offset 0, unknown leader epoch (−1), no metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// Partition index.
    pub partition_index: i32,
    /// The offset to commit: the next record to consume.
    pub committed_offset: i64,
    /// Leader epoch of the last consumed record (v6+; ignored before), −1 when unknown.
    pub committed_leader_epoch: i32,
    /// Metadata the client wants to keep with the offset.
    pub committed_metadata: Option<String>,
}

impl Default for OffsetCommitPartition {
    fn default() -> Self {
        Self {
            partition_index: 0,
            committed_offset: 0,
            committed_leader_epoch: -1,
            committed_metadata: None,
        }
    }
}

impl OffsetCommitRequest {
    /// A commit outside group management (see [`Default`]) of `partitions` for `group_id`:
    /// each (topic, partition entry) grouped by topic in name order. Set the generation, member
    /// id and instance id on the result for a commit as a group member.
    pub fn for_partitions<'a>(
        group_id: String,
        partitions: impl IntoIterator<Item = (&'a str, OffsetCommitPartition)>,
    ) -> Self {
        let mut topics: std::collections::BTreeMap<&str, Vec<OffsetCommitPartition>> =
            Default::default();
        for (topic, partition) in partitions {
            topics.entry(topic).or_default().push(partition);
        }
        Self {
            group_id,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetCommitTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect(),
            ..Self::default()
        }
    }
}

impl WireRequest for OffsetCommitRequest {
    type Response = OffsetCommitResponse;
    const NAME: &'static str = "OffsetCommit";
    const API_KEY: i16 = 8;
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 9;
    const FIRST_FLEXIBLE_VERSION: i16 = 8;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.string(flexible, &self.group_id);
        e.i32(self.generation_id_or_member_epoch);
        e.string(flexible, &self.member_id);
        if version >= 7 {
            e.nullable_string(flexible, self.group_instance_id.as_deref());
        }
        if version <= 4 {
            e.i64(-1); // retention_time_ms: the broker's default
        }
        e.array_len(flexible, Some(self.topics.len()));
        for topic in &self.topics {
            e.string(flexible, &topic.name);
            e.array_len(flexible, Some(topic.partitions.len()));
            for p in &topic.partitions {
                e.i32(p.partition_index);
                e.i64(p.committed_offset);
                if version >= 6 {
                    e.i32(p.committed_leader_epoch);
                }
                e.nullable_string(flexible, p.committed_metadata.as_deref());
                e.tagged_fields(flexible);
            }
            e.tagged_fields(flexible);
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to an [`OffsetCommitRequest`]: an error code per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Time the request was throttled by a quota, in milliseconds (v3+, 0 before).
    pub throttle_time_ms: i32,
    /// Per-topic results.
    pub topics: Vec<OffsetCommitResponseTopic>,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitResponseTopic {
    /// Topic name.
    pub name: String,
    /// Per-partition results.
    pub partitions: Vec<OffsetCommitResponsePartition>,
}

/// The result for one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffsetCommitResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// Error code, 0 when committed (group errors such as ILLEGAL_GENERATION or
    /// REBALANCE_IN_PROGRESS are repeated on every partition).
    pub error_code: i16,
}

impl WireResponse for OffsetCommitResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = OffsetCommitRequest::is_flexible(version);
        let throttle_time_ms = if version >= 3 { d.i32()? } else { 0 };
        let topics = d.array_of(flexible, |d| {
            let name = d.string(flexible)?.to_owned();
            let partitions = d.array_of(flexible, |d| {
                let p = OffsetCommitResponsePartition {
                    partition_index: d.i32()?,
                    error_code: d.i16()?,
                };
                d.tagged_fields(flexible)?;
                Ok(p)
            })?;
            d.tagged_fields(flexible)?;
            Ok(OffsetCommitResponseTopic { name, partitions })
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
        OffsetCommitRequest::MIN_VERSION..=OffsetCommitRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &OffsetCommitResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 8;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        if version >= 3 {
            e.i32(r.throttle_time_ms);
        }
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.name);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i32(p.partition_index);
                e.i16(p.error_code);
                unknown_tag(&mut e, flexible);
            }
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> OffsetCommitResponse {
        OffsetCommitResponse {
            throttle_time_ms: if version >= 3 { 8 } else { 0 },
            topics: vec![
                OffsetCommitResponseTopic {
                    name: "t".into(),
                    partitions: vec![
                        OffsetCommitResponsePartition {
                            partition_index: 0,
                            error_code: 0,
                        },
                        OffsetCommitResponsePartition {
                            partition_index: 1,
                            error_code: 22, // ILLEGAL_GENERATION
                        },
                    ],
                },
                OffsetCommitResponseTopic {
                    name: "u".into(),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = OffsetCommitResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<OffsetCommitResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: 3,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            topics: vec![OffsetCommitTopic {
                name: "t".into(),
                partitions: vec![
                    OffsetCommitPartition {
                        partition_index: 1,
                        committed_offset: 5,
                        committed_leader_epoch: 2,
                        committed_metadata: Some("x".into()),
                    },
                    OffsetCommitPartition {
                        partition_index: 2,
                        committed_offset: 7,
                        ..OffsetCommitPartition::default()
                    },
                ],
            }],
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v2_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 3,                 // generation_id
            0, 1, b'm',                 // member_id
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // retention_time_ms -1
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 // name
            0, 0, 0, 2,                 // partitions: 2
            0, 0, 0, 1,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 5,     // committed_offset
            0, 1, b'x',                 // committed_metadata
            0, 0, 0, 2,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 7,     // committed_offset
            0xff, 0xff,                 // committed_metadata: null
        ];
        assert_eq!(encode_request(2), expected);
        assert_eq!(encode_request(4), expected);
    }

    #[test]
    fn request_v7_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 3,                 // generation_id
            0, 1, b'm',                 // member_id
            0, 1, b'i',                 // group_instance_id
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 // name
            0, 0, 0, 2,                 // partitions: 2
            0, 0, 0, 1,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 5,     // committed_offset
            0, 0, 0, 2,                 // committed_leader_epoch
            0, 1, b'x',                 // committed_metadata
            0, 0, 0, 2,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 7,     // committed_offset
            0xff, 0xff, 0xff, 0xff,     // committed_leader_epoch -1
            0xff, 0xff,                 // committed_metadata: null
        ];
        assert_eq!(encode_request(7), expected);
    }

    #[test]
    fn request_v9_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            0, 0, 0, 3,                 // generation_id
            2, b'm',                    // compact member_id
            2, b'i',                    // compact group_instance_id
            2,                          // topics: compact 1
            2, b't',                    // compact name
            3,                          // partitions: compact 2
            0, 0, 0, 1,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 5,     // committed_offset
            0, 0, 0, 2,                 // committed_leader_epoch
            2, b'x',                    // compact committed_metadata
            0,                          // partition tagged fields
            0, 0, 0, 2,                 // partition_index
            0, 0, 0, 0, 0, 0, 0, 7,     // committed_offset
            0xff, 0xff, 0xff, 0xff,     // committed_leader_epoch -1
            0,                          // committed_metadata: compact null
            0,                          // partition tagged fields
            0,                          // topic tagged fields
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(9), expected);
        assert_eq!(encode_request(8), expected);
    }

    #[test]
    fn request_v5_drops_the_retention_time() {
        let v4 = encode_request(4);
        let v5 = encode_request(5);
        // v5 = v4 without the 8-byte retention time after group_id, generation, member_id.
        let head = 3 + 4 + 3;
        assert_eq!(v5[..head], v4[..head]);
        assert_eq!(v5[head..], v4[head + 8..]);
    }
}
