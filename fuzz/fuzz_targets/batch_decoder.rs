//! Feeds arbitrary bytes to `BatchReader` and to every batch's `records()`/`control_type()`.
//!
//! The first input byte picks a mode: even = the bytes as they are (exercises framing and the
//! CRC check); odd = the rest with each complete batch's CRC-32C rewritten first, so mutations
//! reach the header, decompression and record decoding behind the CRC.
//!
//! Run: `cargo +nightly fuzz run batch_decoder fuzz/corpus/batch_decoder fuzz/seeds/batch_decoder`
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rskafka_consumer::record::BatchReader;

/// Small enough that bombs fail fast, large enough for real batches.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = rest.to_vec();
    if mode & 1 == 1 {
        reseal(&mut input);
    }
    for batch in BatchReader::new(Bytes::from(input)) {
        let Ok(batch) = batch else { break };
        let header = batch.header;
        assert!(header.next_offset() > header.base_offset);
        if let Ok(records) = batch.records(LIMIT) {
            assert_eq!(records.len(), header.record_count as usize);
        }
        let _ = batch.control_type(LIMIT);
    }
});

/// Rewrites the CRC of every complete v2-sized batch in `data`.
fn reseal(data: &mut [u8]) {
    let mut pos = 0;
    while let Some(prefix) = data.get(pos..pos + 12) {
        let len = i32::from_be_bytes(prefix[8..12].try_into().unwrap());
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (pos + 12).checked_add(l))
        else {
            return;
        };
        if len < 49 || end > data.len() {
            return;
        }
        let crc = crc32c::crc32c(&data[pos + 21..end]);
        data[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}
