//! Test-only encoder of v2 record batches, with every codec Kafka producers use and knobs to
//! break every rule; the record, codec and framing code is the production encoder's
//! ([`super::encode`]).

use super::{Compression, encode};
use crate::wire::Encoder;

/// How the builder compresses the records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Gzip,
    /// A raw snappy block (librdkafka's default).
    SnappyRaw,
    /// The Java client's xerial framing, split into chunks of at most this many input bytes.
    SnappyXerial(usize),
    Lz4,
    Zstd,
}

impl Codec {
    fn id(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::SnappyRaw | Self::SnappyXerial(_) => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// Compresses `raw` the way a producer would.
    pub(crate) fn compress(self, raw: &[u8]) -> Vec<u8> {
        let codec = match self {
            Self::None => Compression::None,
            Self::Gzip => Compression::Gzip,
            Self::SnappyRaw => Compression::Snappy,
            Self::SnappyXerial(chunk) => {
                let mut out = b"\x82SNAPPY\x00".to_vec();
                out.extend_from_slice(&1i32.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
                for piece in raw.chunks(chunk.max(1)) {
                    let block = encode::compress(Compression::Snappy, piece).unwrap();
                    out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                return out;
            }
            Self::Lz4 => Compression::Lz4,
            Self::Zstd => Compression::Zstd,
        };
        encode::compress(codec, raw).unwrap()
    }
}

/// One record to encode; deltas are relative to the batch's base offset and timestamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TestRecord {
    pub offset_delta: i32,
    pub timestamp_delta: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl TestRecord {
    /// A record with a key and value at `offset_delta`, timestamp delta `offset_delta * 10`.
    pub(crate) fn kv(offset_delta: i32, key: &[u8], value: &[u8]) -> Self {
        Self {
            offset_delta,
            timestamp_delta: i64::from(offset_delta) * 10,
            key: Some(key.to_vec()),
            value: Some(value.to_vec()),
            headers: Vec::new(),
        }
    }

    /// Appends the record's wire form (length-prefixed) to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        encode::write_record(
            out,
            self.timestamp_delta,
            self.offset_delta,
            self.key.as_deref(),
            self.value.as_deref(),
            self.headers
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref())),
        )
        .unwrap();
    }
}

/// Writes a zig-zag varlong.
pub(crate) fn varlong(out: &mut Vec<u8>, v: i64) {
    encode::varlong(out, v);
}

/// A v2 batch under construction. Defaults: base offset 0, CreateTime, no codec, not
/// transactional, producer id -1, `last_offset_delta` = last record's offset delta.
#[derive(Debug, Clone)]
pub(crate) struct BatchBuilder {
    pub base_offset: i64,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub codec: Codec,
    pub log_append_time: bool,
    pub transactional: bool,
    pub control: bool,
    /// Extra attribute bits OR-ed in (e.g. an unknown codec id).
    pub extra_attributes: i16,
    pub last_offset_delta: Option<i32>,
    pub base_timestamp: i64,
    pub max_timestamp: Option<i64>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// Overrides the record count written in the header.
    pub record_count: Option<i32>,
    /// Replaces the encoded records section (before compression) with these bytes.
    pub raw_records: Option<Vec<u8>>,
    /// Replaces the records section after compression (e.g. a fixture from another encoder).
    pub section: Option<Vec<u8>>,
    pub records: Vec<TestRecord>,
}

impl BatchBuilder {
    /// An empty batch at `base_offset`.
    pub(crate) fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            partition_leader_epoch: 7,
            magic: 2,
            codec: Codec::None,
            log_append_time: false,
            transactional: false,
            control: false,
            extra_attributes: 0,
            last_offset_delta: None,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: None,
            raw_records: None,
            section: None,
            records: Vec::new(),
        }
    }

    /// Adds records.
    pub(crate) fn with(mut self, records: impl IntoIterator<Item = TestRecord>) -> Self {
        self.records.extend(records);
        self
    }

    /// Sets the codec.
    pub(crate) fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// A control batch holding one marker record (type 0 = ABORT, 1 = COMMIT).
    pub(crate) fn control_marker(base_offset: i64, kind: i16) -> Self {
        let mut key = 0i16.to_be_bytes().to_vec();
        key.extend_from_slice(&kind.to_be_bytes());
        let mut value = 0i16.to_be_bytes().to_vec();
        value.extend_from_slice(&5i32.to_be_bytes()); // coordinator epoch
        let mut b = Self::new(base_offset).with([TestRecord {
            key: Some(key),
            value: Some(value),
            ..TestRecord::default()
        }]);
        b.control = true;
        b.transactional = true;
        b.producer_id = 42;
        b.producer_epoch = 1;
        b
    }

    fn attributes(&self) -> i16 {
        let mut a = self.codec.id() | self.extra_attributes;
        if self.log_append_time {
            a |= 0x08;
        }
        if self.transactional {
            a |= 0x10;
        }
        if self.control {
            a |= 0x20;
        }
        a
    }

    /// Encodes the batch, CRC included.
    pub(crate) fn build(&self) -> Vec<u8> {
        let raw = self.raw_records.clone().unwrap_or_else(|| {
            let mut raw = Vec::new();
            for r in &self.records {
                r.encode(&mut raw);
            }
            raw
        });
        let section = self
            .section
            .clone()
            .unwrap_or_else(|| self.codec.compress(&raw));
        let last_offset_delta = self
            .last_offset_delta
            .unwrap_or_else(|| self.records.last().map_or(0, |r| r.offset_delta));
        let max_timestamp = self.max_timestamp.unwrap_or_else(|| {
            self.records
                .iter()
                .map(|r| self.base_timestamp + r.timestamp_delta)
                .max()
                .unwrap_or(self.base_timestamp)
        });

        let mut after_crc = Vec::new();
        let mut e = Encoder::new(&mut after_crc);
        e.i16(self.attributes());
        e.i32(last_offset_delta);
        e.i64(self.base_timestamp);
        e.i64(max_timestamp);
        e.i64(self.producer_id);
        e.i16(self.producer_epoch);
        e.i32(self.base_sequence);
        e.i32(self.record_count.unwrap_or(self.records.len() as i32));
        after_crc.extend_from_slice(&section);

        encode::frame_batch(
            self.base_offset,
            self.partition_leader_epoch,
            self.magic,
            &after_crc,
        )
        .unwrap()
    }
}

/// Rewrites the CRC of the batch at the start of `batch` after a test edited it.
pub(crate) fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}
