//! The JSON line of one message, written straight from the borrowed [`Message`] into the
//! output buffer (no intermediate `serde_json::Value`, no serializer per field).
//!
//! Invariants: the output is byte for byte what serde_json writes for the documented object
//! (the tests hold a serde_json reference and compare against it, also on random input): the
//! keys come in the order `topic, partition, offset, timestamp, key|key_b64, value|value_b64,
//! headers`; a key or value that is not UTF-8 is written as standard base64 under the `_b64`
//! name (never both names); a header is `[key, value]` where a non-UTF-8 value is
//! `{"b64": …}` and a null one `null`; strings are escaped as serde_json escapes them (see
//! [`escape`]).

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rskafka_consumer::{Header, Message};

use super::escape::string_to;

/// Appends the JSON object of `m` (without a delimiter) to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, m: &Message) {
    let mut prefix = Vec::new();
    run_prefix(&mut prefix, m);
    message(buf, &prefix, m);
}

/// Appends the JSON objects of `run` (consecutive messages of one partition), each followed by
/// `delimiter`, to `buf`: byte for byte what [`write`] writes, with the escaped topic and the
/// partition written once per run instead of once per message.
pub(crate) fn write_run(buf: &mut Vec<u8>, run: &[Message], delimiter: &[u8]) {
    let Some(first) = run.first() else {
        return;
    };
    let mut prefix = Vec::with_capacity(first.topic.len() + 40);
    run_prefix(&mut prefix, first);
    for m in run {
        message(buf, &prefix, m);
        buf.extend_from_slice(delimiter);
    }
}

/// `{"topic":…,"partition":…,"offset":` — what every message of a run starts with.
fn run_prefix(prefix: &mut Vec<u8>, m: &Message) {
    prefix.extend_from_slice(b"{\"topic\":");
    string_to(prefix, &m.topic);
    prefix.extend_from_slice(b",\"partition\":");
    integer(prefix, i64::from(m.partition));
    prefix.extend_from_slice(b",\"offset\":");
}

/// One message's object after its run's `prefix`.
fn message(buf: &mut Vec<u8>, prefix: &[u8], m: &Message) {
    buf.extend_from_slice(prefix);
    integer(buf, m.offset);
    buf.extend_from_slice(b",\"timestamp\":");
    integer(buf, m.timestamp);
    bytes_field(buf, b",\"key\":", b",\"key_b64\":", m.key.as_deref());
    bytes_field(buf, b",\"value\":", b",\"value_b64\":", m.value.as_deref());
    if m.headers.is_empty() {
        buf.extend_from_slice(b",\"headers\":[]}");
    } else {
        buf.extend_from_slice(b",\"headers\":");
        headers(buf, &m.headers);
        buf.push(b'}');
    }
}

/// A decimal integer, as serde_json writes it.
fn integer(buf: &mut Vec<u8>, n: i64) {
    // Writing into a Vec cannot fail.
    serde_json::to_writer(buf, &n).expect("an integer always serializes to JSON");
}

/// Standard base64 of `bytes` in quotes (base64 never needs escaping).
fn base64_string(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'"');
    let start = buf.len();
    let len = base64::encoded_len(bytes.len(), true).expect("a message's length fits in usize");
    buf.resize(start + len, 0);
    STANDARD
        .encode_slice(bytes, &mut buf[start..])
        .expect("the slice is exactly the encoded length");
    buf.push(b'"');
}

/// `name` then the text, `null`, or `b64_name` then the base64 of bytes that are not UTF-8
/// (the names include their leading comma and trailing colon).
fn bytes_field(buf: &mut Vec<u8>, name: &[u8], b64_name: &[u8], bytes: Option<&[u8]>) {
    match bytes {
        None => {
            buf.extend_from_slice(name);
            buf.extend_from_slice(b"null");
        }
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => {
                buf.extend_from_slice(name);
                string_to(buf, text);
            }
            Err(_) => {
                buf.extend_from_slice(b64_name);
                base64_string(buf, b);
            }
        },
    }
}

/// `[[key, value], …]`: a value is a string, `null`, or `{"b64": …}` when not UTF-8.
fn headers(buf: &mut Vec<u8>, headers: &[Header]) {
    buf.push(b'[');
    for (i, h) in headers.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'[');
        string_to(buf, &h.key);
        buf.push(b',');
        match h.value.as_deref() {
            None => buf.extend_from_slice(b"null"),
            Some(v) => match std::str::from_utf8(v) {
                Ok(text) => string_to(buf, text),
                Err(_) => {
                    buf.extend_from_slice(b"{\"b64\":");
                    base64_string(buf, v);
                    buf.push(b'}');
                }
            },
        }
        buf.push(b']');
    }
    buf.push(b']');
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use proptest::prelude::*;
    use rskafka_consumer::TimestampType;
    use serde::{
        Serialize, Serializer,
        ser::{SerializeMap, SerializeSeq},
    };

    use super::*;
    use crate::output::tests::message;

    /// The reference: the documented object through serde_json's serializer.
    struct Reference<'a>(&'a Message);

    impl Serialize for Reference<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let m = self.0;
            let mut map = s.serialize_map(Some(7))?;
            map.serialize_entry("topic", &*m.topic)?;
            map.serialize_entry("partition", &m.partition)?;
            map.serialize_entry("offset", &m.offset)?;
            map.serialize_entry("timestamp", &m.timestamp)?;
            for (name, bytes) in [("key", &m.key), ("value", &m.value)] {
                match bytes.as_deref().map(std::str::from_utf8) {
                    None => map.serialize_entry(name, &())?,
                    Some(Ok(text)) => map.serialize_entry(name, text)?,
                    Some(Err(_)) => map.serialize_entry(
                        &format!("{name}_b64"),
                        &STANDARD.encode(bytes.as_deref().unwrap()),
                    )?,
                }
            }
            map.serialize_entry("headers", &ReferenceHeaders(&m.headers))?;
            map.end()
        }
    }

    struct ReferenceHeaders<'a>(&'a [Header]);

    impl Serialize for ReferenceHeaders<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for h in self.0 {
                let value = match h.value.as_deref().map(std::str::from_utf8) {
                    None => serde_json::Value::Null,
                    Some(Ok(text)) => text.into(),
                    Some(Err(_)) => {
                        serde_json::json!({"b64": STANDARD.encode(h.value.as_deref().unwrap())})
                    }
                };
                seq.serialize_element(&(h.key.as_str(), value))?;
            }
            seq.end()
        }
    }

    fn reference(m: &Message) -> Vec<u8> {
        serde_json::to_vec(&Reference(m)).unwrap()
    }

    fn json(m: &Message) -> String {
        let mut buf = Vec::new();
        write(&mut buf, m);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn a_run_is_written_byte_for_byte_as_its_messages_one_by_one() {
        let run = [
            message(Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]),
            message(None, None, &[]),
            message(
                Some(b"\xff"),
                Some(b"\xfe\x00bin"),
                &[("b", Some(b"\xc3")), ("n", None), ("e", Some(b""))],
            ),
            message(Some("q\"\\\n\u{1}é".as_bytes()), Some("😀".as_bytes()), &[]),
        ];
        let mut one_by_one = Vec::new();
        for m in &run {
            write(&mut one_by_one, m);
            one_by_one.extend_from_slice(b"\n");
            assert_eq!(json(m).as_bytes(), reference(m));
        }
        let mut batched = Vec::new();
        write_run(&mut batched, &run, b"\n");
        assert_eq!(
            String::from_utf8(batched).unwrap(),
            String::from_utf8(one_by_one).unwrap()
        );
    }

    #[test]
    fn text_fields_keep_the_documented_key_order() {
        let m = message(Some(b"k"), Some(b"v"), &[("h", Some(b"x"))]);
        assert_eq!(
            json(&m),
            r#"{"topic":"t","partition":3,"offset":42,"timestamp":1700000000000,"key":"k","value":"v","headers":[["h","x"]]}"#
        );
    }

    #[test]
    fn null_key_and_value_are_json_null_and_no_headers_is_an_empty_list() {
        let m = message(None, None, &[]);
        assert_eq!(
            json(&m),
            r#"{"topic":"t","partition":3,"offset":42,"timestamp":1700000000000,"key":null,"value":null,"headers":[]}"#
        );
    }

    #[test]
    fn non_utf8_key_value_and_header_are_base64() {
        let m = message(
            Some(b"\xff"),
            Some(b"\xfe\x00bin"),
            &[("b", Some(b"\xc3")), ("n", None), ("e", Some(b""))],
        );
        assert_eq!(
            json(&m),
            r#"{"topic":"t","partition":3,"offset":42,"timestamp":1700000000000,"key_b64":"/w==","value_b64":"/gBiaW4=","headers":[["b",{"b64":"ww=="}],["n",null],["e",""]]}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_json_and_parse_back() {
        let m = message(
            Some("quote\" back\\ nl\n tab\t ctl\u{1} é".as_bytes()),
            Some("😀".as_bytes()),
            &[("k\"", Some(b"\r"))],
        );
        let text = json(&m);
        assert!(!text.contains('\n'), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["key"], "quote\" back\\ nl\n tab\t ctl\u{1} é");
        assert_eq!(v["value"], "😀");
        assert_eq!(v["headers"][0][0], "k\"");
        assert_eq!(v["headers"][0][1], "\r");
    }

    /// Bytes that are often text with escapes, sometimes not UTF-8.
    fn field() -> impl Strategy<Value = Option<Vec<u8>>> {
        prop_oneof![
            1 => Just(None),
            4 => any::<String>().prop_map(|s| Some(s.into_bytes())),
            2 => "[\\x00-\\x7f]{0,80}".prop_map(|s| Some(s.into_bytes())),
            1 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
        ]
    }

    fn any_message() -> impl Strategy<Value = Message> {
        (
            "[\\x00-\\x7f]{1,20}",
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            field(),
            field(),
            proptest::collection::vec(("[\\x00-\\x7f]{0,8}|\\PC{0,4}", field()), 0..3),
        )
            .prop_map(
                |(topic, partition, offset, timestamp, key, value, headers)| Message {
                    topic: Arc::from(topic.as_str()),
                    partition,
                    offset,
                    timestamp,
                    timestamp_type: TimestampType::CreateTime,
                    key: key.map(Bytes::from),
                    value: value.map(Bytes::from),
                    headers: headers
                        .into_iter()
                        .map(|(key, value)| Header {
                            key,
                            value: value.map(Bytes::from),
                        })
                        .collect(),
                    leader_epoch: None,
                },
            )
    }

    proptest! {
        #[test]
        fn every_message_is_written_byte_for_byte_as_serde_json_writes_it(m in any_message()) {
            let mut ours = Vec::new();
            write(&mut ours, &m);
            let expected = reference(&m);
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&expected));
        }
    }
}
