//! The dead-letter writer against the real broker, judged by librdkafka (confluent-kafka):
//! each header style's record reads back with exactly the expected headers (bytes compared),
//! the original key/value/headers/timestamp kept, earlier provenance replaced, the source
//! partition kept when the DLQ topic has it (else murmur2 / round robin), and typed errors for
//! a missing or too-small DLQ topic.

mod support;

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use base64::Engine as _;
use bytes::Bytes;
use rskafka_consumer::{
    Message,
    produce::{Compression, Producer, ProducerConfig, partition_for_key},
    record::{Header, TimestampType},
    runner::dlq::{DeadLetter, DlqError, DlqWriter, HeaderStyle},
};
use serde_json::{Value, json};
use support::{bootstrap, create_topic, create_topic_with_config, librdkafka_consume, unique};

async fn producer() -> Arc<Producer> {
    let mut config = ProducerConfig::new(bootstrap()).unwrap();
    config.set("delivery.timeout.ms", "30000").unwrap();
    Arc::new(Producer::new(config).await.expect("producer starts"))
}

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header {
        key: key.to_owned(),
        value: value.map(Bytes::copy_from_slice),
    }
}

/// A source message as the consumer would hand it over, carrying headers of an earlier
/// dead-lettering in every style.
fn source_message(topic: &str, partition: i32, key: Option<&[u8]>) -> Message {
    Message {
        topic: Arc::from(topic),
        partition,
        offset: 4242,
        timestamp: 1_700_000_000_321,
        timestamp_type: TimestampType::CreateTime,
        key: key.map(Bytes::copy_from_slice),
        value: Some(Bytes::from_static(b"{\"amount\": -1}")),
        headers: vec![
            header("trace-id", Some(b"t-1")),
            header("__connect.errors.topic", Some(b"older-topic")),
            header("dup", Some(b"first")),
            header("kafka_dlt-original-offset", Some(&7i64.to_be_bytes())),
            header("null", None),
            header("__streams.errors.message", Some(b"older failure")),
            header("dlq.attempts", Some(b"3")),
            header("bin", Some(b"\xff\x00\xfe")),
            header("dup", Some(b"second")),
        ],
        leader_epoch: Some(0),
    }
}

/// The header JSON librdkafka's peer prints (tests/peers/rkcjson.py): text, or base64 bytes.
fn hv(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => json!(s),
        Err(_) => json!({"b64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
    }
}

fn original_headers() -> Vec<Value> {
    vec![
        json!(["trace-id", "t-1"]),
        json!(["dup", "first"]),
        json!(["null", null]),
        json!(["bin", hv(b"\xff\x00\xfe")]),
        json!(["dup", "second"]),
    ]
}

const FAILED_AT_MS: u64 = 1_764_096_000_250;
const FAILED_AT: &str = "2025-11-25T18:40:00.250Z";

fn dead_letter(message: &Message) -> DeadLetter<'_> {
    DeadLetter {
        message,
        group_id: "billing",
        attempts: 5,
        error_class: "HandlerError::Permanent",
        error_message: "amount must be positive: −1",
        failed_at: SystemTime::UNIX_EPOCH + Duration::from_millis(FAILED_AT_MS),
    }
}

fn provenance(style: HeaderStyle, source: &str) -> Vec<Value> {
    let mut h = match style {
        HeaderStyle::Connect => vec![
            json!(["__connect.errors.topic", source]),
            json!(["__connect.errors.partition", "1"]),
            json!(["__connect.errors.offset", "4242"]),
            json!([
                "__connect.errors.exception.class.name",
                "HandlerError::Permanent"
            ]),
            json!([
                "__connect.errors.exception.message",
                "amount must be positive: −1"
            ]),
        ],
        HeaderStyle::Spring => vec![
            json!(["kafka_dlt-original-topic", source]),
            json!(["kafka_dlt-original-partition", hv(&1i32.to_be_bytes())]),
            json!(["kafka_dlt-original-offset", hv(&4242i64.to_be_bytes())]),
            json!([
                "kafka_dlt-original-timestamp",
                hv(&1_700_000_000_321i64.to_be_bytes())
            ]),
            json!(["kafka_dlt-original-timestamp-type", "CreateTime"]),
            json!(["kafka_dlt-original-consumer-group", "billing"]),
            json!(["kafka_dlt-exception-fqcn", "HandlerError::Permanent"]),
            json!(["kafka_dlt-exception-message", "amount must be positive: −1"]),
        ],
        HeaderStyle::Streams => vec![
            json!(["__streams.errors.exception", "HandlerError::Permanent"]),
            json!(["__streams.errors.message", "amount must be positive: −1"]),
            json!(["__streams.errors.topic", source]),
            json!(["__streams.errors.partition", "1"]),
            json!(["__streams.errors.offset", "4242"]),
        ],
    };
    h.push(json!(["dlq.consumer.group", "billing"]));
    h.push(json!(["dlq.attempts", "5"]));
    h.push(json!(["dlq.failed.at", FAILED_AT]));
    h
}

#[tokio::test]
async fn each_header_style_reads_back_with_exactly_the_expected_headers() {
    let producer = producer().await;
    let cases = [
        (HeaderStyle::Connect, None, Compression::Zstd),
        (HeaderStyle::Spring, Some("{topic}-dlt"), Compression::Gzip),
        (
            HeaderStyle::Streams,
            Some("dlq.{topic}.streams"),
            Compression::Lz4,
        ),
    ];
    for (style, template, compression) in cases {
        let source = unique(&format!("orders-{}", style.name()));
        let writer = DlqWriter::new(
            Arc::clone(&producer),
            template.map(str::to_owned),
            style,
            compression,
        );
        let dlq = writer.topic_for(&source);
        let want_topic = match template {
            None => format!("{source}.dlq"),
            Some(t) => t.replace("{topic}", &source),
        };
        assert_eq!(dlq, want_topic);
        create_topic(&dlq, 3);

        let message = source_message(&source, 1, Some(b"\x80order-7"));
        let receipt = writer.write(&dead_letter(&message)).await.unwrap();
        assert_eq!(
            (receipt.topic.as_str(), receipt.partition, receipt.offset),
            (dlq.as_str(), 1, 0),
            "{style:?}: the source partition is kept"
        );

        let (got, events) = librdkafka_consume(&dlq, &["--partition", "1"]);
        assert!(
            events.iter().all(|e| e["event"] == "partition_eof"),
            "{events:?}"
        );
        let mut headers = original_headers();
        headers.extend(provenance(style, &source));
        let want = json!({
            "topic": dlq,
            "partition": 1,
            "offset": 0,
            "timestamp": 1_700_000_000_321i64,
            "key_b64": base64::engine::general_purpose::STANDARD.encode(b"\x80order-7"),
            "value": "{\"amount\": -1}",
            "headers": headers,
        });
        assert_eq!(got, vec![want], "{style:?}");
    }
}

#[tokio::test]
async fn a_dlq_topic_without_the_source_partition_places_by_murmur2_or_round_robin() {
    let producer = producer().await;
    let source = unique("orders-place");
    let writer = DlqWriter::new(producer, None, HeaderStyle::Connect, Compression::None);
    let dlq = writer.topic_for(&source);
    create_topic(&dlq, 2);

    // Source partition 5 does not exist in a 2-partition DLQ topic.
    let mut receipts = Vec::new();
    for key in ["a", "b", "c", "order-17", "order-18"] {
        let message = source_message(&source, 5, Some(key.as_bytes()));
        let receipt = writer.write(&dead_letter(&message)).await.unwrap();
        assert_eq!(
            receipt.partition,
            partition_for_key(key.as_bytes(), 2),
            "key {key}"
        );
        receipts.push(receipt);
    }
    let null_keyed: Vec<i32> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let message = source_message(&source, 5, None);
            out.push(
                writer
                    .write(&dead_letter(&message))
                    .await
                    .unwrap()
                    .partition,
            );
        }
        out
    };
    assert_eq!(null_keyed, [0, 1, 0, 1], "null keys go round robin");

    let (got, _) = librdkafka_consume(&dlq, &[]);
    assert_eq!(got.len(), 9);
    for r in &receipts {
        assert!(
            got.iter()
                .any(|m| m["partition"] == r.partition && m["offset"] == r.offset),
            "{r:?} not found"
        );
    }
}

#[tokio::test]
async fn a_missing_dlq_topic_is_a_typed_error_until_it_exists() {
    let producer = producer().await;
    let source = unique("orders-missing");
    let writer = DlqWriter::new(producer, None, HeaderStyle::Spring, Compression::Snappy);
    let message = source_message(&source, 0, Some(b"k"));

    let err = writer.write(&dead_letter(&message)).await.unwrap_err();
    assert!(
        matches!(&err, DlqError::TopicMissing { topic } if *topic == format!("{source}.dlq")),
        "{err:?}"
    );
    assert!(err.is_retriable());
    assert!(
        !support::topic_exists(&format!("{source}.dlq")),
        "never created by the writer"
    );

    create_topic(&writer.topic_for(&source), 1);
    let receipt = writer.write(&dead_letter(&message)).await.unwrap();
    assert_eq!((receipt.partition, receipt.offset), (0, 0));
    let (got, _) = librdkafka_consume(&writer.topic_for(&source), &[]);
    assert_eq!(got.len(), 1, "exactly the one acknowledged dead letter");
}

#[tokio::test]
async fn a_dead_letter_over_the_dlq_topics_size_limit_is_too_large() {
    let producer = producer().await;
    let source = unique("orders-large");
    let writer = DlqWriter::new(producer, None, HeaderStyle::Connect, Compression::None);
    create_topic_with_config(&writer.topic_for(&source), 1, &["max.message.bytes=1000"]);
    let mut message = source_message(&source, 0, Some(b"k"));
    message.value = Some(Bytes::from(vec![b'x'; 5000]));
    let err = writer.write(&dead_letter(&message)).await.unwrap_err();
    assert!(matches!(err, DlqError::TooLarge { .. }), "{err:?}");
    assert!(!err.is_retriable());
}
