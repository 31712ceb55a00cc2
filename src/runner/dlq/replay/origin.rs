//! Where a dead letter came from, read back from its provenance headers, and the headers a
//! replayed record carries.
//!
//! Invariants:
//! - The origin is read from the provenance of any style the writer (or Kafka Connect, Spring
//!   Kafka, Kafka Streams) writes: `__connect.errors.topic`/`.partition`/`.offset`,
//!   `kafka_dlt-original-topic`/`-partition` (4-byte big-endian)/`-offset` (8-byte
//!   big-endian), `__streams.errors.topic`/`.partition`/`.offset`. When several styles are
//!   present, the one whose topic header comes last (the latest dead-lettering) wins.
//! - A topic header that is absent, null, empty or not UTF-8 means no origin. A partition or
//!   offset that is absent or unreadable is `None`: only the topic is required to replay.
//! - A replayed record keeps the original headers in order without any provenance header
//!   ([`is_provenance`]) and gains one `dlq.replayed.from` = `<dlq topic>/<partition>/<offset>`.

use bytes::Bytes;

use super::super::headers::is_provenance;
use crate::{Header, Message};

/// The header a replayed record carries: where in the DLQ it was replayed from.
pub const REPLAYED_FROM: &str = "dlq.replayed.from";

/// The source a dead letter names in its provenance headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The original topic.
    pub topic: String,
    /// The original partition, when the provenance names one readably.
    pub partition: Option<i32>,
    /// The original offset, when the provenance names one readably.
    pub offset: Option<i64>,
}

/// The header names of one provenance style: (topic, partition, offset, numbers binary?).
const STYLES: [(&str, &str, &str, bool); 3] = [
    (
        "__connect.errors.topic",
        "__connect.errors.partition",
        "__connect.errors.offset",
        false,
    ),
    (
        "kafka_dlt-original-topic",
        "kafka_dlt-original-partition",
        "kafka_dlt-original-offset",
        true,
    ),
    (
        "__streams.errors.topic",
        "__streams.errors.partition",
        "__streams.errors.offset",
        false,
    ),
];

/// The origin `headers` name, if any.
pub fn origin(headers: &[Header]) -> Option<Origin> {
    // The style whose topic header comes last.
    let (at, style) = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| STYLES.iter().find(|s| s.0 == h.key).map(|s| (i, *s)))
        .next_back()?;
    let topic = headers[at]
        .value
        .as_deref()
        .and_then(|v| std::str::from_utf8(v).ok())
        .filter(|t| !t.is_empty())?
        .to_owned();
    let (_, partition_key, offset_key, binary) = style;
    let last = |key: &str| {
        headers
            .iter()
            .rev()
            .find(|h| h.key == key)
            .and_then(|h| h.value.as_deref())
    };
    let partition = last(partition_key).and_then(|v| {
        if binary {
            <[u8; 4]>::try_from(v).ok().map(i32::from_be_bytes)
        } else {
            decimal(v)
        }
    });
    let offset = last(offset_key).and_then(|v| {
        if binary {
            <[u8; 8]>::try_from(v).ok().map(i64::from_be_bytes)
        } else {
            decimal(v)
        }
    });
    Some(Origin {
        topic,
        partition: partition.filter(|p| *p >= 0),
        offset: offset.filter(|o| *o >= 0),
    })
}

fn decimal<T: std::str::FromStr>(v: &[u8]) -> Option<T> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// The headers of the replayed copy of `dead_letter` (read from the DLQ): its own without
/// provenance, then `dlq.replayed.from`.
pub fn replayed_headers(dead_letter: &Message) -> Vec<Header> {
    let mut headers: Vec<Header> = dead_letter
        .headers
        .iter()
        .filter(|h| !is_provenance(&h.key))
        .cloned()
        .collect();
    headers.push(Header {
        key: REPLAYED_FROM.to_owned(),
        value: Some(Bytes::from(format!(
            "{}/{}/{}",
            dead_letter.topic, dead_letter.partition, dead_letter.offset
        ))),
    });
    headers
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::SystemTime};

    use super::*;
    use crate::{
        TimestampType,
        runner::dlq::{HeaderStyle, headers::Failure},
    };

    fn h(key: &str, value: Option<&[u8]>) -> Header {
        Header {
            key: key.to_owned(),
            value: value.map(Bytes::copy_from_slice),
        }
    }

    fn message(topic: &str, partition: i32, offset: i64, headers: Vec<Header>) -> Message {
        Message {
            topic: Arc::from(topic),
            partition,
            offset,
            timestamp: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            headers,
            leader_epoch: None,
        }
    }

    #[test]
    fn every_style_the_writer_writes_reads_back_as_its_origin() {
        let source = message("orders", 7, 1234, vec![h("trace", Some(b"t"))]);
        let failure = Failure {
            group_id: "billing",
            attempts: 3,
            error_class: "Permanent",
            error_message: "bad",
            failed_at: SystemTime::now(),
        };
        for style in [
            HeaderStyle::Connect,
            HeaderStyle::Spring,
            HeaderStyle::Streams,
        ] {
            let headers =
                super::super::super::headers::dead_letter_headers(&source, &failure, style);
            assert_eq!(
                origin(&headers),
                Some(Origin {
                    topic: "orders".into(),
                    partition: Some(7),
                    offset: Some(1234),
                }),
                "{style:?}"
            );
        }
    }

    #[test]
    fn no_or_unreadable_topic_is_no_origin_and_bad_numbers_are_none() {
        assert_eq!(origin(&[h("trace", Some(b"t"))]), None);
        assert_eq!(origin(&[h("__connect.errors.topic", None)]), None);
        assert_eq!(origin(&[h("__connect.errors.topic", Some(b""))]), None);
        assert_eq!(
            origin(&[h("kafka_dlt-original-topic", Some(b"\xff"))]),
            None
        );
        let got = origin(&[
            h("kafka_dlt-original-topic", Some(b"orders")),
            h("kafka_dlt-original-partition", Some(b"3")),
            h("kafka_dlt-original-offset", None),
        ]);
        assert_eq!(
            got,
            Some(Origin {
                topic: "orders".into(),
                partition: None,
                offset: None,
            })
        );
        let negative = origin(&[
            h("__streams.errors.topic", Some(b"orders")),
            h("__streams.errors.partition", Some(b"-1")),
        ]);
        assert_eq!(negative.unwrap().partition, None);
    }

    #[test]
    fn the_latest_dead_lettering_wins_when_styles_are_stacked() {
        let got = origin(&[
            h("__connect.errors.topic", Some(b"first")),
            h("__connect.errors.partition", Some(b"1")),
            h("kafka_dlt-original-topic", Some(b"second")),
            h("kafka_dlt-original-partition", Some(&2i32.to_be_bytes())),
        ])
        .unwrap();
        assert_eq!((got.topic.as_str(), got.partition), ("second", Some(2)));
    }

    #[test]
    fn replayed_headers_drop_provenance_keep_order_and_say_where_from() {
        let m = message(
            "orders.dlq",
            1,
            42,
            vec![
                h("dup", Some(b"1")),
                h("__connect.errors.topic", Some(b"orders")),
                h("null", None),
                h("kafka_dlt-exception-fqcn", Some(b"X")),
                h("dup", Some(b"2")),
                h("dlq.replayed.from", Some(b"older/0/0")),
                h("dlq.attempts", Some(b"5")),
            ],
        );
        let got: Vec<(String, Option<Bytes>)> = replayed_headers(&m)
            .into_iter()
            .map(|h| (h.key, h.value))
            .collect();
        let s = |k: &str, v: Option<&'static [u8]>| (k.to_owned(), v.map(Bytes::from_static));
        assert_eq!(
            got,
            vec![
                s("dup", Some(b"1")),
                s("null", None),
                s("dup", Some(b"2")),
                s("dlq.replayed.from", Some(b"orders.dlq/1/42")),
            ]
        );
    }
}
