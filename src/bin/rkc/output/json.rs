//! The JSON line of one message, serialized straight from the borrowed [`Message`] (no
//! intermediate `serde_json::Value`).
//!
//! Invariants: the keys come in the documented order `topic, partition, offset, timestamp,
//! key|key_b64, value|value_b64, headers`; a key or value that is not UTF-8 is written as
//! standard base64 under the `_b64` name (never both names); a header is `[key, value]` where a
//! non-UTF-8 value is `{"b64": …}` and a null one `null`; all string escaping is serde_json's.

use base64::{display::Base64Display, engine::general_purpose::STANDARD};
use rskafka_consumer::{Header, Message};
use serde::{
    Serialize, Serializer,
    ser::{SerializeMap, SerializeSeq},
};

/// Appends the JSON object of `m` (without a delimiter) to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, m: &Message) {
    // Writing into a Vec cannot fail, and every value here is serializable.
    serde_json::to_writer(buf, &JsonMessage(m)).expect("a message always serializes to JSON");
}

/// Appends the JSON objects of `run` (consecutive messages of one partition), each followed by
/// `delimiter`, to `buf`: byte for byte what [`write`] writes, with the escaped topic and the
/// partition written once per run instead of once per message.
pub(crate) fn write_run(buf: &mut Vec<u8>, run: &[Message], delimiter: &[u8]) {
    let Some(first) = run.first() else {
        return;
    };
    let mut prefix = Vec::with_capacity(first.topic.len() + 40);
    prefix.extend_from_slice(b"{\"topic\":");
    json_to(&mut prefix, &*first.topic);
    prefix.extend_from_slice(b",\"partition\":");
    json_to(&mut prefix, &first.partition);
    prefix.extend_from_slice(b",\"offset\":");
    for m in run {
        buf.extend_from_slice(&prefix);
        json_to(buf, &m.offset);
        buf.extend_from_slice(b",\"timestamp\":");
        json_to(buf, &m.timestamp);
        bytes_field(buf, b",\"key\":", b",\"key_b64\":", m.key.as_deref());
        bytes_field(buf, b",\"value\":", b",\"value_b64\":", m.value.as_deref());
        if m.headers.is_empty() {
            buf.extend_from_slice(b",\"headers\":[]}");
        } else {
            buf.extend_from_slice(b",\"headers\":");
            json_to(buf, &Headers(&m.headers));
            buf.push(b'}');
        }
        buf.extend_from_slice(delimiter);
    }
}

/// Appends `value` as JSON (serde_json's escaping and number formatting).
fn json_to<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and every value here is serializable.
    serde_json::to_writer(buf, value).expect("always serializes to JSON");
}

/// Appends `text` as a JSON string: byte for byte serde_json's, which escapes only `"`, `\\`
/// and control characters below U+0020; text without them (the common case) is copied in one
/// go instead of being scanned for escapes character by character.
fn string_to(buf: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.reserve(text.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'"');
    } else {
        json_to(buf, text);
    }
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
                json_to(buf, &Base64(b));
            }
        },
    }
}

struct JsonMessage<'a>(&'a Message);

impl Serialize for JsonMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(Some(7))?;
        map.serialize_entry("topic", &*m.topic)?;
        map.serialize_entry("partition", &m.partition)?;
        map.serialize_entry("offset", &m.offset)?;
        map.serialize_entry("timestamp", &m.timestamp)?;
        bytes_entry(&mut map, "key", "key_b64", m.key.as_deref())?;
        bytes_entry(&mut map, "value", "value_b64", m.value.as_deref())?;
        map.serialize_entry("headers", &Headers(&m.headers))?;
        map.end()
    }
}

/// `name: "text"`, `name: null`, or `b64_name: "base64"` when the bytes are not UTF-8.
fn bytes_entry<M: SerializeMap>(
    map: &mut M,
    name: &'static str,
    b64_name: &'static str,
    bytes: Option<&[u8]>,
) -> Result<(), M::Error> {
    match bytes {
        None => map.serialize_entry(name, &()),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => map.serialize_entry(name, text),
            Err(_) => map.serialize_entry(b64_name, &Base64(b)),
        },
    }
}

/// Bytes as a standard-base64 JSON string, encoded while writing.
struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

/// `[[key, value], …]`.
struct Headers<'a>(&'a [Header]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&(h.key.as_str(), HeaderValue(h.value.as_deref())))?;
        }
        seq.end()
    }
}

/// A header value: a string, `null`, or `{"b64": …}` when not UTF-8.
struct HeaderValue<'a>(Option<&'a [u8]>);

impl Serialize for HeaderValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            None => s.serialize_unit(),
            Some(v) => match std::str::from_utf8(v) {
                Ok(text) => s.serialize_str(text),
                Err(_) => {
                    let mut map = s.serialize_map(Some(1))?;
                    map.serialize_entry("b64", &Base64(v))?;
                    map.end()
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::message;

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
        }
        let mut batched = Vec::new();
        write_run(&mut batched, &run, b"\n");
        assert_eq!(
            String::from_utf8(batched).unwrap(),
            String::from_utf8(one_by_one).unwrap()
        );
    }

    #[test]
    fn strings_without_escapes_are_copied_exactly_as_serde_json_writes_them() {
        for text in [
            "",
            "value-7",
            "é😀 \u{7f}",
            "a\"b",
            "back\\slash",
            "nl\n",
            "\u{1f}x",
        ] {
            let mut ours = Vec::new();
            string_to(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
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
}
