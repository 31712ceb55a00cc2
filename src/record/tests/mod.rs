//! Unit tests of record batch decoding, one file per concern.

mod codecs;
mod control;
mod fuzz_seeds;
mod java_fixtures;
mod props;
mod reader;
mod records;
mod varints;

use bytes::Bytes;

use super::builder::{BatchBuilder, TestRecord};
use super::{BatchReader, Record, RecordBatch, RecordError};

/// Limit used where the test is not about the limit.
const LIMIT: usize = 64 << 20;

/// Reads every item of `data`.
fn read_all(data: Vec<u8>) -> Vec<Result<RecordBatch, RecordError>> {
    BatchReader::new(Bytes::from(data)).collect()
}

/// Reads exactly one valid batch from `data`.
fn single(data: Vec<u8>) -> RecordBatch {
    let mut items = read_all(data);
    assert_eq!(items.len(), 1, "{items:?}");
    items.pop().unwrap().unwrap()
}

/// Encodes `b` and decodes its records.
fn decode(b: &BatchBuilder) -> Result<Vec<Record>, RecordError> {
    single(b.build()).records(LIMIT)
}

/// Three records: plain, null key + empty value, null value with headers.
fn sample_records() -> Vec<TestRecord> {
    vec![
        TestRecord::kv(0, b"k0", b"v0"),
        TestRecord {
            offset_delta: 1,
            timestamp_delta: 5,
            key: None,
            value: Some(Vec::new()),
            headers: Vec::new(),
        },
        TestRecord {
            offset_delta: 2,
            timestamp_delta: -3,
            key: Some(Vec::new()),
            value: None,
            headers: vec![
                (b"dup".to_vec(), Some(b"first".to_vec())),
                (b"other".to_vec(), None),
                (b"dup".to_vec(), Some(b"second".to_vec())),
                (b"".to_vec(), Some(Vec::new())),
            ],
        },
    ]
}

/// Asserts that `decoded` carries exactly what `expected` encoded (offsets and CreateTime
/// timestamps relative to `base_offset`/`base_timestamp`).
fn assert_same(decoded: &[Record], expected: &[TestRecord], base_offset: i64, base_timestamp: i64) {
    assert_eq!(decoded.len(), expected.len());
    for (d, e) in decoded.iter().zip(expected) {
        assert_eq!(d.offset, base_offset + i64::from(e.offset_delta));
        assert_eq!(d.timestamp, base_timestamp + e.timestamp_delta);
        assert_eq!(d.key.as_deref(), e.key.as_deref());
        assert_eq!(d.value.as_deref(), e.value.as_deref());
        let headers: Vec<_> = d
            .headers
            .iter()
            .map(|h| {
                (
                    h.key.as_bytes().to_vec(),
                    h.value.as_deref().map(<[u8]>::to_vec),
                )
            })
            .collect();
        assert_eq!(headers, e.headers);
    }
}
