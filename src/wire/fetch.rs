//! Fetch (API key 1), versions 4–12: record batches, watermarks and aborted transactions.
//!
//! Version 4 is the oldest that Kafka 4.x still accepts (KIP-896) and the first with the
//! isolation level, the last stable offset and the aborted transactions; 5 adds the log start
//! offset, 7 fetch sessions (KIP-227) and the top-level error code, 9 the current leader epoch
//! (KIP-320), 11 the rack id and the preferred read replica (KIP-392). 12 is the first flexible
//! version: it adds the last fetched epoch to the request and, as tagged fields of each
//! partition in the response, the diverging epoch (tag 0), the current leader (tag 1) and the
//! snapshot id (tag 2, for KRaft followers; skipped here). 12 is also the last version that names
//! topics; 13+ identify them by topic id and are not spoken here.
//!
//! The consumer's replica id (−1) is written by the encoder and not stored.

use bytes::Bytes;

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// `isolation_level` that makes every record visible, including open and aborted transactions.
pub const READ_UNCOMMITTED: i8 = 0;
/// `isolation_level` that stops at the last stable offset and reports aborted transactions.
pub const READ_COMMITTED: i8 = 1;

/// Asks the partition leaders for records.
///
/// [`Default`] is a sessionless full fetch (session id 0, epoch −1) with the schema's defaults and
/// the consumer defaults of Java and librdkafka for the rest: wait at most 500 ms for 1 byte,
/// no overall byte limit beyond `i32::MAX`, read_uncommitted, no rack, no topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Longest time the broker may wait for `min_bytes` to accumulate, in milliseconds.
    pub max_wait_ms: i32,
    /// Bytes the broker waits to accumulate before answering.
    pub min_bytes: i32,
    /// Upper bound on the response size (KIP-74: the first batch is returned even if larger).
    pub max_bytes: i32,
    /// [`READ_UNCOMMITTED`] or [`READ_COMMITTED`].
    pub isolation_level: i8,
    /// Fetch session id (v7+); 0 when not in a session.
    pub session_id: i32,
    /// Fetch session epoch (v7+); −1 for a sessionless full fetch, 0 to create a session.
    pub session_epoch: i32,
    /// Topics and partitions to fetch.
    pub topics: Vec<FetchTopic>,
    /// Partitions to remove from an incremental fetch session (v7+).
    pub forgotten_topics: Vec<ForgottenTopic>,
    /// Rack of the consumer (v11+), for follower fetching (KIP-392); empty when unknown.
    pub rack_id: String,
}

impl Default for FetchRequest {
    fn default() -> Self {
        Self {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: i32::MAX,
            isolation_level: READ_UNCOMMITTED,
            session_id: 0,
            session_epoch: -1,
            topics: Vec::new(),
            forgotten_topics: Vec::new(),
            rack_id: String::new(),
        }
    }
}

/// The partitions to fetch from one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchTopic {
    /// Topic name.
    pub topic: String,
    /// Its partitions, processed by the broker in this order.
    pub partitions: Vec<FetchPartition>,
}

/// Where to fetch from in one partition.
///
/// [`Default`] is partition 0 at offset 0 with unknown epochs (−1), the consumer's log start
/// offset (−1) and the Java/librdkafka per-partition default of 1 MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Partition index.
    pub partition: i32,
    /// Leader epoch the consumer believes current (v9+), −1 when unknown (no fencing).
    pub current_leader_epoch: i32,
    /// Offset to fetch from.
    pub fetch_offset: i64,
    /// Epoch of the last fetched record (v12+), −1 when none; lets the broker detect divergence.
    pub last_fetched_epoch: i32,
    /// Log start offset of a follower (v5+); −1 for consumers.
    pub log_start_offset: i64,
    /// Upper bound on the bytes returned for this partition (KIP-74 applies).
    pub partition_max_bytes: i32,
}

impl Default for FetchPartition {
    fn default() -> Self {
        Self {
            partition: 0,
            current_leader_epoch: -1,
            fetch_offset: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: 1024 * 1024,
        }
    }
}

/// Partitions to drop from an incremental fetch session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgottenTopic {
    /// Topic name.
    pub topic: String,
    /// Partition indexes to forget.
    pub partitions: Vec<i32>,
}

impl WireRequest for FetchRequest {
    type Response = FetchResponse;
    const NAME: &'static str = "Fetch";
    const API_KEY: i16 = 1;
    const MIN_VERSION: i16 = 4;
    const MAX_VERSION: i16 = 12;
    const FIRST_FLEXIBLE_VERSION: i16 = 12;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.i32(-1); // replica_id: a consumer
        e.i32(self.max_wait_ms);
        e.i32(self.min_bytes);
        e.i32(self.max_bytes);
        e.i8(self.isolation_level);
        if version >= 7 {
            e.i32(self.session_id);
            e.i32(self.session_epoch);
        }
        e.array_len(flexible, Some(self.topics.len()));
        for topic in &self.topics {
            e.string(flexible, &topic.topic);
            e.array_len(flexible, Some(topic.partitions.len()));
            for p in &topic.partitions {
                e.i32(p.partition);
                if version >= 9 {
                    e.i32(p.current_leader_epoch);
                }
                e.i64(p.fetch_offset);
                if version >= 12 {
                    e.i32(p.last_fetched_epoch);
                }
                if version >= 5 {
                    e.i64(p.log_start_offset);
                }
                e.i32(p.partition_max_bytes);
                e.tagged_fields(flexible);
            }
            e.tagged_fields(flexible);
        }
        if version >= 7 {
            e.array_len(flexible, Some(self.forgotten_topics.len()));
            for topic in &self.forgotten_topics {
                e.string(flexible, &topic.topic);
                e.array_len(flexible, Some(topic.partitions.len()));
                topic.partitions.iter().for_each(|p| e.i32(*p));
                e.tagged_fields(flexible);
            }
        }
        if version >= 11 {
            e.string(flexible, &self.rack_id);
        }
        e.tagged_fields(flexible); // no ClusterId (tag 0)
    }
}

/// The broker's answer to a [`FetchRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Top-level error code (v7+, fetch session errors), 0 when none or before v7.
    pub error_code: i16,
    /// Fetch session id (v7+), 0 when not in a session or before v7.
    pub session_id: i32,
    /// Per-topic results.
    pub topics: Vec<FetchResponseTopic>,
}

/// The results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResponseTopic {
    /// Topic name.
    pub topic: String,
    /// Per-partition results.
    pub partitions: Vec<FetchResponsePartition>,
}

/// The result for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResponsePartition {
    /// Partition index.
    pub partition: i32,
    /// Partition-level error code, 0 when none.
    pub error_code: i16,
    /// High watermark: the offset after the last replicated record.
    pub high_watermark: i64,
    /// Last stable offset: below it every transaction is decided; −1 when unknown.
    pub last_stable_offset: i64,
    /// Log start offset (v5+), −1 before.
    pub log_start_offset: i64,
    /// Aborted transactions overlapping the returned data (read_committed only). `None` is the
    /// null array the broker sends for read_uncommitted; `Some(vec![])` is an empty list.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// Replica to fetch from next (v11+, KIP-392), −1 for the leader or before v11.
    pub preferred_read_replica: i32,
    /// The raw record batches, possibly ending in a partial batch; empty when the broker sent
    /// null. A zero-copy slice of the response frame.
    pub records: Bytes,
    /// The current leader (v12+ tagged field 1), when the broker sent it (e.g. with
    /// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH).
    pub current_leader: Option<LeaderIdAndEpoch>,
    /// Where the log diverged from `last_fetched_epoch` (v12+ tagged field 0), when it did.
    pub diverging_epoch: Option<EpochEndOffset>,
}

/// An aborted transaction: records of `producer_id` from `first_offset` up to its ABORT marker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// Producer id of the transaction.
    pub producer_id: i64,
    /// First offset of the transaction.
    pub first_offset: i64,
}

/// A partition leader and its epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// Broker id of the leader, −1 when unknown.
    pub leader_id: i32,
    /// Leader epoch, −1 when unknown.
    pub leader_epoch: i32,
}

/// The largest epoch (and its end offset) up to which the fetcher's log agrees with the leader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// Leader epoch.
    pub epoch: i32,
    /// End offset of that epoch.
    pub end_offset: i64,
}

impl WireResponse for FetchResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = FetchRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let (error_code, session_id) = if version >= 7 {
            (d.i16()?, d.i32()?)
        } else {
            (0, 0)
        };
        let topics = d.array_of(flexible, |d| {
            let topic = d.string(flexible)?.to_owned();
            let partitions = d.array_of(flexible, |d| decode_partition(d, version, flexible))?;
            d.tagged_fields(flexible)?;
            Ok(FetchResponseTopic { topic, partitions })
        })?;
        d.tagged_fields(flexible)?; // NodeEndpoints (tag 0) exists from v16 only: skipped
        Ok(Self {
            throttle_time_ms,
            error_code,
            session_id,
            topics,
        })
    }
}

fn decode_partition(
    d: &mut Decoder<'_>,
    version: i16,
    flexible: bool,
) -> Result<FetchResponsePartition, DecodeError> {
    let partition = d.i32()?;
    let error_code = d.i16()?;
    let high_watermark = d.i64()?;
    let last_stable_offset = d.i64()?;
    let log_start_offset = if version >= 5 { d.i64()? } else { -1 };
    let aborted_transactions = match d.array_len(flexible)? {
        None => None,
        Some(len) => {
            let mut list = Vec::with_capacity(
                super::codec::initial_capacity::<AbortedTransaction>(len, d.remaining()),
            );
            for _ in 0..len {
                list.push(AbortedTransaction {
                    producer_id: d.i64()?,
                    first_offset: d.i64()?,
                });
                d.tagged_fields(flexible)?;
            }
            Some(list)
        }
    };
    let preferred_read_replica = if version >= 11 { d.i32()? } else { -1 };
    let records = d.nullable_shared_bytes(flexible)?.unwrap_or_default();
    let mut out = FetchResponsePartition {
        partition,
        error_code,
        high_watermark,
        last_stable_offset,
        log_start_offset,
        aborted_transactions,
        preferred_read_replica,
        records,
        current_leader: None,
        diverging_epoch: None,
    };
    if flexible {
        let count = d.unsigned_varint()?;
        for _ in 0..count {
            let tag = d.unsigned_varint()?;
            let size = d.unsigned_varint()? as usize;
            let field = d.take_bytes(size, "tagged field")?;
            match tag {
                0 => {
                    out.diverging_epoch = Some(tagged_struct(&field, "DivergingEpoch", |f| {
                        Ok(EpochEndOffset {
                            epoch: f.i32()?,
                            end_offset: f.i64()?,
                        })
                    })?);
                }
                1 => {
                    out.current_leader = Some(tagged_struct(&field, "CurrentLeader", |f| {
                        Ok(LeaderIdAndEpoch {
                            leader_id: f.i32()?,
                            leader_epoch: f.i32()?,
                        })
                    })?);
                }
                _ => {} // 2 = SnapshotId (KRaft followers), or a tag from a newer broker
            }
        }
    }
    Ok(out)
}

/// Reads a struct carried as a tagged field: its fields, then its own tagged-field section, which
/// must end exactly where the field does. Offsets in errors are relative to the field.
fn tagged_struct<T>(
    field: &Bytes,
    what: &'static str,
    read: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut f = Decoder::new(field);
    let value = read(&mut f)?;
    f.tagged_fields(true)?;
    if f.remaining() != 0 {
        return Err(DecodeError::Malformed {
            what,
            reason: format!("{} bytes left in the tagged field", f.remaining()),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::assert_every_truncation_fails;

    const VERSIONS: std::ops::RangeInclusive<i16> =
        FetchRequest::MIN_VERSION..=FetchRequest::MAX_VERSION;

    /// A tagged field the broker might add that this crate does not know.
    const UNKNOWN_TAG: (u32, &[u8]) = (9, &[0xde, 0xad]);

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    /// At v12 each partition also carries a SnapshotId (tag 2) and [`UNKNOWN_TAG`], which the
    /// decoder must skip; the topic and top level carry [`UNKNOWN_TAG`] too.
    fn encode_response(r: &FetchResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 12;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        if version >= 7 {
            e.i16(r.error_code);
            e.i32(r.session_id);
        }
        e.array_len(flexible, Some(r.topics.len()));
        for t in &r.topics {
            e.string(flexible, &t.topic);
            e.array_len(flexible, Some(t.partitions.len()));
            for p in &t.partitions {
                e.i32(p.partition);
                e.i16(p.error_code);
                e.i64(p.high_watermark);
                e.i64(p.last_stable_offset);
                if version >= 5 {
                    e.i64(p.log_start_offset);
                }
                e.array_len(flexible, p.aborted_transactions.as_ref().map(Vec::len));
                for a in p.aborted_transactions.iter().flatten() {
                    e.i64(a.producer_id);
                    e.i64(a.first_offset);
                    e.tagged_fields(flexible);
                }
                if version >= 11 {
                    e.i32(p.preferred_read_replica);
                }
                let null_records = p.records.is_empty() && p.partition % 2 == 1;
                e.nullable_bytes(flexible, (!null_records).then_some(&p.records[..]));
                if flexible {
                    write_partition_tags(&mut e, p);
                }
            }
            write_unknown_tag(&mut e, flexible);
        }
        write_unknown_tag(&mut e, flexible);
        buf
    }

    fn write_partition_tags(e: &mut Encoder<'_>, p: &FetchResponsePartition) {
        let mut fields: Vec<(u32, Vec<u8>)> = Vec::new();
        if let Some(de) = p.diverging_epoch {
            let mut f = Vec::new();
            let mut fe = Encoder::new(&mut f);
            fe.i32(de.epoch);
            fe.i64(de.end_offset);
            fe.tagged_fields(true);
            fields.push((0, f));
        }
        if let Some(cl) = p.current_leader {
            let mut f = Vec::new();
            let mut fe = Encoder::new(&mut f);
            fe.i32(cl.leader_id);
            fe.i32(cl.leader_epoch);
            fe.tagged_fields(true);
            fields.push((1, f));
        }
        // SnapshotId: end_offset int64, epoch int32, its own empty tagged fields.
        let mut snapshot = Vec::new();
        let mut se = Encoder::new(&mut snapshot);
        se.i64(77);
        se.i32(3);
        se.tagged_fields(true);
        fields.push((2, snapshot));
        fields.push((UNKNOWN_TAG.0, UNKNOWN_TAG.1.to_vec()));
        e.unsigned_varint(fields.len() as u32);
        for (tag, bytes) in fields {
            write_tagged_field(e, tag, &bytes);
        }
    }

    /// Writes one tagged field: tag, size (not size + 1), data.
    fn write_tagged_field(e: &mut Encoder<'_>, tag: u32, data: &[u8]) {
        e.unsigned_varint(tag);
        e.unsigned_varint(data.len() as u32);
        data.iter().for_each(|b| e.i8(*b as i8));
    }

    fn write_unknown_tag(e: &mut Encoder<'_>, flexible: bool) {
        if flexible {
            e.unsigned_varint(1);
            write_tagged_field(e, UNKNOWN_TAG.0, UNKNOWN_TAG.1);
        }
    }

    /// Three partitions: data with an aborted-transaction list, an error with null records and
    /// a null list (odd index → null records), and an empty list with empty non-null records.
    fn sample(version: i16) -> FetchResponse {
        let v5 = |x: i64| if version >= 5 { x } else { -1 };
        let v12 = version >= 12;
        FetchResponse {
            throttle_time_ms: 7,
            error_code: 0,
            session_id: if version >= 7 { 1234 } else { 0 },
            topics: vec![FetchResponseTopic {
                topic: "t".into(),
                partitions: vec![
                    FetchResponsePartition {
                        partition: 0,
                        error_code: 0,
                        high_watermark: 10,
                        last_stable_offset: 8,
                        log_start_offset: v5(2),
                        aborted_transactions: Some(vec![
                            AbortedTransaction {
                                producer_id: 42,
                                first_offset: 3,
                            },
                            AbortedTransaction {
                                producer_id: 43,
                                first_offset: 5,
                            },
                        ]),
                        preferred_read_replica: if version >= 11 { 2 } else { -1 },
                        records: Bytes::from_static(b"\0\0\0\0\0\0\0\x02record-batches"),
                        current_leader: v12.then_some(LeaderIdAndEpoch {
                            leader_id: 1,
                            leader_epoch: 5,
                        }),
                        diverging_epoch: v12.then_some(EpochEndOffset {
                            epoch: 4,
                            end_offset: 6,
                        }),
                    },
                    FetchResponsePartition {
                        partition: 1,
                        error_code: 6, // NOT_LEADER_OR_FOLLOWER
                        high_watermark: -1,
                        last_stable_offset: -1,
                        log_start_offset: -1,
                        aborted_transactions: None,
                        preferred_read_replica: -1,
                        records: Bytes::new(),
                        current_leader: v12.then_some(LeaderIdAndEpoch {
                            leader_id: 3,
                            leader_epoch: 9,
                        }),
                        diverging_epoch: None,
                    },
                    FetchResponsePartition {
                        partition: 2,
                        error_code: 0,
                        high_watermark: 0,
                        last_stable_offset: 0,
                        log_start_offset: v5(0),
                        aborted_transactions: Some(vec![]),
                        preferred_read_replica: -1,
                        records: Bytes::new(),
                        current_leader: None,
                        diverging_epoch: None,
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
            let got = FetchResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn null_and_empty_aborted_transactions_and_null_records_are_distinguished() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            let got = FetchResponse::decode(&mut Decoder::new(&buf), version).unwrap();
            let parts = &got.topics[0].partitions;
            assert_eq!(
                parts[0].aborted_transactions.as_ref().map(Vec::len),
                Some(2)
            );
            assert_eq!(parts[1].aborted_transactions, None, "null array");
            assert_eq!(parts[2].aborted_transactions, Some(vec![]), "empty array");
            assert!(parts[1].records.is_empty(), "null records read as empty");
            assert!(parts[2].records.is_empty());
        }
    }

    #[test]
    fn records_are_a_zero_copy_slice_of_the_response() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            let got = FetchResponse::decode(&mut Decoder::new(&buf), version).unwrap();
            let records = &got.topics[0].partitions[0].records;
            let input = buf.as_ptr_range();
            let slice = records.as_ptr_range();
            assert!(
                input.start <= slice.start && slice.end <= input.end,
                "version {version}: records were copied"
            );
            assert_eq!(&records[..8], &[0, 0, 0, 0, 0, 0, 0, 2]);
        }
    }

    #[test]
    fn v12_tagged_fields_are_parsed_and_unknown_ones_skipped() {
        let buf = Bytes::from(encode_response(&sample(12), 12));
        let got = FetchResponse::decode(&mut Decoder::new(&buf), 12).unwrap();
        let p = &got.topics[0].partitions[0];
        assert_eq!(
            p.diverging_epoch,
            Some(EpochEndOffset {
                epoch: 4,
                end_offset: 6
            })
        );
        assert_eq!(
            p.current_leader,
            Some(LeaderIdAndEpoch {
                leader_id: 1,
                leader_epoch: 5
            })
        );
        // Partition 2 has only SnapshotId and the unknown tag: both skipped.
        assert_eq!(got.topics[0].partitions[2].current_leader, None);
        assert_eq!(got.topics[0].partitions[2].diverging_epoch, None);
    }

    #[test]
    fn tagged_struct_with_trailing_bytes_is_malformed() {
        // v12: one topic, one partition whose CurrentLeader has a byte after its tagged fields.
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(0);
        e.i16(0);
        e.i32(0);
        e.array_len(true, Some(1));
        e.string(true, "t");
        e.array_len(true, Some(1));
        e.i32(0);
        e.i16(0);
        e.i64(0);
        e.i64(0);
        e.i64(0);
        e.array_len(true, None);
        e.i32(-1);
        e.nullable_bytes(true, None);
        e.unsigned_varint(1); // one tagged field: CurrentLeader, one byte too long
        write_tagged_field(&mut e, 1, &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0xff]);
        e.tagged_fields(true);
        e.tagged_fields(true);
        let buf = Bytes::from(buf);
        let err = FetchResponse::decode(&mut Decoder::new(&buf), 12).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<FetchResponse>(&buf, version);
        }
    }

    fn request() -> FetchRequest {
        FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 0x0100_0000,
            isolation_level: READ_COMMITTED,
            session_id: 0,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 2,
                    current_leader_epoch: 5,
                    fetch_offset: 0x10,
                    last_fetched_epoch: 4,
                    log_start_offset: -1,
                    partition_max_bytes: 0x0010_0000,
                }],
            }],
            forgotten_topics: vec![ForgottenTopic {
                topic: "f".into(),
                partitions: vec![7],
            }],
            rack_id: "r".into(),
        }
    }

    fn encode_request(r: &FetchRequest, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0x01, 0xf4,       // max_wait_ms 500
            0, 0, 0, 1,             // min_bytes
            0x01, 0, 0, 0,          // max_bytes
            1,                      // isolation_level
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // topic
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 2,             // partition
            0, 0, 0, 0, 0, 0, 0, 0x10, // fetch_offset
            0, 0x10, 0, 0,          // partition_max_bytes
        ];
        assert_eq!(encode_request(&request(), 4), expected);
    }

    #[test]
    fn request_v11_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0x01, 0xf4,       // max_wait_ms 500
            0, 0, 0, 1,             // min_bytes
            0x01, 0, 0, 0,          // max_bytes
            1,                      // isolation_level
            0, 0, 0, 0,             // session_id
            0xff, 0xff, 0xff, 0xff, // session_epoch -1
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // topic
            0, 0, 0, 1,             // partitions: 1
            0, 0, 0, 2,             // partition
            0, 0, 0, 5,             // current_leader_epoch
            0, 0, 0, 0, 0, 0, 0, 0x10, // fetch_offset
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            0, 0x10, 0, 0,          // partition_max_bytes
            0, 0, 0, 1,             // forgotten topics: 1
            0, 1, b'f',             // topic
            0, 0, 0, 1, 0, 0, 0, 7, // partitions [7]
            0, 1, b'r',             // rack_id
        ];
        assert_eq!(encode_request(&request(), 11), expected);
    }

    #[test]
    fn request_v12_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff, 0xff, 0xff, // replica_id -1
            0, 0, 0x01, 0xf4,       // max_wait_ms 500
            0, 0, 0, 1,             // min_bytes
            0x01, 0, 0, 0,          // max_bytes
            1,                      // isolation_level
            0, 0, 0, 0,             // session_id
            0xff, 0xff, 0xff, 0xff, // session_epoch -1
            2,                      // topics: compact 1
            2, b't',                // compact topic
            2,                      // partitions: compact 1
            0, 0, 0, 2,             // partition
            0, 0, 0, 5,             // current_leader_epoch
            0, 0, 0, 0, 0, 0, 0, 0x10, // fetch_offset
            0, 0, 0, 4,             // last_fetched_epoch
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            0, 0x10, 0, 0,          // partition_max_bytes
            0,                      // partition tagged fields
            0,                      // topic tagged fields
            2,                      // forgotten topics: compact 1
            2, b'f',                // compact topic
            2, 0, 0, 0, 7,          // partitions [7]
            0,                      // forgotten topic tagged fields
            2, b'r',                // compact rack_id
            0,                      // top-level tagged fields (no ClusterId)
        ];
        assert_eq!(encode_request(&request(), 12), expected);
    }

    #[test]
    fn default_request_is_a_sessionless_consumer_fetch() {
        let r = FetchRequest::default();
        assert_eq!((r.session_id, r.session_epoch), (0, -1));
        assert_eq!(r.isolation_level, READ_UNCOMMITTED);
        let p = FetchPartition::default();
        assert_eq!(
            (
                p.current_leader_epoch,
                p.last_fetched_epoch,
                p.log_start_offset
            ),
            (-1, -1, -1)
        );
    }
}
