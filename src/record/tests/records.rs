//! Record decoding: round trips, zero copy, timestamps, and malformed records.

use bytes::Bytes;

use super::*;
use crate::record::Header;
use crate::record::builder::varlong;
use crate::wire::{DecodeError, Encoder};

#[test]
fn keys_values_and_headers_round_trip_with_nulls_empties_and_duplicate_header_keys_in_order() {
    let b = BatchBuilder::new(500).with(sample_records());
    let records = decode(&b).unwrap();
    assert_same(&records, &sample_records(), 500, b.base_timestamp);
    assert_eq!(records[1].key, None);
    assert_eq!(records[1].value, Some(Bytes::new()));
    assert_eq!(records[2].key, Some(Bytes::new()));
    assert_eq!(records[2].value, None);
    assert_eq!(
        records[2].headers,
        [
            Header {
                key: "dup".into(),
                value: Some(Bytes::from_static(b"first"))
            },
            Header {
                key: "other".into(),
                value: None
            },
            Header {
                key: "dup".into(),
                value: Some(Bytes::from_static(b"second"))
            },
            Header {
                key: String::new(),
                value: Some(Bytes::new())
            },
        ]
    );
}

#[test]
fn uncompressed_keys_values_and_header_values_are_slices_of_the_input() {
    let data = Bytes::from(BatchBuilder::new(0).with(sample_records()).build());
    let range = data.as_ptr() as usize..data.as_ptr() as usize + data.len();
    let batch = BatchReader::new(data.clone()).next().unwrap().unwrap();
    let records = batch.records(LIMIT).unwrap();
    let inside = |b: &Bytes| b.is_empty() || range.contains(&(b.as_ptr() as usize));
    assert!(inside(records[0].key.as_ref().unwrap()));
    assert!(inside(records[0].value.as_ref().unwrap()));
    assert!(inside(records[2].headers[0].value.as_ref().unwrap()));
}

#[test]
fn offsets_are_base_offset_plus_delta() {
    let b = BatchBuilder::new(1 << 40).with([
        TestRecord::kv(0, b"a", b"1"),
        TestRecord::kv(3, b"b", b"2"),
        TestRecord::kv(7, b"c", b"3"),
    ]);
    let offsets: Vec<i64> = decode(&b).unwrap().iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [1 << 40, (1 << 40) + 3, (1 << 40) + 7]);
}

#[test]
fn create_time_timestamps_are_base_timestamp_plus_delta() {
    let mut b = BatchBuilder::new(0).with(sample_records());
    b.base_timestamp = 1_000;
    b.max_timestamp = Some(9_999);
    let ts: Vec<i64> = decode(&b).unwrap().iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, [1_000, 1_005, 997]);
}

#[test]
fn log_append_time_gives_every_record_the_max_timestamp() {
    let mut b = BatchBuilder::new(0).with(sample_records());
    b.log_append_time = true;
    b.max_timestamp = Some(1_234_567);
    let ts: Vec<i64> = decode(&b).unwrap().iter().map(|r| r.timestamp).collect();
    assert_eq!(ts, [1_234_567; 3]);
}

#[test]
fn an_empty_non_control_batch_has_no_records() {
    assert!(decode(&BatchBuilder::new(4)).unwrap().is_empty());
}

fn assert_malformed(b: &BatchBuilder) -> DecodeError {
    match decode(b) {
        Err(RecordError::Malformed { base_offset, error }) => {
            assert_eq!(base_offset, b.base_offset);
            error
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn fewer_records_than_the_header_announces_are_malformed() {
    let mut b = BatchBuilder::new(11).with(sample_records());
    b.record_count = Some(4);
    assert_malformed(&b);
}

#[test]
fn more_records_than_the_header_announces_are_malformed() {
    let mut b = BatchBuilder::new(11).with(sample_records());
    b.record_count = Some(2);
    assert_malformed(&b);
}

#[test]
fn a_huge_record_count_fails_without_allocating_for_it() {
    let mut b = BatchBuilder::new(11).with(sample_records());
    b.record_count = Some(i32::MAX);
    assert_malformed(&b);
}

/// A single record whose body is `body` (the length prefix is computed).
fn with_body(body: Vec<u8>) -> BatchBuilder {
    let mut raw = Vec::new();
    Encoder::new(&mut raw).varint(body.len() as i32);
    raw.extend_from_slice(&body);
    let mut b = BatchBuilder::new(21).with([TestRecord::default()]);
    b.raw_records = Some(raw);
    b
}

/// attributes, timestamp delta 0, offset delta 0.
fn body_prefix() -> Vec<u8> {
    let mut body = vec![0];
    varlong(&mut body, 0);
    Encoder::new(&mut body).varint(0);
    body
}

#[test]
fn a_record_with_bytes_left_over_inside_its_length_is_malformed() {
    let mut rec = Vec::new();
    TestRecord::kv(0, b"k", b"v").encode(&mut rec);
    let mut body = rec[1..].to_vec(); // strip the one-byte length
    body.push(0xaa);
    assert!(matches!(
        assert_malformed(&with_body(body)),
        DecodeError::Malformed { what: "record", .. }
    ));
}

#[test]
fn a_record_whose_fields_run_past_its_length_is_malformed() {
    let mut rec = Vec::new();
    TestRecord::kv(0, b"k", b"value").encode(&mut rec);
    let body = rec[1..rec.len() - 2].to_vec();
    let mut b = with_body(body);
    // Keep the cut-off bytes in the section so only the record length is wrong.
    b.raw_records
        .as_mut()
        .unwrap()
        .extend_from_slice(&rec[rec.len() - 2..]);
    assert_malformed(&b);
}

#[test]
fn a_negative_record_length_is_malformed() {
    let mut raw = Vec::new();
    Encoder::new(&mut raw).varint(-5);
    let mut b = BatchBuilder::new(21).with([TestRecord::default()]);
    b.raw_records = Some(raw);
    assert!(matches!(
        assert_malformed(&b),
        DecodeError::InvalidLength {
            what: "record",
            len: -5,
            ..
        }
    ));
}

#[test]
fn header_keys_must_be_utf8() {
    let r = TestRecord {
        headers: vec![(vec![0xff, 0xfe], None)],
        ..TestRecord::default()
    };
    let b = BatchBuilder::new(2).with([r]);
    assert!(matches!(
        assert_malformed(&b),
        DecodeError::InvalidUtf8 {
            what: "header key",
            ..
        }
    ));
}

#[test]
fn null_header_keys_negative_header_counts_and_lengths_below_minus_one_are_malformed() {
    let mut e = Vec::new();
    let mut enc = Encoder::new(&mut e);
    enc.varint(-1); // key
    enc.varint(-1); // value
    enc.varint(1); // one header
    enc.varint(-1); // null header key
    enc.varint(-1);
    let body = [body_prefix(), e].concat();
    assert!(matches!(
        assert_malformed(&with_body(body)),
        DecodeError::InvalidLength {
            what: "header key",
            ..
        }
    ));

    let mut e = Vec::new();
    let mut enc = Encoder::new(&mut e);
    enc.varint(-1);
    enc.varint(-1);
    enc.varint(-1); // header count
    let body = [body_prefix(), e].concat();
    assert!(matches!(
        assert_malformed(&with_body(body)),
        DecodeError::InvalidLength {
            what: "record header count",
            ..
        }
    ));

    let mut e = Vec::new();
    let mut enc = Encoder::new(&mut e);
    enc.varint(-2); // key length
    let body = [body_prefix(), e].concat();
    assert!(matches!(
        assert_malformed(&with_body(body)),
        DecodeError::InvalidLength {
            what: "record key",
            len: -2,
            ..
        }
    ));
}

#[test]
fn a_huge_header_count_fails_without_allocating_for_it() {
    let mut e = Vec::new();
    let mut enc = Encoder::new(&mut e);
    enc.varint(-1);
    enc.varint(-1);
    enc.varint(i32::MAX);
    let body = [body_prefix(), e].concat();
    assert_malformed(&with_body(body));
}

#[test]
fn offset_and_timestamp_overflow_is_malformed() {
    let mut b = BatchBuilder::new(i64::MAX - 1).with([TestRecord::kv(1, b"k", b"v")]);
    b.last_offset_delta = Some(0);
    b.records[0].offset_delta = 5;
    assert_malformed(&b);

    let mut b = BatchBuilder::new(0).with([TestRecord::kv(0, b"k", b"v")]);
    b.base_timestamp = i64::MAX;
    b.max_timestamp = Some(0);
    b.records[0].timestamp_delta = 1;
    assert_malformed(&b);
}
