//! InitProducerId (API key 22), versions 0–5: a producer id and epoch for an idempotent (or
//! transactional) producer.
//!
//! 1 is the same as 0, 2 is the first flexible version, 3 adds the current producer id and
//! epoch to the request (KIP-360: bump the epoch instead of taking a new id), 4 and 5 only add
//! error codes (PRODUCER_FENCED, TRANSACTION_ABORTABLE). This crate asks for an idempotent,
//! non-transactional id: `transactional_id` null, and at v3+ producer id and epoch −1 (a fresh
//! id rather than a bump).

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks any broker for a producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// The transactional id; `None` for an idempotent producer.
    pub transactional_id: Option<String>,
    /// Transaction timeout in milliseconds (only meaningful with a transactional id).
    pub transaction_timeout_ms: i32,
    /// The current producer id (v3+), −1 for a new one.
    pub producer_id: i64,
    /// The current epoch (v3+), −1 for a new id.
    pub producer_epoch: i16,
}

impl InitProducerIdRequest {
    /// The request of an idempotent, non-transactional producer asking for a fresh id.
    pub fn idempotent() -> Self {
        Self {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: -1,
            producer_epoch: -1,
        }
    }
}

impl WireRequest for InitProducerIdRequest {
    type Response = InitProducerIdResponse;
    const NAME: &'static str = "InitProducerId";
    const API_KEY: i16 = 22;
    const MIN_VERSION: i16 = 0;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE_VERSION: i16 = 2;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.nullable_string(flexible, self.transactional_id.as_deref());
        e.i32(self.transaction_timeout_ms);
        if version >= 3 {
            e.i64(self.producer_id);
            e.i16(self.producer_epoch);
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to an [`InitProducerIdRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Error code, 0 when none.
    pub error_code: i16,
    /// The producer id, −1 on error.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
}

impl WireResponse for InitProducerIdResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = InitProducerIdRequest::is_flexible(version);
        let r = Self {
            throttle_time_ms: d.i32()?,
            error_code: d.i16()?,
            producer_id: d.i64()?,
            producer_epoch: d.i16()?,
        };
        d.tagged_fields(flexible)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        InitProducerIdRequest::MIN_VERSION..=InitProducerIdRequest::MAX_VERSION;

    fn encode_response(r: &InitProducerIdResponse, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        e.i64(r.producer_id);
        e.i16(r.producer_epoch);
        unknown_tag(&mut e, version >= 2);
        buf
    }

    fn sample() -> InitProducerIdResponse {
        InitProducerIdResponse {
            throttle_time_ms: 1,
            error_code: 0,
            producer_id: 0x0102_0304_0506,
            producer_epoch: 3,
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(), version));
            let mut d = Decoder::new(&buf);
            let got = InitProducerIdResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, sample(), "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(), version));
            assert_every_truncation_fails::<InitProducerIdResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        InitProducerIdRequest::idempotent().encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v0_and_v1_match_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0xff, 0xff,             // transactional_id: null
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms
        ];
        assert_eq!(encode_request(0), expected);
        assert_eq!(encode_request(1), expected);
    }

    #[test]
    fn request_v2_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0,                      // transactional_id: compact null
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms
            0,                      // tagged fields
        ];
        assert_eq!(encode_request(2), expected);
    }

    #[test]
    fn request_v3_to_v5_match_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0,                      // transactional_id: compact null
            0x7f, 0xff, 0xff, 0xff, // transaction_timeout_ms
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // producer_id -1
            0xff, 0xff,             // producer_epoch -1
            0,                      // tagged fields
        ];
        for version in 3..=5 {
            assert_eq!(encode_request(version), expected, "version {version}");
        }
    }
}
