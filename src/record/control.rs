//! Control records: the COMMIT/ABORT markers that end a transaction.
//!
//! The marker lives in the control record's **key**: int16 version, int16 type (0 = ABORT,
//! 1 = COMMIT). The value (version, coordinator epoch) is not needed by a consumer.

use bytes::Bytes;

use super::{ControlType, RecordError};

/// Parses the key of a control record, as the Java client does: a negative version or a key
/// shorter than 4 bytes is corrupt; newer versions are read by their leading type field.
pub(crate) fn parse_key(base_offset: i64, key: Option<&Bytes>) -> Result<ControlType, RecordError> {
    let malformed = |reason: String| RecordError::malformed(base_offset, "control record", reason);
    let key = key.ok_or_else(|| malformed("control record has a null key".to_owned()))?;
    let (Some(version), Some(kind)) = (key.get(0..2), key.get(2..4)) else {
        return Err(malformed(format!(
            "control record key has {} bytes, needs 4",
            key.len()
        )));
    };
    let version = i16::from_be_bytes([version[0], version[1]]);
    if version < 0 {
        return Err(malformed(format!(
            "negative control record version {version}"
        )));
    }
    Ok(match i16::from_be_bytes([kind[0], kind[1]]) {
        0 => ControlType::Abort,
        1 => ControlType::Commit,
        other => ControlType::Other(other),
    })
}
