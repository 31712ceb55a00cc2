//! OffsetFetch (API key 9), versions 1–9: reading a group's committed offsets.
//!
//! Version 0 (offsets in ZooKeeper) was removed by Kafka 4.0 (KIP-896). 1 reads the offsets
//! topic; 2 accepts a null topic list ("all topics") and adds the top-level error code, 3 the
//! throttle time, 4 is the same as 3, 5 adds the committed leader epoch (KIP-320), 6 is the first
//! flexible version, 7 adds `require_stable` (KIP-447: answer UNSTABLE_OFFSET_COMMIT while a
//! transactional commit is pending). 8 batches groups (KIP-709): request and response carry a
//! `Groups` array, the error code moves into each group. 9 adds the member id and epoch of the
//! new consumer protocol (KIP-848), sent as null and −1 here. Version 10+ identifies topics by
//! topic id and is not spoken here.
//!
//! The API is normalized to one group: at v8+ the request is a one-element `Groups` array and the
//! response is the first group's error and topics. Version 1 cannot ask for all topics: there
//! `topics: None` is sent as an empty list, which the broker answers with no topics.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks the coordinator for a group's committed offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// The group id.
    pub group_id: String,
    /// The partitions to look up; `None` for every partition the group has offsets for (v2+).
    pub topics: Option<Vec<OffsetFetchTopic>>,
    /// Fail partitions with a pending transactional commit with UNSTABLE_OFFSET_COMMIT instead of
    /// returning the last stable offset (v7+; ignored before).
    pub require_stable: bool,
}

/// The partitions to look up in one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partition_indexes: Vec<i32>,
}

impl WireRequest for OffsetFetchRequest {
    type Response = OffsetFetchResponse;
    const NAME: &'static str = "OffsetFetch";
    const API_KEY: i16 = 9;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 9;
    const FIRST_FLEXIBLE_VERSION: i16 = 6;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        let topics = |e: &mut Encoder<'_>| {
            match &self.topics {
                Some(topics) => e.array_len(flexible, Some(topics.len())),
                // Null ("all topics") exists from v2; v1 can only say "none".
                None => e.array_len(flexible, (version == 1).then_some(0)),
            }
            for topic in self.topics.iter().flatten() {
                e.string(flexible, &topic.name);
                e.array_len(flexible, Some(topic.partition_indexes.len()));
                topic.partition_indexes.iter().for_each(|p| e.i32(*p));
                e.tagged_fields(flexible);
            }
        };
        if version <= 7 {
            e.string(flexible, &self.group_id);
            topics(e);
        } else {
            e.array_len(flexible, Some(1));
            e.string(flexible, &self.group_id);
            if version >= 9 {
                e.nullable_string(flexible, None); // member_id: classic protocol
                e.i32(-1); // member_epoch
            }
            topics(e);
            e.tagged_fields(flexible);
        }
        if version >= 7 {
            e.bool(self.require_stable);
        }
        e.tagged_fields(flexible);
    }
}

impl OffsetFetchRequest {
    /// A request for `group_id`'s committed offsets of `partitions` (topic, partition),
    /// grouped by topic in name order, with `require_stable` set.
    pub fn for_partitions<'a>(
        group_id: String,
        partitions: impl IntoIterator<Item = (&'a str, i32)>,
    ) -> Self {
        let mut topics: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
        for (topic, partition) in partitions {
            topics.entry(topic).or_default().push(partition);
        }
        Self {
            group_id,
            topics: Some(
                topics
                    .into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchTopic {
                        name: name.to_owned(),
                        partition_indexes,
                    })
                    .collect(),
            ),
            require_stable: true,
        }
    }
}

/// The coordinator's answer to an [`OffsetFetchRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// Time the request was throttled by a quota, in milliseconds (v3+, 0 before).
    pub throttle_time_ms: i32,
    /// Group-level error code (v2+; the group's at v8+), 0 when none or before v2.
    pub error_code: i16,
    /// Per-topic results.
    pub topics: Vec<OffsetFetchResponseTopic>,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponseTopic {
    /// Topic name.
    pub name: String,
    /// Per-partition results.
    pub partitions: Vec<OffsetFetchResponsePartition>,
}

/// The committed offset of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponsePartition {
    /// Partition index.
    pub partition_index: i32,
    /// The committed offset, −1 when the group has none for the partition.
    pub committed_offset: i64,
    /// Leader epoch stored with the offset (v5+), −1 when unknown or before v5.
    pub committed_leader_epoch: i32,
    /// Metadata stored with the offset; `None` (or empty) when none.
    pub metadata: Option<String>,
    /// Partition-level error code, 0 when none.
    pub error_code: i16,
}

impl OffsetFetchResponse {
    /// The committed offset of `topic`/`partition`: `Ok(None)` when the group has none (or the
    /// response leaves the partition out), `Err(code)` for a partition-level error.
    pub fn committed(&self, topic: &str, partition: i32) -> Result<Option<i64>, i16> {
        Ok(self
            .committed_with_epoch(topic, partition)?
            .map(|(offset, _)| offset))
    }

    /// [`OffsetFetchResponse::committed`] with the leader epoch committed with the offset
    /// (KIP-320), `None` when unknown (−1, or before v5).
    pub fn committed_with_epoch(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Option<(i64, Option<i32>)>, i16> {
        let found = self
            .topics
            .iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition);
        match found {
            Some(p) if p.error_code != 0 => Err(p.error_code),
            Some(p) if p.committed_offset >= 0 => Ok(Some((
                p.committed_offset,
                (p.committed_leader_epoch >= 0).then_some(p.committed_leader_epoch),
            ))),
            _ => Ok(None),
        }
    }
}

impl WireResponse for OffsetFetchResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = OffsetFetchRequest::is_flexible(version);
        let throttle_time_ms = if version >= 3 { d.i32()? } else { 0 };
        if version <= 7 {
            let topics = decode_topics(d, version, flexible)?;
            let error_code = if version >= 2 { d.i16()? } else { 0 };
            d.tagged_fields(flexible)?;
            return Ok(Self {
                throttle_time_ms,
                error_code,
                topics,
            });
        }
        let mut groups = d.array_of(flexible, |d| {
            let _group_id = d.string(flexible)?;
            let topics = decode_topics(d, version, flexible)?;
            let error_code = d.i16()?;
            d.tagged_fields(flexible)?;
            Ok((error_code, topics))
        })?;
        d.tagged_fields(flexible)?;
        if groups.is_empty() {
            return Err(DecodeError::Malformed {
                what: "OffsetFetch response",
                reason: "no group in the response".to_owned(),
            });
        }
        let (error_code, topics) = groups.swap_remove(0);
        Ok(Self {
            throttle_time_ms,
            error_code,
            topics,
        })
    }
}

fn decode_topics(
    d: &mut Decoder<'_>,
    version: i16,
    flexible: bool,
) -> Result<Vec<OffsetFetchResponseTopic>, DecodeError> {
    d.array_of(flexible, |d| {
        let name = d.string(flexible)?.to_owned();
        let partitions = d.array_of(flexible, |d| {
            let p = OffsetFetchResponsePartition {
                partition_index: d.i32()?,
                committed_offset: d.i64()?,
                committed_leader_epoch: if version >= 5 { d.i32()? } else { -1 },
                metadata: d.nullable_string(flexible)?.map(str::to_owned),
                error_code: d.i16()?,
            };
            d.tagged_fields(flexible)?;
            Ok(p)
        })?;
        d.tagged_fields(flexible)?;
        Ok(OffsetFetchResponseTopic { name, partitions })
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        OffsetFetchRequest::MIN_VERSION..=OffsetFetchRequest::MAX_VERSION;

    fn encode_topics(e: &mut Encoder<'_>, r: &OffsetFetchResponse, version: i16, flexible: bool) {
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.name);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i32(p.partition_index);
                e.i64(p.committed_offset);
                if version >= 5 {
                    e.i32(p.committed_leader_epoch);
                }
                e.nullable_string(flexible, p.metadata.as_deref());
                e.i16(p.error_code);
                unknown_tag(e, flexible);
            }
            unknown_tag(e, flexible);
        }
    }

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    /// At v8+ a second group follows, which the normalized response ignores.
    fn encode_response(r: &OffsetFetchResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 6;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        if version >= 3 {
            e.i32(r.throttle_time_ms);
        }
        if version <= 7 {
            encode_topics(&mut e, r, version, flexible);
            if version >= 2 {
                e.i16(r.error_code);
            }
        } else {
            e.array_len(flexible, Some(2));
            e.string(flexible, "g");
            encode_topics(&mut e, r, version, flexible);
            e.i16(r.error_code);
            unknown_tag(&mut e, flexible);
            e.string(flexible, "other");
            e.array_len(flexible, Some(0));
            e.i16(16); // NOT_COORDINATOR
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> OffsetFetchResponse {
        OffsetFetchResponse {
            throttle_time_ms: if version >= 3 { 9 } else { 0 },
            error_code: if version >= 2 { 14 } else { 0 }, // COORDINATOR_LOAD_IN_PROGRESS
            topics: vec![OffsetFetchResponseTopic {
                name: "t".into(),
                partitions: vec![
                    OffsetFetchResponsePartition {
                        partition_index: 0,
                        committed_offset: 5,
                        committed_leader_epoch: if version >= 5 { 3 } else { -1 },
                        metadata: Some("m".into()),
                        error_code: 0,
                    },
                    OffsetFetchResponsePartition {
                        partition_index: 1,
                        committed_offset: -1,
                        committed_leader_epoch: -1,
                        metadata: None,
                        error_code: 0,
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
            let got = OffsetFetchResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn v8_response_without_groups_is_malformed() {
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(0);
        e.array_len(true, Some(0));
        e.tagged_fields(true);
        let buf = Bytes::from(buf);
        let err = OffsetFetchResponse::decode(&mut Decoder::new(&buf), 8).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<OffsetFetchResponse>(&buf, version);
        }
    }

    fn request(topics: bool) -> OffsetFetchRequest {
        OffsetFetchRequest {
            group_id: "g".into(),
            topics: topics.then(|| {
                vec![OffsetFetchTopic {
                    name: "t".into(),
                    partition_indexes: vec![0, 2],
                }]
            }),
            require_stable: true,
        }
    }

    fn encode_request(r: &OffsetFetchRequest, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 // name
            0, 0, 0, 2,                 // partition_indexes: 2
            0, 0, 0, 0,
            0, 0, 0, 2,
        ];
        assert_eq!(encode_request(&request(true), 1), expected);
        assert_eq!(encode_request(&request(true), 5), expected);
        // v1 has no null topics: "all" becomes an empty list.
        assert_eq!(
            encode_request(&request(false), 1),
            vec![0, 1, b'g', 0, 0, 0, 0]
        );
    }

    #[test]
    fn request_v2_sends_null_for_all_topics() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0xff, 0xff, 0xff, 0xff,     // topics: null
        ];
        assert_eq!(encode_request(&request(false), 2), expected);
    }

    #[test]
    fn request_v7_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            2,                          // topics: compact 1
            2, b't',                    // compact name
            3, 0, 0, 0, 0, 0, 0, 0, 2,  // partition_indexes: compact 2
            0,                          // topic tagged fields
            1,                          // require_stable
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(&request(true), 7), expected);
        // v6 has no require_stable.
        let mut v6 = expected.clone();
        v6.remove(v6.len() - 2);
        assert_eq!(encode_request(&request(true), 6), v6);
    }

    #[test]
    fn request_v8_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2,                          // groups: compact 1
            2, b'g',                    // compact group_id
            2,                          // topics: compact 1
            2, b't',                    // compact name
            3, 0, 0, 0, 0, 0, 0, 0, 2,  // partition_indexes: compact 2
            0,                          // topic tagged fields
            0,                          // group tagged fields
            1,                          // require_stable
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(&request(true), 8), expected);
    }

    #[test]
    fn request_v9_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2,                          // groups: compact 1
            2, b'g',                    // compact group_id
            0,                          // member_id: compact null
            0xff, 0xff, 0xff, 0xff,     // member_epoch -1
            0,                          // topics: compact null (all)
            0,                          // group tagged fields
            1,                          // require_stable
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(&request(false), 9), expected);
    }
}
