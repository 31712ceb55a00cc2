//! Control batches: COMMIT/ABORT markers read from the record key, empty control batches.

use super::*;
use crate::record::ControlType;
use crate::record::builder::Codec;

#[test]
fn commit_and_abort_markers_are_read_from_the_record_key() {
    for (kind, expected) in [
        (0, ControlType::Abort),
        (1, ControlType::Commit),
        (2, ControlType::Other(2)),
    ] {
        let batch = single(BatchBuilder::control_marker(40, kind).build());
        assert!(batch.header.is_control());
        assert!(batch.header.is_transactional());
        assert_eq!(batch.control_type(LIMIT).unwrap(), Some(expected));
        assert_eq!(batch.header.next_offset(), 41);
    }
}

#[test]
fn a_marker_whose_value_would_misread_as_the_type_still_parses_from_the_key() {
    // rskafka 0.6 read version/type from the record stream ("version 8192"); the key decides.
    let mut b = BatchBuilder::control_marker(0, 1);
    b.records[0].value = Some(vec![0x20, 0x00, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(
        single(b.build()).control_type(LIMIT).unwrap(),
        Some(ControlType::Commit)
    );
}

#[test]
fn compressed_control_batches_are_read_too() {
    let b = BatchBuilder::control_marker(3, 0).codec(Codec::Zstd);
    assert_eq!(
        single(b.build()).control_type(LIMIT).unwrap(),
        Some(ControlType::Abort)
    );
}

#[test]
fn an_empty_control_batch_has_no_type_and_no_records() {
    let mut b = BatchBuilder::control_marker(70, 1);
    b.records.clear();
    b.last_offset_delta = Some(0);
    let batch = single(b.build());
    assert!(batch.header.is_control());
    assert_eq!(batch.control_type(LIMIT).unwrap(), None);
    assert!(batch.records(LIMIT).unwrap().is_empty());
    assert_eq!(batch.header.next_offset(), 71);
}

#[test]
fn a_data_batch_has_no_control_type() {
    let batch = single(BatchBuilder::new(0).with(sample_records()).build());
    assert_eq!(batch.control_type(LIMIT).unwrap(), None);
}

#[test]
fn control_keys_that_are_null_short_or_of_negative_version_are_malformed() {
    for key in [None, Some(vec![0, 0, 0]), Some(vec![0xff, 0xff, 0, 1])] {
        let mut b = BatchBuilder::control_marker(12, 1);
        b.records[0].key = key.clone();
        assert!(
            matches!(
                single(b.build()).control_type(LIMIT),
                Err(RecordError::Malformed {
                    base_offset: 12,
                    ..
                })
            ),
            "{key:?}"
        );
    }
    // A newer version with a longer key is read by its leading type field.
    let mut b = BatchBuilder::control_marker(12, 0);
    b.records[0].key = Some(vec![0, 1, 0, 0, 9, 9]);
    assert_eq!(
        single(b.build()).control_type(LIMIT).unwrap(),
        Some(ControlType::Abort)
    );
}
