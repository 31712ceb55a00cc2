//! JSON string escaping for the output path, byte for byte as serde_json escapes.
//!
//! Invariants: only `"`, `\` and the control characters below U+0020 are escaped — `\b \t \n
//! \f \r` by their short forms, `"` and `\` by a backslash, every other control character as
//! `\u00XX` with lowercase hex; everything else (DEL and all non-ASCII) is copied as it is. The
//! scan for those bytes looks at 16 bytes at a time without branching inside the block, so
//! text without escapes (the common case) costs about a vectorised pass and one copy.

/// Bytes scanned together for an escape.
const BLOCK: usize = 16;

/// Appends `text` as a quoted JSON string.
pub(crate) fn string_to(buf: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    while let Some(at) = find_escape(bytes, start) {
        buf.extend_from_slice(&bytes[start..at]);
        escape(buf, bytes[at]);
        start = at + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Whether `b` must be escaped inside a JSON string.
#[inline(always)]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The index of the first byte at or after `from` that must be escaped.
fn find_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = &bytes[from..];
    let mut blocks = rest.chunks_exact(BLOCK);
    let mut at = from;
    for block in &mut blocks {
        // No early exit inside the block: the compiler makes it a few vector compares.
        let hit = block
            .iter()
            .fold(0u8, |acc, &b| acc | u8::from(needs_escape(b)));
        if hit != 0 {
            return block.iter().position(|&b| needs_escape(b)).map(|i| at + i);
        }
        at += BLOCK;
    }
    blocks
        .remainder()
        .iter()
        .position(|&b| needs_escape(b))
        .map(|i| at + i)
}

/// The escape of one byte that [`needs_escape`].
fn escape(buf: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        b'\t' => b't',
        b'\n' => b'n',
        0x0c => b'f',
        b'\r' => b'r',
        _ => {
            let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
            buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex[0], hex[1]]);
            return;
        }
    };
    buf.extend_from_slice(&[b'\\', short]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ours(text: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        string_to(&mut buf, text);
        buf
    }

    #[test]
    fn every_byte_below_0x80_is_escaped_as_serde_json_escapes_it() {
        for b in 0u8..0x80 {
            let text = format!("a{}b", char::from(b));
            assert_eq!(
                ours(&text),
                serde_json::to_vec(&text).unwrap(),
                "byte {b:#04x}"
            );
        }
    }

    #[test]
    fn escapes_are_found_in_every_position_of_a_block_and_the_tail() {
        for len in 0..3 * BLOCK + 3 {
            for at in 0..len {
                let mut text = vec![b'x'; len];
                text[at] = b'"';
                let text = String::from_utf8(text).unwrap();
                assert_eq!(
                    ours(&text),
                    serde_json::to_vec(&text).unwrap(),
                    "{len} {at}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_text_is_escaped_byte_for_byte_as_serde_json_escapes_it(text in any::<String>()) {
            prop_assert_eq!(ours(&text), serde_json::to_vec(&text).unwrap());
        }

        #[test]
        fn ascii_with_many_escapes_is_escaped_as_serde_json_escapes_it(
            text in "[\\x00-\\x7f]{0,200}"
        ) {
            prop_assert_eq!(ours(&text), serde_json::to_vec(&text).unwrap());
        }
    }
}
