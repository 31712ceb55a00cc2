//! The idempotent producer against the real broker, judged by librdkafka (confluent-kafka):
//! what it writes reads back identically with every codec, a batch whose response was lost is
//! stored once, typed errors for a missing topic/partition and oversized batches, and Java's
//! murmur2 placement.

mod support;

use std::time::Duration;

use bytes::Bytes;
use rskafka_consumer::produce::{
    Header, ProduceError, Producer, ProducerConfig, ProducerRecord, partition_for_key,
};
use serde_json::{Value, json};
use support::{
    bootstrap, create_topic, create_topic_with_config, librdkafka_consume, peer, proxy::Proxy,
    topic_exists, unique,
};

async fn producer(extra: &[&str]) -> Producer {
    producer_at(bootstrap(), extra).await
}

async fn producer_at(bootstrap: &str, extra: &[&str]) -> Producer {
    let mut config = ProducerConfig::new(bootstrap).unwrap();
    config.apply_pairs(["delivery.timeout.ms=30000"]).unwrap();
    config.apply_pairs(extra.iter().copied()).unwrap();
    Producer::new(config).await.expect("producer starts")
}

/// The JSON librdkafka's peer prints for a header value or key/value (see tests/peers/rkcjson.py).
fn text_or_b64(field: &str, bytes: Option<&[u8]>, obj: &mut serde_json::Map<String, Value>) {
    use base64::Engine as _;
    match bytes {
        None => {
            obj.insert(field.to_owned(), Value::Null);
        }
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => {
                obj.insert(field.to_owned(), json!(s));
            }
            Err(_) => {
                obj.insert(
                    format!("{field}_b64"),
                    json!(base64::engine::general_purpose::STANDARD.encode(b)),
                );
            }
        },
    }
}

fn header_json(value: Option<&[u8]>) -> Value {
    use base64::Engine as _;
    match value {
        None => Value::Null,
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => json!(s),
            Err(_) => json!({"b64": base64::engine::general_purpose::STANDARD.encode(b)}),
        },
    }
}

/// What librdkafka should print for `record` written at `offset`.
fn expected(topic: &str, partition: i32, offset: i64, record: &ProducerRecord) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("topic".into(), json!(topic));
    obj.insert("partition".into(), json!(partition));
    obj.insert("offset".into(), json!(offset));
    obj.insert("timestamp".into(), json!(record.timestamp.unwrap()));
    text_or_b64("key", record.key.as_deref(), &mut obj);
    text_or_b64("value", record.value.as_deref(), &mut obj);
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| json!([h.key, header_json(h.value.as_deref())]))
        .collect();
    obj.insert("headers".into(), Value::Array(headers));
    Value::Object(obj)
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: key.to_owned(),
        value: value.map(Bytes::copy_from_slice),
    }
}

/// Varied records: null and empty keys/values, binary data, duplicate and null headers, a
/// large compressible value, explicit timestamps (one earlier than the first).
fn rich_records(tag: &str) -> Vec<ProducerRecord> {
    let base = 1_700_000_000_000i64;
    let mut out = Vec::new();
    for i in 0..20i64 {
        let (key, value, headers): (Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>) = match i % 5 {
            0 => (None, None, Vec::new()),
            1 => (
                Some(Vec::new()),
                Some(Vec::new()),
                vec![header("empty", Some(b""))],
            ),
            2 => (
                Some(b"\x80\x81key".to_vec()),
                Some(b"\xff\xfe\x00bin".to_vec()),
                vec![
                    header("dup", Some(b"first")),
                    header("null", None),
                    header("dup", Some(b"second")),
                    header("bin", Some(b"\xff\x00\xfe")),
                ],
            ),
            3 => (
                Some(format!("key-{i}").into_bytes()),
                Some(format!("{tag}-{i}-").repeat(300).into_bytes()),
                vec![header("ünïcode", Some("ü✓".as_bytes()))],
            ),
            _ => (
                Some(format!("key-{i}").into_bytes()),
                Some(format!("{tag}-{i}").into_bytes()),
                vec![header("i", Some(i.to_string().as_bytes()))],
            ),
        };
        out.push(ProducerRecord {
            key: key.map(Bytes::from),
            value: value.map(Bytes::from),
            headers,
            timestamp: Some(if i == 3 { base - 5_000 } else { base + i * 7 }),
        });
    }
    out
}

#[tokio::test]
async fn records_of_every_codec_read_back_identically_with_librdkafka() {
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique(&format!("produce-{codec}"));
        create_topic(&topic, 2);
        let producer = producer(&[&format!("compression.type={codec}")]).await;
        let records = rich_records(codec);
        // One batch of all records, then two single-record sends: offsets follow on.
        let first = producer.send_batch(&topic, 1, &records).await.unwrap();
        assert_eq!((first.partition, first.offset), (1, 0), "{codec}");
        let mut all = records.clone();
        for r in rich_records("again").into_iter().take(2) {
            let meta = producer.send(&topic, 1, r.clone()).await.unwrap();
            assert_eq!(meta.offset, all.len() as i64, "{codec}");
            all.push(r);
        }
        let want: Vec<Value> = all
            .iter()
            .enumerate()
            .map(|(i, r)| expected(&topic, 1, i as i64, r))
            .collect();
        let (got, events) = librdkafka_consume(&topic, &["--partition", "1"]);
        assert!(
            events.iter().all(|e| e["event"] == "partition_eof"),
            "{codec}: {events:?}"
        );
        assert_eq!(got, want, "{codec}");
    }
}

#[tokio::test]
async fn a_batch_whose_response_was_lost_is_retried_with_its_sequence_and_stored_once() {
    let topic = unique("produce-dedup");
    create_topic(&topic, 1);
    let proxy = Proxy::start(bootstrap());
    let producer = producer_at(&proxy.address(), &["retry.backoff.ms=50"]).await;
    let record = |i: i64| ProducerRecord {
        key: Some(Bytes::from(format!("k{i}"))),
        value: Some(Bytes::from(format!("v{i}"))),
        headers: Vec::new(),
        timestamp: Some(1_700_000_000_000 + i),
    };
    // Warm up: metadata known, connection to the leader open.
    assert_eq!(producer.send(&topic, 0, record(0)).await.unwrap().offset, 0);
    // The broker appends the next batch, but its response never arrives: the producer must
    // re-send the same bytes, and the broker must recognise them.
    proxy.cut_next_responses(1);
    let meta = producer.send(&topic, 0, record(1)).await.unwrap();
    assert_eq!(proxy.stats().cuts, 1, "the Produce response was cut");
    assert_eq!(meta.offset, 1, "the retry reports the original offset");
    assert_eq!(producer.send(&topic, 0, record(2)).await.unwrap().offset, 2);

    let (got, events) = librdkafka_consume(&topic, &[]);
    let values: Vec<&str> = got.iter().map(|m| m["value"].as_str().unwrap()).collect();
    eprintln!("librdkafka read {values:?}, events {events:?}");
    assert_eq!(values, ["v0", "v1", "v2"]);
}

#[tokio::test]
async fn producing_to_a_missing_topic_is_a_typed_error_not_a_wait_or_a_creation() {
    let topic = unique("produce-missing");
    // A delivery timeout far longer than the test: the error must come from the metadata
    // answer, not from giving up.
    let producer = producer(&["delivery.timeout.ms=600000"]).await;
    let err = producer
        .send(&topic, 0, ProducerRecord::new(Some("k"), Some("v")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProduceError::UnknownTopic { topic: t } if *t == topic),
        "{err:?}"
    );
    assert!(err.to_string().contains(&topic), "{err}");
    assert!(!topic_exists(&topic), "the producer must not create topics");
    let err = producer.partition_count(&topic).await.unwrap_err();
    assert!(matches!(err, ProduceError::UnknownTopic { .. }), "{err:?}");
}

#[tokio::test]
async fn a_partition_the_topic_lacks_is_a_typed_error() {
    let topic = unique("produce-nopart");
    create_topic(&topic, 2);
    let producer = producer(&[]).await;
    assert_eq!(producer.partition_count(&topic).await.unwrap(), 2);
    let err = producer
        .send(&topic, 5, ProducerRecord::new(Some("k"), Some("v")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProduceError::UnknownPartition {
                partition: 5,
                partitions: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn oversized_batches_are_typed_errors_and_the_partition_keeps_working() {
    let topic = unique("produce-large");
    create_topic_with_config(&topic, 1, &["max.message.bytes=2000"]);
    let big = || ProducerRecord::new(Some("k"), Some(vec![b'x'; 10_000]));
    let small = |v: &'static str| ProducerRecord::new(Some("k"), Some(v));

    // The broker's limit (the topic's max.message.bytes).
    let first = producer(&[]).await;
    let err = first.send(&topic, 0, big()).await.unwrap_err();
    assert!(
        matches!(err, ProduceError::RecordTooLarge { max: None, .. }),
        "{err:?}"
    );
    // The refused batch's sequence is reused: the broker must accept the next batch.
    assert_eq!(first.send(&topic, 0, small("a")).await.unwrap().offset, 0);

    // The client's limit (message.max.bytes): refused before sending.
    let limited = producer(&["message.max.bytes=1000"]).await;
    let err = limited.send(&topic, 0, big()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProduceError::RecordTooLarge {
                max: Some(1000),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(limited.send(&topic, 0, small("b")).await.unwrap().offset, 1);

    let (got, events) = librdkafka_consume(&topic, &[]);
    let values: Vec<&str> = got.iter().map(|m| m["value"].as_str().unwrap()).collect();
    eprintln!("librdkafka read {values:?}, events {events:?}");
    assert_eq!(values, ["a", "b"]);
}

#[tokio::test]
async fn keyed_placement_matches_librdkafka_murmur2_random() {
    let topic = unique("produce-murmur");
    let partitions = 7;
    create_topic(&topic, partitions);
    let keys: Vec<String> = (0..60)
        .map(|i| match i % 3 {
            0 => format!("order-{i}"),
            1 => format!("ключ-{i}-🔑"),
            _ => "x".repeat(i),
        })
        .filter(|k| !k.is_empty())
        .collect();
    let mut args = vec![bootstrap(), topic.as_str()];
    args.extend(keys.iter().map(String::as_str));
    let out = peer("partition_keys.py", &args);
    let judged = support::json_lines(&out.stdout);
    assert_eq!(judged.len(), keys.len());
    for (key, verdict) in keys.iter().zip(&judged) {
        assert_eq!(verdict["key"], json!(key));
        assert_eq!(
            i64::from(partition_for_key(key.as_bytes(), partitions as usize)),
            verdict["partition"].as_i64().unwrap(),
            "key {key:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_sends_to_one_partition_keep_their_sequence_and_lose_nothing() {
    let topic = unique("produce-concurrent");
    create_topic(&topic, 3);
    let producer = std::sync::Arc::new(producer(&["compression.type=lz4"]).await);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let producer = std::sync::Arc::clone(&producer);
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            let record = ProducerRecord::new(Some(format!("k{i}")), Some(format!("v{i}")));
            producer.send(&topic, i % 3, record).await.unwrap()
        }));
    }
    let mut offsets = Vec::new();
    for t in tasks {
        let meta = t.await.unwrap();
        offsets.push((meta.partition, meta.offset));
    }
    offsets.sort();
    for p in 0..3 {
        let mine: Vec<i64> = offsets
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        assert_eq!(mine, (0..20).collect::<Vec<_>>(), "partition {p}");
    }
    let (got, _) = librdkafka_consume(&topic, &[]);
    assert_eq!(got.len(), 60);
}

/// Sends `batch` to `topic`/0 with a raw Produce request over its own connection.
async fn produce_raw(
    messenger: &rskafka::messenger::Messenger<tokio::net::TcpStream>,
    topic: &str,
    batch: Bytes,
) -> rskafka_consumer::wire::produce::ProduceResponsePartition {
    use rskafka_consumer::wire::{
        Request,
        produce::{ACKS_ALL, ProducePartition, ProduceRequest, ProduceTopic},
    };
    let response = messenger
        .request(Request(ProduceRequest {
            transactional_id: None,
            acks: ACKS_ALL,
            timeout_ms: 10_000,
            topics: vec![ProduceTopic {
                topic: topic.to_owned(),
                partitions: vec![ProducePartition {
                    partition: 0,
                    records: batch,
                }],
            }],
        }))
        .await
        .expect("Produce answered");
    response
        .0
        .partition(topic, 0)
        .expect("partition result")
        .clone()
}

#[tokio::test]
async fn a_batch_resent_with_the_same_producer_id_epoch_and_sequence_is_stored_once() {
    use rskafka_consumer::{
        record::{BatchParams, Compression, encode_batch},
        wire::{Request, init_producer_id::InitProducerIdRequest},
    };
    let topic = unique("produce-wire-dedup");
    create_topic(&topic, 1);
    let stream = tokio::net::TcpStream::connect(bootstrap()).await.unwrap();
    let mut messenger = rskafka::messenger::Messenger::new(stream, 1 << 24, "wire-test".into());
    messenger.sync_versions().await.unwrap();
    let id = messenger
        .request(Request(InitProducerIdRequest::idempotent()))
        .await
        .unwrap()
        .0;
    assert_eq!(id.error_code, 0);
    let batch = |sequence: i32, value: &'static str| {
        let params = BatchParams {
            producer_id: id.producer_id,
            producer_epoch: id.producer_epoch,
            base_sequence: sequence,
            compression: Compression::Zstd,
            default_timestamp: 1_700_000_000_000,
        };
        encode_batch(&params, &[ProducerRecord::new(Some("k"), Some(value))]).unwrap()
    };

    let first = produce_raw(&messenger, &topic, batch(0, "one")).await;
    assert_eq!((first.error_code, first.base_offset), (0, 0));
    // The very same batch again: the broker recognises it and reports the original offset.
    let again = produce_raw(&messenger, &topic, batch(0, "one")).await;
    assert!(again.error_code == 0 || again.error_code == 46, "{again:?}");
    if again.error_code == 0 {
        assert_eq!(again.base_offset, 0);
    }
    let second = produce_raw(&messenger, &topic, batch(1, "two")).await;
    assert_eq!((second.error_code, second.base_offset), (0, 1));
    // A gap in the sequence is refused.
    let gap = produce_raw(&messenger, &topic, batch(5, "gap")).await;
    assert_eq!(gap.error_code, 45, "OUT_OF_ORDER_SEQUENCE_NUMBER: {gap:?}");

    let (got, events) = librdkafka_consume(&topic, &[]);
    let values: Vec<&str> = got.iter().map(|m| m["value"].as_str().unwrap()).collect();
    eprintln!("librdkafka read {values:?}, events {events:?}");
    assert_eq!(values, ["one", "two"]);
}

#[tokio::test]
async fn a_send_that_timed_out_is_never_mistaken_for_the_next_one() {
    let topic = unique("produce-timeout");
    create_topic(&topic, 1);
    let proxy = Proxy::start(bootstrap());
    let producer = producer_at(
        &proxy.address(),
        &["delivery.timeout.ms=1500", "retry.backoff.ms=50"],
    )
    .await;
    let record = |v: &'static str| ProducerRecord::new(Some("k"), Some(v));
    assert_eq!(
        producer.send(&topic, 0, record("a")).await.unwrap().offset,
        0
    );

    // The broker goes silent: the send ends with the typed timeout, its batch held in the
    // proxy. Once the broker is back the held batch is appended after all.
    proxy.stall_all();
    let err = producer.send(&topic, 0, record("b")).await.unwrap_err();
    assert!(
        matches!(err, ProduceError::DeliveryTimeout { partition: 0, .. }),
        "{err:?}"
    );
    proxy.resume();
    // The next record must not reuse the timed-out batch's sequence (the broker would drop it
    // as a duplicate of "b" and report "b"'s offset).
    let meta = producer.send(&topic, 0, record("c")).await.unwrap();
    assert!(meta.offset >= 1, "{meta:?}");

    let (got, events) = librdkafka_consume(&topic, &[]);
    let values: Vec<&str> = got.iter().map(|m| m["value"].as_str().unwrap()).collect();
    eprintln!("librdkafka read {values:?}, events {events:?}");
    assert!(values.contains(&"c"), "c was lost: {values:?}");
    assert_eq!(values.first(), Some(&"a"));
    assert_eq!(values.last(), Some(&"c"));
}

#[tokio::test]
async fn a_cancelled_send_is_never_mistaken_for_the_next_one() {
    let topic = unique("produce-cancel");
    create_topic(&topic, 1);
    let proxy = Proxy::start(bootstrap());
    let producer = producer_at(&proxy.address(), &["retry.backoff.ms=50"]).await;
    let record = |v: &'static str| ProducerRecord::new(Some("k"), Some(v));
    assert_eq!(
        producer.send(&topic, 0, record("a")).await.unwrap().offset,
        0
    );

    proxy.stall_all();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        producer.send(&topic, 0, record("b")),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the send must still be waiting on the stalled broker"
    );
    // The held request reaches the broker now: "b" is appended although its send was dropped.
    proxy.resume();
    let meta = producer.send(&topic, 0, record("c")).await.unwrap();
    let (got, events) = librdkafka_consume(&topic, &[]);
    let values: Vec<&str> = got.iter().map(|m| m["value"].as_str().unwrap()).collect();
    eprintln!("librdkafka read {values:?}, events {events:?}");
    assert_eq!(values, ["a", "b", "c"]);
    assert_eq!(meta.offset, 2);
}
