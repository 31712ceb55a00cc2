//! FindCoordinator (API key 10), versions 1–4: the broker that coordinates a group (or a
//! transactional id).
//!
//! Version 0 was removed by Kafka 4.0 (KIP-896); 1 adds the key type, the throttle time and the
//! error message, 2 is the same as 1, 3 is the first flexible version. 4 batches the lookup
//! (KIP-699): the request carries a `CoordinatorKeys` array instead of the single `Key`, and the
//! response a `Coordinators` array, one entry per key, each with its own error. This crate sends a
//! single key at every version. Versions 5 (TRANSACTION_ABORTABLE, KIP-890) and 6 (share groups,
//! KIP-932) add nothing a classic consumer needs and are not spoken here.
//!
//! The response is normalized to the batched shape: at versions 1–3 it holds exactly one
//! [`Coordinator`], whose `key` is empty because the broker does not echo it; use
//! [`FindCoordinatorResponse::coordinator`] to look the answer up either way.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// `key_type` of a consumer group id.
pub const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transactional id.
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// Asks any broker which broker coordinates `key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// The group id or transactional id.
    pub key: String,
    /// [`KEY_TYPE_GROUP`] or [`KEY_TYPE_TRANSACTION`].
    pub key_type: i8,
}

impl WireRequest for FindCoordinatorRequest {
    type Response = FindCoordinatorResponse;
    const NAME: &'static str = "FindCoordinator";
    const API_KEY: i16 = 10;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;
    const FIRST_FLEXIBLE_VERSION: i16 = 3;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        if version <= 3 {
            e.string(flexible, &self.key);
        }
        e.i8(self.key_type);
        if version >= 4 {
            e.array_len(flexible, Some(1));
            e.string(flexible, &self.key);
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to a [`FindCoordinatorRequest`], in the batched (v4) shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// One entry per requested key (exactly one at versions 1–3).
    pub coordinators: Vec<Coordinator>,
}

impl FindCoordinatorResponse {
    /// The entry for `key`: the one whose key matches, or at versions 1–3 the single entry
    /// (whose key is empty).
    pub fn coordinator(&self, key: &str) -> Option<&Coordinator> {
        self.coordinators
            .iter()
            .find(|c| c.key == key)
            .or_else(|| self.coordinators.iter().find(|c| c.key.is_empty()))
    }
}

/// The coordinator of one key, or the error that prevented finding it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coordinator {
    /// The key this entry answers (v4+); empty at versions 1–3, where the broker does not echo
    /// it and the entry answers the request's only key.
    pub key: String,
    /// Broker id of the coordinator, −1 on error.
    pub node_id: i32,
    /// Host name of the coordinator, empty on error.
    pub host: String,
    /// Port of the coordinator, −1 on error.
    pub port: i32,
    /// Error code, 0 when none (e.g. COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` is
    /// being created).
    pub error_code: i16,
    /// The broker's error message, if any.
    pub error_message: Option<String>,
}

impl WireResponse for FindCoordinatorResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = FindCoordinatorRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let coordinators = if version >= 4 {
            d.array_of(flexible, |d| {
                let c = Coordinator {
                    key: d.string(flexible)?.to_owned(),
                    node_id: d.i32()?,
                    host: d.string(flexible)?.to_owned(),
                    port: d.i32()?,
                    error_code: d.i16()?,
                    error_message: d.nullable_string(flexible)?.map(str::to_owned),
                };
                d.tagged_fields(flexible)?;
                Ok(c)
            })?
        } else {
            let error_code = d.i16()?;
            let error_message = d.nullable_string(flexible)?.map(str::to_owned);
            vec![Coordinator {
                key: String::new(),
                node_id: d.i32()?,
                host: d.string(flexible)?.to_owned(),
                port: d.i32()?,
                error_code,
                error_message,
            }]
        };
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            coordinators,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        FindCoordinatorRequest::MIN_VERSION..=FindCoordinatorRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &FindCoordinatorResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 3;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        if version >= 4 {
            e.array_len(flexible, Some(r.coordinators.len()));
            for c in &r.coordinators {
                e.string(flexible, &c.key);
                e.i32(c.node_id);
                e.string(flexible, &c.host);
                e.i32(c.port);
                e.i16(c.error_code);
                e.nullable_string(flexible, c.error_message.as_deref());
                unknown_tag(&mut e, flexible);
            }
        } else {
            let c = &r.coordinators[0];
            e.i16(c.error_code);
            e.nullable_string(flexible, c.error_message.as_deref());
            e.i32(c.node_id);
            e.string(flexible, &c.host);
            e.i32(c.port);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> FindCoordinatorResponse {
        let ok = Coordinator {
            key: if version >= 4 {
                "g".into()
            } else {
                String::new()
            },
            node_id: 2,
            host: "broker-2".into(),
            port: 9092,
            error_code: 0,
            error_message: None,
        };
        let mut coordinators = vec![ok];
        if version >= 4 {
            coordinators.push(Coordinator {
                key: "h".into(),
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: 15, // COORDINATOR_NOT_AVAILABLE
                error_message: Some("not yet".into()),
            });
        }
        FindCoordinatorResponse {
            throttle_time_ms: 4,
            coordinators,
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = FindCoordinatorResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
            assert_eq!(
                got.coordinator("g").unwrap().node_id,
                2,
                "version {version}"
            );
        }
    }

    #[test]
    fn an_error_at_v1_keeps_its_message() {
        let expected = FindCoordinatorResponse {
            throttle_time_ms: 0,
            coordinators: vec![Coordinator {
                key: String::new(),
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: 15,
                error_message: Some("The coordinator is not available.".into()),
            }],
        };
        let buf = Bytes::from(encode_response(&expected, 1));
        let got = FindCoordinatorResponse::decode(&mut Decoder::new(&buf), 1).unwrap();
        assert_eq!(got, expected);
    }

    #[test]
    fn v4_lookup_is_by_key() {
        let r = sample(4);
        assert_eq!(r.coordinator("h").unwrap().error_code, 15);
        assert!(r.coordinator("x").is_none());
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<FindCoordinatorResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = FindCoordinatorRequest {
            key: "grp".into(),
            key_type: KEY_TYPE_GROUP,
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 3, b'g', b'r', b'p', // key
            0,                      // key_type: group
        ];
        assert_eq!(encode_request(1), expected);
        assert_eq!(encode_request(2), expected);
    }

    #[test]
    fn request_v3_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            4, b'g', b'r', b'p',    // compact key
            0,                      // key_type: group
            0,                      // tagged fields
        ];
        assert_eq!(encode_request(3), expected);
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0,                      // key_type: group
            2,                      // coordinator_keys: compact 1
            4, b'g', b'r', b'p',    // compact key
            0,                      // tagged fields
        ];
        assert_eq!(encode_request(4), expected);
    }
}
