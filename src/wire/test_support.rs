//! Helpers the wire messages' unit tests share.

use bytes::Bytes;

use super::{Decoder, Encoder, WireResponse};

/// Writes an unknown tagged field (tag 9, two bytes), as a newer broker might add to any
/// flexible structure; decoders must skip it. Writes nothing for classic versions.
pub(crate) fn unknown_tag(e: &mut Encoder<'_>, flexible: bool) {
    if flexible {
        e.unsigned_varint(1); // one field
        e.unsigned_varint(9); // tag
        e.unsigned_varint(2); // size
        e.i8(0x5a);
        e.i8(0x5a);
    }
}

/// Asserts that every strict prefix of a valid response fails to decode at `version` (an
/// error, never a panic).
pub(crate) fn assert_every_truncation_fails<T: WireResponse>(buf: &Bytes, version: i16) {
    for cut in 0..buf.len() {
        let truncated = buf.slice(..cut);
        assert!(
            T::decode(&mut Decoder::new(&truncated), version).is_err(),
            "version {version} cut {cut}"
        );
    }
}
