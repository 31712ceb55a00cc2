//! The record decoder's own varint reader (one- and two-byte fast paths, longer forms out of line)
//! against the encoder, at the edges and for arbitrary values, and records whose lengths
//! need multi-byte varints.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::record::builder::varlong;
use crate::record::records::Cursor;
use crate::wire::{DecodeError, Encoder};

fn encoded_varint(v: i32) -> Vec<u8> {
    let mut buf = Vec::new();
    Encoder::new(&mut buf).varint(v);
    buf
}

fn encoded_varlong(v: i64) -> Vec<u8> {
    let mut buf = Vec::new();
    varlong(&mut buf, v);
    buf
}

/// Decodes `buf` as one varint, which must consume all of it.
fn read_varint(buf: &[u8]) -> Result<i32, DecodeError> {
    let mut c = Cursor::new(buf);
    let v = c.varint("varint")?;
    assert_eq!(c.remaining(), 0, "{buf:?}");
    Ok(v)
}

fn read_varlong(buf: &[u8]) -> Result<i64, DecodeError> {
    let mut c = Cursor::new(buf);
    let v = c.varlong()?;
    assert_eq!(c.remaining(), 0, "{buf:?}");
    Ok(v)
}

#[test]
fn varints_at_the_one_byte_boundary_and_the_type_limits_round_trip() {
    // 63 and -64 are the last one-byte values (zig-zag 126, 127), 64 and -65 the first two-byte.
    for v in [
        0,
        1,
        -1,
        63,
        -64,
        64,
        -65,
        8191,
        -8192,
        8192,
        i32::MAX,
        i32::MIN,
    ] {
        let buf = encoded_varint(v);
        assert_eq!(buf.len() == 1, (-64..=63).contains(&v), "{v}");
        assert_eq!(read_varint(&buf).unwrap(), v);
    }
    for v in [
        0,
        1,
        -1,
        63,
        -64,
        64,
        -65,
        i64::from(i32::MAX) + 1,
        i64::MAX,
        i64::MIN,
    ] {
        assert_eq!(read_varlong(&encoded_varlong(v)).unwrap(), v);
    }
}

#[test]
fn overlong_and_truncated_varints_are_errors() {
    // Five bytes whose last one sets bits beyond 32.
    assert!(matches!(
        read_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
        Err(DecodeError::VarintOverflow { at: 0 })
    ));
    assert!(matches!(
        read_varlong(&[0xff; 11]),
        Err(DecodeError::VarintOverflow { at: 0 })
    ));
    assert!(matches!(
        read_varlong(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
        Err(DecodeError::VarintOverflow { at: 0 })
    ));
    for cut in [&[][..], &[0x80], &[0xff, 0xff]] {
        assert!(matches!(
            Cursor::new(cut).varint("varint"),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(matches!(
            Cursor::new(cut).varlong(),
            Err(DecodeError::Truncated { .. })
        ));
    }
}

proptest! {
    #[test]
    fn every_varint_and_varlong_round_trips(v in any::<i32>(), w in any::<i64>()) {
        prop_assert_eq!(read_varint(&encoded_varint(v)).unwrap(), v);
        prop_assert_eq!(read_varlong(&encoded_varlong(w)).unwrap(), w);
    }

    #[test]
    fn records_with_multi_byte_lengths_deltas_and_headers_round_trip(
        records in vec(
            (
                0i32..1 << 20,
                any::<i64>().prop_map(|t| t >> 2),
                proptest::option::of(vec(any::<u8>(), 0..400)),
                proptest::option::of(vec(any::<u8>(), 0..3000)),
                vec(("[a-z]{0,200}".prop_map(String::into_bytes), proptest::option::of(vec(any::<u8>(), 0..200))), 0..3),
            ),
            0..8,
        ),
    ) {
        let records: Vec<TestRecord> = records
            .into_iter()
            .map(|(offset_delta, timestamp_delta, key, value, headers)| TestRecord {
                offset_delta,
                timestamp_delta,
                key,
                value,
                headers,
            })
            .collect();
        let mut b = BatchBuilder::new(7).with(records.clone());
        b.base_timestamp = 0;
        b.last_offset_delta = Some(records.iter().map(|r| r.offset_delta).max().unwrap_or(0));
        let decoded = single(b.build()).records(LIMIT).unwrap();
        assert_same(&decoded, &records, 7, 0);
        prop_assert!(decoded.iter().all(|r| r.headers.capacity() == r.headers.len()));
    }
}

#[test]
fn a_record_without_headers_allocates_no_header_storage() {
    let data = Bytes::from(
        BatchBuilder::new(0)
            .with((0..3).map(|i| TestRecord::kv(i, b"k", b"v")))
            .build(),
    );
    let records = BatchReader::new(data)
        .next()
        .unwrap()
        .unwrap()
        .records(LIMIT)
        .unwrap();
    assert!(records.iter().all(|r| r.headers.capacity() == 0));
}
