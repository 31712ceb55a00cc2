//! Heartbeat (API key 12), versions 1–4: a member tells the coordinator it is alive, and learns
//! whether a rebalance started.
//!
//! Version 1 adds the throttle time, 2 is the same as 1, 3 adds the group instance id (static
//! membership, KIP-345), 4 is the first flexible version.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Tells the coordinator this member is alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The group id.
    pub group_id: String,
    /// The generation returned by JoinGroup.
    pub generation_id: i32,
    /// This member's id.
    pub member_id: String,
    /// The static member id (v3+; ignored before), `None` when dynamic.
    pub group_instance_id: Option<String>,
}

impl WireRequest for HeartbeatRequest {
    type Response = HeartbeatResponse;
    const NAME: &'static str = "Heartbeat";
    const API_KEY: i16 = 12;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;
    const FIRST_FLEXIBLE_VERSION: i16 = 4;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.string(flexible, &self.group_id);
        e.i32(self.generation_id);
        e.string(flexible, &self.member_id);
        if version >= 3 {
            e.nullable_string(flexible, self.group_instance_id.as_deref());
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to a [`HeartbeatRequest`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Error code, 0 when none (REBALANCE_IN_PROGRESS: rejoin; ILLEGAL_GENERATION,
    /// UNKNOWN_MEMBER_ID: the membership is lost).
    pub error_code: i16,
}

impl WireResponse for HeartbeatResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = HeartbeatRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let error_code = d.i16()?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::assert_every_truncation_fails;

    const VERSIONS: std::ops::RangeInclusive<i16> =
        HeartbeatRequest::MIN_VERSION..=HeartbeatRequest::MAX_VERSION;

    /// Encodes a response the way a broker would; the flexible one carries an unknown tag.
    fn encode_response(r: &HeartbeatResponse, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        if version >= 4 {
            e.unsigned_varint(1); // one field
            e.unsigned_varint(9); // tag
            e.unsigned_varint(2); // size
            e.i8(0x5a);
            e.i8(0x5a);
        }
        buf
    }

    const SAMPLE: HeartbeatResponse = HeartbeatResponse {
        throttle_time_ms: 2,
        error_code: 27, // REBALANCE_IN_PROGRESS
    };

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&SAMPLE, version));
            let mut d = Decoder::new(&buf);
            let got = HeartbeatResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, SAMPLE, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&SAMPLE, version));
            assert_every_truncation_fails::<HeartbeatResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 7,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 7,                 // generation_id
            0, 1, b'm',                 // member_id
        ];
        assert_eq!(encode_request(1), expected);
        assert_eq!(encode_request(2), expected);
    }

    #[test]
    fn request_v3_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 7,                 // generation_id
            0, 1, b'm',                 // member_id
            0, 1, b'i',                 // group_instance_id
        ];
        assert_eq!(encode_request(3), expected);
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            0, 0, 0, 7,                 // generation_id
            2, b'm',                    // compact member_id
            2, b'i',                    // compact group_instance_id
            0,                          // tagged fields
        ];
        assert_eq!(encode_request(4), expected);
    }
}
