//! The JSON lines `rkc consume` prints on stderr: partition EOF, group changes and errors.
//!
//! Invariants: one line per event, each an object with an `"event"` key; the shapes are the ones
//! the README documents.

use rskafka_consumer::{Error, TopicPartition};
use serde_json::{Value, json};

/// Prints one event line on stderr.
pub(crate) fn emit(event: Value) {
    eprintln!("{event}");
}

/// `{"event":"partition_eof","topic","partition","offset"}`.
pub(crate) fn partition_eof(topic: &str, partition: i32, offset: i64) -> Value {
    json!({"event": "partition_eof", "topic": topic, "partition": partition, "offset": offset})
}

/// `{"event":"assigned"|"revoked"|"lost","partitions":[{"topic","partition"},…]}`.
pub(crate) fn group_event(kind: &str, partitions: &[TopicPartition]) -> Value {
    let partitions: Vec<Value> = partitions
        .iter()
        .map(|tp| json!({"topic": &*tp.topic, "partition": tp.partition}))
        .collect();
    json!({"event": kind, "partitions": partitions})
}

/// `{"event":"error","kind","error",…}` with topic/partition/offset for partition errors.
pub(crate) fn error_json(e: &Error) -> Value {
    let mut obj = json!({"event": "error", "error": e.to_string()});
    let (kind, scope) = match e {
        Error::CorruptBatch {
            topic,
            partition,
            offset,
            ..
        } => ("corrupt_batch", Some((topic.clone(), *partition, *offset))),
        Error::OffsetOutOfRange {
            topic,
            partition,
            offset,
        } => (
            "offset_out_of_range",
            Some((topic.clone(), *partition, *offset)),
        ),
        Error::LogTruncation {
            topic,
            partition,
            offset,
            ..
        } => ("log_truncation", Some((topic.clone(), *partition, *offset))),
        _ => ("broker", None),
    };
    obj["kind"] = json!(kind);
    if let Some((topic, partition, offset)) = scope {
        obj["topic"] = json!(topic);
        obj["partition"] = json!(partition);
        obj["offset"] = json!(offset);
    }
    obj
}
