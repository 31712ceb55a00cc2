//! BatchReader: framing, CRC, magic, partial trailing batches, header fields.

use bytes::Bytes;

use super::*;
use crate::record::builder::{Codec, fix_crc};
use crate::record::{BatchReader, Compression, TimestampType};
use crate::wire::DecodeError;

fn three_batches() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        BatchBuilder::new(100).with(sample_records()).build(),
        BatchBuilder::new(103)
            .with([TestRecord::kv(0, b"a", b"b")])
            .build(),
        BatchBuilder::new(104)
            .with([TestRecord::kv(0, b"c", b"d"), TestRecord::kv(1, b"e", b"f")])
            .build(),
    )
}

#[test]
fn consecutive_batches_are_read_in_order() {
    let (a, b, c) = three_batches();
    let items = read_all([a, b, c].concat());
    let bases: Vec<i64> = items
        .iter()
        .map(|i| i.as_ref().unwrap().header.base_offset)
        .collect();
    assert_eq!(bases, [100, 103, 104]);
}

#[test]
fn empty_input_yields_nothing() {
    assert!(read_all(Vec::new()).is_empty());
}

#[test]
fn crc_mismatch_anywhere_after_the_crc_field_is_reported_with_the_base_offset() {
    let (a, b, _) = three_batches();
    for i in 21..a.len() {
        let mut corrupt = a.clone();
        corrupt[i] ^= 0x01;
        let mut reader = BatchReader::new(Bytes::from([corrupt, b.clone()].concat()));
        match reader.next() {
            Some(Err(RecordError::Crc {
                base_offset,
                expected,
                computed,
            })) => {
                assert_eq!(base_offset, 100, "byte {i}");
                assert_ne!(expected, computed);
            }
            other => panic!("byte {i}: expected a CRC error, got {other:?}"),
        }
        // Nothing after a corrupt batch, even the valid one that follows, ever again.
        for _ in 0..3 {
            assert!(reader.next().is_none(), "byte {i}");
        }
    }
}

#[test]
fn a_corrupt_stored_crc_is_reported() {
    let (mut a, _, _) = three_batches();
    a[18] ^= 0x80;
    assert!(matches!(
        read_all(a).as_slice(),
        [Err(RecordError::Crc {
            base_offset: 100,
            ..
        })]
    ));
}

#[test]
fn nothing_after_a_corrupt_middle_batch_is_returned() {
    let (a, mut b, c) = three_batches();
    let last = b.len() - 1;
    b[last] ^= 0xff;
    let items = read_all([a, b, c].concat());
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().header.base_offset, 100);
    assert!(matches!(
        items[1],
        Err(RecordError::Crc {
            base_offset: 103,
            ..
        })
    ));
}

#[test]
fn a_partial_trailing_batch_ends_iteration_cleanly_at_every_cut() {
    let (a, b, c) = three_batches();
    let full = [a.clone(), b].concat();
    for cut in 0..c.len() {
        let items = read_all([full.clone(), c[..cut].to_vec()].concat());
        assert_eq!(items.len(), 2, "cut at {cut}");
        assert!(items.iter().all(Result::is_ok), "cut at {cut}");
    }
    // A lone partial batch yields nothing at all.
    for cut in 0..a.len() {
        assert!(read_all(a[..cut].to_vec()).is_empty(), "cut at {cut}");
    }
}

#[test]
fn the_reader_reports_what_remains_after_the_last_whole_batch() {
    let (a, b, _) = three_batches();
    let mut reader = BatchReader::new(Bytes::from([a.clone(), b[..20].to_vec()].concat()));
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().is_none());
    assert_eq!(reader.remaining(), 20);
}

#[test]
fn magic_0_and_1_are_unsupported_even_when_shorter_than_a_v2_header() {
    for magic in [0i8, 1] {
        let mut b = BatchBuilder::new(9).with([TestRecord::kv(0, b"k", b"v")]);
        b.magic = magic;
        assert!(matches!(
            read_all(b.build()).as_slice(),
            [Err(RecordError::UnsupportedMagic { base_offset: 9, magic: m })] if *m == magic
        ));
    }
    // A real v0 message: offset, size 14+, crc, magic 0, attributes, key -1, value -1.
    let mut v0 = Vec::new();
    v0.extend_from_slice(&5i64.to_be_bytes());
    v0.extend_from_slice(&14i32.to_be_bytes());
    v0.extend_from_slice(&0u32.to_be_bytes());
    v0.extend_from_slice(&[0, 0]);
    v0.extend_from_slice(&(-1i32).to_be_bytes());
    v0.extend_from_slice(&(-1i32).to_be_bytes());
    assert!(matches!(
        read_all(v0).as_slice(),
        [Err(RecordError::UnsupportedMagic {
            base_offset: 5,
            magic: 0
        })]
    ));
}

#[test]
fn batch_lengths_below_the_v2_header_or_negative_are_malformed() {
    let whole = BatchBuilder::new(3).build();
    assert_eq!(
        whole.len(),
        61,
        "an empty batch is exactly the fixed header"
    );
    for length in [-1i32, 0, 4, 5, 48] {
        let mut data = whole.clone();
        data[8..12].copy_from_slice(&length.to_be_bytes());
        let items = read_all(data);
        assert!(
            matches!(
                items.as_slice(),
                [Err(RecordError::Malformed { base_offset: 3, .. })]
            ),
            "length {length}: {items:?}"
        );
    }
    // 49 bytes after the length field is exactly a header with no records.
    assert!(single(whole).records(LIMIT).unwrap().is_empty());
}

#[test]
fn negative_last_offset_delta_and_record_count_are_malformed() {
    let mut b = BatchBuilder::new(3);
    b.last_offset_delta = Some(-1);
    assert!(matches!(
        read_all(b.build()).as_slice(),
        [Err(RecordError::Malformed { base_offset: 3, .. })]
    ));
    let mut b = BatchBuilder::new(3);
    b.record_count = Some(-2);
    assert!(matches!(
        read_all(b.build()).as_slice(),
        [Err(RecordError::Malformed { base_offset: 3, .. })]
    ));
    let mut b = BatchBuilder::new(i64::MAX);
    b.last_offset_delta = Some(0);
    assert!(matches!(
        read_all(b.build()).as_slice(),
        [Err(RecordError::Malformed {
            base_offset: i64::MAX,
            ..
        })]
    ));
}

#[test]
fn header_fields_and_attribute_bits_are_decoded() {
    let mut b = BatchBuilder::new(1_000)
        .with([TestRecord::kv(0, b"k", b"v"), TestRecord::kv(4, b"k", b"v")])
        .codec(Codec::Gzip);
    b.transactional = true;
    b.log_append_time = true;
    b.producer_id = 77;
    b.producer_epoch = 3;
    b.base_sequence = 12;
    b.max_timestamp = Some(1_800_000_000_000);
    let h = single(b.build()).header;
    assert_eq!(h.base_offset, 1_000);
    assert_eq!(h.partition_leader_epoch, 7);
    assert_eq!(h.magic, 2);
    assert_eq!(h.attributes, 0x01 | 0x08 | 0x10);
    assert_eq!(h.compression().unwrap(), Compression::Gzip);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert!(h.is_transactional());
    assert!(!h.is_control());
    assert_eq!(h.last_offset_delta, 4);
    assert_eq!(h.last_offset(), 1_004);
    assert_eq!(h.next_offset(), 1_005);
    assert_eq!(h.max_timestamp, 1_800_000_000_000);
    assert_eq!(h.producer_id, 77);
    assert_eq!(h.producer_epoch, 3);
    assert_eq!(h.base_sequence, 12);
    assert_eq!(h.record_count, 2);

    let plain = single(BatchBuilder::new(0).build()).header;
    assert_eq!(plain.timestamp_type(), TimestampType::CreateTime);
    assert!(!plain.is_transactional());
    assert_eq!(plain.compression().unwrap(), Compression::None);
}

#[test]
fn next_offset_skips_records_compacted_away() {
    // Compaction keeps last_offset_delta while dropping records: the position must still move.
    let mut b = BatchBuilder::new(50).with([TestRecord::kv(2, b"k", b"v")]);
    b.last_offset_delta = Some(9);
    let batch = single(b.build());
    assert_eq!(batch.records(LIMIT).unwrap()[0].offset, 52);
    assert_eq!(batch.header.next_offset(), 60);
}

#[test]
fn unknown_codec_ids_are_compression_errors() {
    for id in 5..=7 {
        let mut b = BatchBuilder::new(8).with([TestRecord::kv(0, b"k", b"v")]);
        b.extra_attributes = id;
        let batch = single(b.build());
        assert!(matches!(
            batch.header.compression(),
            Err(RecordError::Compression {
                base_offset: 8,
                codec: "unknown",
                ..
            })
        ));
        assert!(matches!(
            batch.records(LIMIT),
            Err(RecordError::Compression {
                codec: "unknown",
                ..
            })
        ));
    }
}

#[test]
fn a_batch_edited_and_resealed_is_accepted_by_the_crc_check() {
    // Guards the test helper the property tests rely on.
    let mut data = BatchBuilder::new(1)
        .with([TestRecord::kv(0, b"k", b"v")])
        .build();
    let value_at = data.len() - 2; // the value's one byte, before the header count
    data[value_at] = b'w';
    fix_crc(&mut data);
    let records = single(data).records(LIMIT).unwrap();
    assert_eq!(records[0].value.as_deref(), Some(&b"w"[..]));
}

#[test]
fn errors_display_the_base_offset() {
    let err = RecordError::Malformed {
        base_offset: 42,
        error: DecodeError::Malformed {
            what: "record",
            reason: "x".into(),
        },
    };
    assert!(err.to_string().contains("42"));
    assert_eq!(err.base_offset(), 42);
}
