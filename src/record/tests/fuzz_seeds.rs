//! Writes the fuzz target's seed corpus (`fuzz/seeds/batch_decoder`) from the test builder.
//! Run on demand: `cargo test --lib record::tests::fuzz_seeds -- --ignored`.

use super::*;
use crate::record::builder::Codec;

#[test]
#[ignore = "writes files; run on demand to refresh the fuzz seeds"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/batch_decoder");
    std::fs::create_dir_all(&dir).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, codec) in [
        ("none", Codec::None),
        ("gzip", Codec::Gzip),
        ("snappy_raw", Codec::SnappyRaw),
        ("snappy_xerial", Codec::SnappyXerial(64)),
        ("lz4", Codec::Lz4),
        ("zstd", Codec::Zstd),
    ] {
        let b = BatchBuilder::new(10).with(sample_records()).codec(codec);
        seeds.push((format!("batch_{name}"), b.build()));
    }
    let mut lat = BatchBuilder::new(20).with(sample_records());
    lat.log_append_time = true;
    seeds.push(("log_append_time".into(), lat.build()));
    let mut empty_control = BatchBuilder::control_marker(30, 1);
    empty_control.records.clear();
    seeds.push((
        "two_markers_and_empty_control".into(),
        [
            BatchBuilder::control_marker(28, 0).build(),
            BatchBuilder::control_marker(29, 1).build(),
            empty_control.build(),
        ]
        .concat(),
    ));
    let full = BatchBuilder::new(40).with(sample_records()).build();
    seeds.push((
        "two_and_partial".into(),
        [full.clone(), full.clone(), full[..30].to_vec()].concat(),
    ));
    use super::java_fixtures::*;
    for (name, fixture) in [
        ("java_none", JAVA_NONE),
        ("java_gzip", JAVA_GZIP),
        ("java_snappy", JAVA_SNAPPY),
        ("java_lz4", JAVA_LZ4),
        ("java_zstd", JAVA_ZSTD),
        ("java_commit", JAVA_COMMIT),
    ] {
        seeds.push((name.into(), unhex(fixture)));
    }
    for (name, data) in seeds {
        // Mode byte 1: the target reseals CRCs, so mutations get past the CRC check.
        std::fs::write(dir.join(name), [&[1u8][..], &data].concat()).unwrap();
    }
}
