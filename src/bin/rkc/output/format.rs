//! kcat's output format (`-f`, and `-D`/`-K` without `-f`), so `rkc consume` can stand in for
//! `kcat -C`.
//!
//! Invariants, as kcat 1.7 (format.c, kcat.c) behaves, so that output is byte for byte the same:
//! - Tokens: `%t` topic, `%p` partition, `%o` offset, `%k` key, `%K` key length, `%s` value,
//!   `%S` value length, `%R` value length as a big-endian 32-bit integer, `%T` timestamp (ms),
//!   `%h` headers as `k=v,k=v` (a null header value is `NULL`, an empty one nothing; keys and
//!   values end at their first NUL byte, as C strings), `%%` a percent sign. A length is `-1`
//!   for null. Any other `%x`, or a trailing `%`, is an error.
//! - `%k`/`%s` print the bytes as they are; a null *or empty* key/value prints nothing, or the
//!   null string under `-Z`.
//! - Literal text takes `\n`, `\r`, `\t`, `\xHH` (hex), `\NNN` (C `strtoul` base 0: decimal,
//!   `0…` octal, `0x…` hex; the value truncated to a byte) and `\c` for any other `c`; a literal
//!   ends at the first NUL byte it produces (kcat keeps C strings).
//! - `-D`/`-K` delimiters take `\n`, `\t` and `\xHH`; without `-f` the format is
//!   `%k<K>%s<D>` with `-K`, else `%s<D>`, parsed like any format (default `D` is `\n`).

use std::io::Write as _;

use rskafka_consumer::Message;

/// A format string or delimiter kcat would refuse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FormatError {
    /// The format ends in a lone `%`.
    #[error("the format ends with a lone `%`")]
    EmptyToken,
    /// `%` followed by something that is not a token.
    #[error("unsupported format token `%{0}` (use %t %p %o %k %K %s %S %R %T %h %%)")]
    UnsupportedToken(char),
    /// `\x` in a delimiter without a hex number after it.
    #[error("`\\x` in a delimiter must be followed by a hex number")]
    DelimiterExpectsHex,
}

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    Topic,
    Partition,
    Offset,
    Key,
    KeyLen,
    Value,
    ValueLen,
    ValueLenBinary,
    Timestamp,
    Headers,
}

/// A parsed kcat format: how one message becomes bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KcatFormat {
    tokens: Vec<Token>,
}

impl KcatFormat {
    /// Parses a `-f` format string.
    pub(crate) fn parse(format: &[u8]) -> Result<Self, FormatError> {
        let mut tokens = Vec::new();
        let mut rest = format;
        while !rest.is_empty() {
            let Some(at) = rest.iter().position(|&b| b == b'%') else {
                push_literal(&mut tokens, rest);
                break;
            };
            push_literal(&mut tokens, &rest[..at]);
            let token = match rest.get(at + 1) {
                None => return Err(FormatError::EmptyToken),
                Some(b't') => Token::Topic,
                Some(b'p') => Token::Partition,
                Some(b'o') => Token::Offset,
                Some(b'k') => Token::Key,
                Some(b'K') => Token::KeyLen,
                Some(b's') => Token::Value,
                Some(b'S') => Token::ValueLen,
                Some(b'R') => Token::ValueLenBinary,
                Some(b'T') => Token::Timestamp,
                Some(b'h') => Token::Headers,
                Some(b'%') => Token::Literal(b"%".to_vec()),
                Some(&other) => return Err(FormatError::UnsupportedToken(char::from(other))),
            };
            tokens.push(token);
            rest = &rest[at + 2..];
        }
        Ok(Self { tokens })
    }

    /// The format kcat uses without `-f`: `%k<key_delim>%s<delim>` or `%s<delim>`, where the
    /// delimiters are already decoded by [`parse_delimiter`].
    pub(crate) fn from_delimiters(
        key_delimiter: Option<&[u8]>,
        delimiter: &[u8],
    ) -> Result<Self, FormatError> {
        let mut format = Vec::new();
        if let Some(key_delimiter) = key_delimiter {
            format.extend_from_slice(b"%k");
            format.extend_from_slice(key_delimiter);
        }
        format.extend_from_slice(b"%s");
        format.extend_from_slice(delimiter);
        Self::parse(&format)
    }

    /// Appends `m` in this format to `buf`; `null` replaces a null or empty key/value (`-Z`).
    pub(crate) fn write(&self, buf: &mut Vec<u8>, m: &Message, null: Option<&[u8]>) {
        for token in &self.tokens {
            match token {
                Token::Literal(bytes) => buf.extend_from_slice(bytes),
                Token::Topic => buf.extend_from_slice(m.topic.as_bytes()),
                Token::Partition => number(buf, i64::from(m.partition)),
                Token::Offset => number(buf, m.offset),
                Token::Timestamp => number(buf, m.timestamp),
                Token::Key => bytes_or_null(buf, m.key.as_deref(), null),
                Token::Value => bytes_or_null(buf, m.value.as_deref(), null),
                Token::KeyLen => number(buf, length(m.key.as_deref())),
                Token::ValueLen => number(buf, length(m.value.as_deref())),
                Token::ValueLenBinary => {
                    // kcat writes the length as a 32-bit integer, -1 for null.
                    let len = length(m.value.as_deref()) as i32;
                    buf.extend_from_slice(&len.to_be_bytes());
                }
                Token::Headers => {
                    for (i, h) in m.headers.iter().enumerate() {
                        if i > 0 {
                            buf.push(b',');
                        }
                        buf.extend_from_slice(up_to_nul(h.key.as_bytes()));
                        buf.push(b'=');
                        match h.value.as_deref() {
                            Some(v) => buf.extend_from_slice(up_to_nul(v)),
                            None => buf.extend_from_slice(b"NULL"),
                        }
                    }
                }
            }
        }
    }
}

fn number(buf: &mut Vec<u8>, n: i64) {
    // Writing into a Vec cannot fail.
    let _ = write!(buf, "{n}");
}

/// kcat prints header keys and values with `%s`-style C formatting: up to the first NUL.
fn up_to_nul(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |nul| &bytes[..nul])
}

fn length(bytes: Option<&[u8]>) -> i64 {
    bytes.map_or(-1, |b| b.len() as i64)
}

fn bytes_or_null(buf: &mut Vec<u8>, bytes: Option<&[u8]>, null: Option<&[u8]>) {
    match bytes {
        Some(b) if !b.is_empty() => buf.extend_from_slice(b),
        _ => buf.extend_from_slice(null.unwrap_or_default()),
    }
}

/// Adds a literal piece (after decoding its backslash escapes), unless it is empty.
fn push_literal(tokens: &mut Vec<Token>, raw: &[u8]) {
    let mut text = unescape(raw);
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    if !text.is_empty() {
        tokens.push(Token::Literal(text));
    }
}

/// kcat's escapes in literal format text (see the module invariants).
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' || i + 1 == raw.len() {
            out.push(b);
            i += 1;
            continue;
        }
        i += 1;
        let base = match raw[i] {
            b't' => {
                out.push(b'\t');
                i += 1;
                continue;
            }
            b'n' => {
                out.push(b'\n');
                i += 1;
                continue;
            }
            b'r' => {
                out.push(b'\r');
                i += 1;
                continue;
            }
            b'x' => {
                i += 1;
                if i == raw.len() {
                    break; // kcat reads the string's terminator here: nothing more is printed
                }
                16
            }
            _ => 0,
        };
        if raw[i].is_ascii_digit() {
            let (value, used) = strtoul(&raw[i..], base);
            out.push(value as u8);
            i += used;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// C's `strtoul` on text that starts with a digit: (value, bytes used). Base 0 picks hex for
/// `0x`, octal for a leading `0`, else decimal; base 16 also skips a `0x` prefix. Overflow
/// saturates, as strtoul's `ULONG_MAX`.
fn strtoul(text: &[u8], base: u32) -> (u64, usize) {
    let hex_prefix = text.len() > 2
        && text[0] == b'0'
        && (text[1] | 0x20) == b'x'
        && text[2].is_ascii_hexdigit();
    let (radix, start) = match base {
        16 if hex_prefix => (16, 2),
        0 if hex_prefix => (16, 2),
        0 if text[0] == b'0' => (8, 0),
        0 => (10, 0),
        b => (b, 0),
    };
    let mut value: u64 = 0;
    let mut i = start;
    while let Some(d) = text.get(i).and_then(|&c| char::from(c).to_digit(radix)) {
        value = value
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(d));
        i += 1;
    }
    (value, i)
}

/// Decodes a `-D`/`-K` delimiter as kcat does: `\n`, `\t` and `\xHH` (each replaced in turn, the
/// first `\n` anywhere before any `\t`, before any `\x`); it ends at a NUL byte.
pub(crate) fn parse_delimiter(text: &str) -> Result<Vec<u8>, FormatError> {
    let mut s = text.as_bytes().to_vec();
    loop {
        if let Some(i) = find(&s, b"\\n") {
            s.splice(i..i + 2, [b'\n']);
        } else if let Some(i) = find(&s, b"\\t") {
            s.splice(i..i + 2, [b'\t']);
        } else if let Some(i) = find(&s, b"\\x") {
            let digits = s[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if digits == 0 {
                return Err(FormatError::DelimiterExpectsHex);
            }
            let (value, _) = strtoul(&s[i + 2..i + 2 + digits], 16);
            s.splice(i..i + 2 + digits, [(value & 0xff) as u8]);
        } else {
            break;
        }
    }
    if let Some(nul) = s.iter().position(|&b| b == 0) {
        s.truncate(nul);
    }
    Ok(s)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::message;

    fn render(format: &str, m: &Message, null: Option<&[u8]>) -> Vec<u8> {
        let mut buf = Vec::new();
        KcatFormat::parse(format.as_bytes())
            .unwrap()
            .write(&mut buf, m, null);
        buf
    }

    #[test]
    fn every_token_prints_its_field() {
        let m = message(
            Some(b"key"),
            Some(b"value"),
            &[("a", Some(b"1")), ("b", None)],
        );
        assert_eq!(
            render("%t|%p|%o|%k|%K|%s|%S|%T|%h|%%\n", &m, None),
            b"t|3|42|key|3|value|5|1700000000000|a=1,b=NULL|%\n"
        );
        assert_eq!(render("%R", &m, None), 5i32.to_be_bytes());
    }

    #[test]
    fn null_and_empty_keys_and_values_print_nothing_or_the_null_string() {
        let null = message(None, None, &[]);
        assert_eq!(
            render("[%k][%s][%K][%S][%h]", &null, None),
            b"[][][-1][-1][]"
        );
        assert_eq!(render("%R", &null, None), (-1i32).to_be_bytes());
        assert_eq!(render("[%k][%s]", &null, Some(b"NULL")), b"[NULL][NULL]");
        // kcat tests the length, not the pointer: empty prints the null string too.
        let empty = message(Some(b""), Some(b""), &[("e", Some(b""))]);
        assert_eq!(
            render("[%k][%s][%K][%S][%h]", &empty, None),
            b"[][][0][0][e=]"
        );
        assert_eq!(render("[%k][%s]", &empty, Some(b"NULL")), b"[NULL][NULL]");
    }

    #[test]
    fn binary_bytes_are_written_as_they_are() {
        let m = message(
            Some(b"\xff\n"),
            Some(b"\x00\xfe"),
            &[("b", Some(b"\xc3")), ("z", Some(b"\xff\x00\xfe"))],
        );
        // Header values end at a NUL byte, as kcat prints them with C formatting.
        assert_eq!(
            render("%k %s %h", &m, None),
            b"\xff\n \x00\xfe b=\xc3,z=\xff"
        );
    }

    #[test]
    fn literal_escapes_follow_kcat() {
        let m = message(None, None, &[]);
        assert_eq!(render(r"a\tb\nc\rd", &m, None), b"a\tb\nc\rd");
        assert_eq!(render(r"\x41\65\0101\x0a", &m, None), b"AAA\n");
        // strtoul reads every digit of the base: the value is truncated to a byte.
        assert_eq!(render(r"\x4142", &m, None), b"\x42");
        // `\x` needs a decimal digit first (kcat's check), else the letter is kept.
        assert_eq!(render(r"\xff", &m, None), b"ff");
        assert_eq!(render(r"\q\\", &m, None), b"q\\");
        assert_eq!(render(r"end\", &m, None), b"end\\");
        // A NUL ends the literal (C strings).
        assert_eq!(render(r"ab\0cd%o", &m, None), b"ab42");
    }

    #[test]
    fn bad_tokens_are_errors() {
        assert_eq!(KcatFormat::parse(b"%s%"), Err(FormatError::EmptyToken));
        assert_eq!(
            KcatFormat::parse(b"%x"),
            Err(FormatError::UnsupportedToken('x'))
        );
    }

    #[test]
    fn delimiters_decode_newline_tab_and_hex() {
        assert_eq!(parse_delimiter("").unwrap(), b"");
        assert_eq!(parse_delimiter(r"\n").unwrap(), b"\n");
        assert_eq!(parse_delimiter(r"\t\n\n").unwrap(), b"\t\n\n");
        assert_eq!(parse_delimiter(r"\x54!\x45\x53T").unwrap(), b"T!EST");
        assert_eq!(parse_delimiter(r"\x30").unwrap(), b"0");
        assert_eq!(parse_delimiter(r"--\x2C").unwrap(), b"--,");
        assert_eq!(
            parse_delimiter(r"\xzz"),
            Err(FormatError::DelimiterExpectsHex)
        );
    }

    #[test]
    fn without_a_format_delimiters_build_kcats_default() {
        let m = message(Some(b"k"), Some(b"v"), &[]);
        let mut buf = Vec::new();
        KcatFormat::from_delimiters(None, b"\n")
            .unwrap()
            .write(&mut buf, &m, None);
        KcatFormat::from_delimiters(Some(b"\t"), b";;")
            .unwrap()
            .write(&mut buf, &m, None);
        assert_eq!(buf, b"v\nk\tv;;");
    }
}
