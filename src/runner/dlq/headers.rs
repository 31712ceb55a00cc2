//! Provenance headers: what a dead-letter record says about where it came from and why it
//! failed, in the conventions of the tools users already have.
//!
//! Invariants:
//! - The original headers come first, in their order, duplicates kept; provenance headers are
//!   appended after them.
//! - Provenance of an earlier dead-lettering is replaced, not stacked: every header whose key
//!   starts with one of [`PROVENANCE_PREFIXES`] (any style's, and `dlq.`) is dropped from the
//!   original headers first.
//! - Values are UTF-8 strings, except Spring's partition (4-byte big-endian int), offset and
//!   timestamp (8-byte big-endian longs), as Spring's `DeadLetterPublishingRecoverer` writes
//!   them. Numbers in strings are decimal.

use std::time::SystemTime;

use bytes::Bytes;

use crate::{Message, record::Header, record::TimestampType};

/// Key prefixes of provenance headers; a header starting with any of them is provenance.
pub const PROVENANCE_PREFIXES: [&str; 4] = [
    "__connect.errors.",
    "kafka_dlt-",
    "__streams.errors.",
    "dlq.",
];

/// Which convention the provenance headers follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HeaderStyle {
    /// Kafka Connect's `DeadLetterQueueReporter`: `__connect.errors.topic`, `.partition`,
    /// `.offset`, `.exception.class.name`, `.exception.message` (UTF-8 strings).
    #[default]
    Connect,
    /// Spring Kafka's `DeadLetterPublishingRecoverer`: `kafka_dlt-original-topic`,
    /// `-original-partition` (int32 BE), `-original-offset` (int64 BE), `-original-timestamp`
    /// (int64 BE), `-original-timestamp-type`, `-original-consumer-group`, `-exception-fqcn`,
    /// `-exception-message`.
    Spring,
    /// Kafka Streams' dead-letter queue (KIP-1034): `__streams.errors.exception`, `.message`,
    /// `.topic`, `.partition`, `.offset` (UTF-8 strings).
    Streams,
}

impl HeaderStyle {
    /// The style by its configuration name (`connect`, `spring`, `streams`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "connect" => Some(Self::Connect),
            "spring" => Some(Self::Spring),
            "streams" => Some(Self::Streams),
            _ => None,
        }
    }

    /// The style's configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Spring => "spring",
            Self::Streams => "streams",
        }
    }
}

/// Why and when a message failed, for its provenance headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) attempts: u32,
    pub(crate) error_class: &'a str,
    pub(crate) error_message: &'a str,
    pub(crate) failed_at: SystemTime,
}

/// Whether `key` names a provenance header of any style.
pub fn is_provenance(key: &str) -> bool {
    PROVENANCE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The dead-letter record's headers: `message`'s own (earlier provenance removed) followed by
/// the provenance of this failure in `style`.
pub(crate) fn dead_letter_headers(
    message: &Message,
    failure: &Failure<'_>,
    style: HeaderStyle,
) -> Vec<Header> {
    let mut headers: Vec<Header> = message
        .headers
        .iter()
        .filter(|h| !is_provenance(&h.key))
        .cloned()
        .collect();
    let mut add = |key: &str, value: Vec<u8>| {
        headers.push(Header {
            key: key.to_owned(),
            value: Some(Bytes::from(value)),
        })
    };
    let text = |s: &str| s.as_bytes().to_vec();
    match style {
        HeaderStyle::Connect => {
            add("__connect.errors.topic", text(&message.topic));
            add(
                "__connect.errors.partition",
                text(&message.partition.to_string()),
            );
            add("__connect.errors.offset", text(&message.offset.to_string()));
            add(
                "__connect.errors.exception.class.name",
                text(failure.error_class),
            );
            add(
                "__connect.errors.exception.message",
                text(failure.error_message),
            );
        }
        HeaderStyle::Spring => {
            add("kafka_dlt-original-topic", text(&message.topic));
            add(
                "kafka_dlt-original-partition",
                message.partition.to_be_bytes().to_vec(),
            );
            add(
                "kafka_dlt-original-offset",
                message.offset.to_be_bytes().to_vec(),
            );
            add(
                "kafka_dlt-original-timestamp",
                message.timestamp.to_be_bytes().to_vec(),
            );
            let timestamp_type = match message.timestamp_type {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            };
            add("kafka_dlt-original-timestamp-type", text(timestamp_type));
            add("kafka_dlt-original-consumer-group", text(failure.group_id));
            add("kafka_dlt-exception-fqcn", text(failure.error_class));
            add("kafka_dlt-exception-message", text(failure.error_message));
        }
        HeaderStyle::Streams => {
            add("__streams.errors.exception", text(failure.error_class));
            add("__streams.errors.message", text(failure.error_message));
            add("__streams.errors.topic", text(&message.topic));
            add(
                "__streams.errors.partition",
                text(&message.partition.to_string()),
            );
            add("__streams.errors.offset", text(&message.offset.to_string()));
        }
    }
    add("dlq.consumer.group", text(failure.group_id));
    add("dlq.attempts", text(&failure.attempts.to_string()));
    add("dlq.failed.at", text(&rfc3339_utc(failure.failed_at)));
    headers
}

/// `at` as RFC 3339 UTC with milliseconds, clamped to 1970-01-01..=9999-12-31 (the range the
/// format can express; a clock before the epoch must not panic the writer).
fn rfc3339_utc(at: SystemTime) -> String {
    // 9999-12-31T23:59:59.999Z
    const LATEST: std::time::Duration = std::time::Duration::from_millis(253_402_300_799_999);
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .min(LATEST);
    humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + since_epoch).to_string()
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use super::*;

    fn message(headers: Vec<(&str, Option<&[u8]>)>) -> Message {
        Message {
            topic: Arc::from("orders"),
            partition: 3,
            offset: 258,
            timestamp: 1_700_000_000_123,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers: headers
                .into_iter()
                .map(|(k, v)| Header {
                    key: k.to_owned(),
                    value: v.map(Bytes::copy_from_slice),
                })
                .collect(),
            leader_epoch: None,
        }
    }

    fn failure() -> Failure<'static> {
        Failure {
            group_id: "billing",
            attempts: 5,
            error_class: "PermanentError",
            error_message: "bad amount: −1",
            failed_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_096_000_250),
        }
    }

    fn pairs(headers: &[Header]) -> Vec<(String, Option<Vec<u8>>)> {
        headers
            .iter()
            .map(|h| (h.key.clone(), h.value.as_ref().map(|v| v.to_vec())))
            .collect()
    }

    fn s(k: &str, v: &str) -> (String, Option<Vec<u8>>) {
        (k.to_owned(), Some(v.as_bytes().to_vec()))
    }

    #[test]
    fn connect_style_appends_utf8_provenance_after_the_original_headers() {
        let m = message(vec![
            ("trace", Some(b"abc")),
            ("n", None),
            ("trace", Some(b"def")),
        ]);
        let got = pairs(&dead_letter_headers(&m, &failure(), HeaderStyle::Connect));
        assert_eq!(
            got,
            vec![
                s("trace", "abc"),
                ("n".to_owned(), None),
                s("trace", "def"),
                s("__connect.errors.topic", "orders"),
                s("__connect.errors.partition", "3"),
                s("__connect.errors.offset", "258"),
                s("__connect.errors.exception.class.name", "PermanentError"),
                s("__connect.errors.exception.message", "bad amount: −1"),
                s("dlq.consumer.group", "billing"),
                s("dlq.attempts", "5"),
                s("dlq.failed.at", "2025-11-25T18:40:00.250Z"),
            ]
        );
    }

    #[test]
    fn spring_style_writes_numbers_big_endian() {
        let got = pairs(&dead_letter_headers(
            &message(vec![]),
            &failure(),
            HeaderStyle::Spring,
        ));
        assert_eq!(got[0], s("kafka_dlt-original-topic", "orders"));
        assert_eq!(
            got[1],
            (
                "kafka_dlt-original-partition".to_owned(),
                Some(vec![0, 0, 0, 3])
            )
        );
        assert_eq!(
            got[2],
            (
                "kafka_dlt-original-offset".to_owned(),
                Some(vec![0, 0, 0, 0, 0, 0, 1, 2])
            )
        );
        assert_eq!(
            got[3],
            (
                "kafka_dlt-original-timestamp".to_owned(),
                Some(1_700_000_000_123i64.to_be_bytes().to_vec())
            )
        );
        assert_eq!(got[4], s("kafka_dlt-original-timestamp-type", "CreateTime"));
        assert_eq!(got[5], s("kafka_dlt-original-consumer-group", "billing"));
        assert_eq!(got[6], s("kafka_dlt-exception-fqcn", "PermanentError"));
        assert_eq!(got[7], s("kafka_dlt-exception-message", "bad amount: −1"));
        assert_eq!(got.len(), 11);
    }

    #[test]
    fn earlier_provenance_of_every_style_is_replaced_not_stacked() {
        let m = message(vec![
            ("keep", Some(b"1")),
            ("__connect.errors.topic", Some(b"older")),
            ("kafka_dlt-original-offset", Some(&[0; 8])),
            ("__streams.errors.message", Some(b"old")),
            ("dlq.attempts", Some(b"9")),
            ("dlq.replayed.from", Some(b"orders.dlq")),
            ("keep", Some(b"2")),
        ]);
        for style in [
            HeaderStyle::Connect,
            HeaderStyle::Spring,
            HeaderStyle::Streams,
        ] {
            let got = dead_letter_headers(&m, &failure(), style);
            assert_eq!(got[0].key, "keep");
            assert_eq!(got[1].key, "keep");
            assert!(got[2..].iter().all(|h| is_provenance(&h.key)), "{style:?}");
            let attempts = got.iter().filter(|h| h.key == "dlq.attempts").count();
            assert_eq!(attempts, 1, "{style:?}");
            assert!(!got.iter().any(|h| h.key == "dlq.replayed.from"));
        }
    }

    #[test]
    fn failure_times_outside_rfc3339_are_clamped_not_a_panic() {
        let before = SystemTime::UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_utc(before), "1970-01-01T00:00:00.000Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(rfc3339_utc(far), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn streams_style_follows_kip_1034_names_and_order() {
        let got = pairs(&dead_letter_headers(
            &message(vec![]),
            &failure(),
            HeaderStyle::Streams,
        ));
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "__streams.errors.exception",
                "__streams.errors.message",
                "__streams.errors.topic",
                "__streams.errors.partition",
                "__streams.errors.offset",
                "dlq.consumer.group",
                "dlq.attempts",
                "dlq.failed.at",
            ]
        );
        assert_eq!(got[3], s("__streams.errors.partition", "3"));
    }
}
