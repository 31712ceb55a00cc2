//! SyncGroup (API key 14), versions 1–5: the leader hands out the assignment, every member
//! receives its own, the second step of a rebalance.
//!
//! Version 1 adds the throttle time, 2 is the same as 1, 3 adds the group instance id (static
//! membership, KIP-345), 4 is the first flexible version, 5 carries the protocol type and name
//! both ways (KIP-559): the coordinator rejects a request whose type or name disagree with the
//! group's (INCONSISTENT_GROUP_PROTOCOL).

use bytes::Bytes;

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks the coordinator for this member's assignment; the leader also sends everyone's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The generation returned by JoinGroup.
    pub generation_id: i32,
    /// This member's id.
    pub member_id: String,
    /// The static member id (v3+; ignored before), `None` when dynamic.
    pub group_instance_id: Option<String>,
    /// The protocol type from JoinGroup, e.g. "consumer" (v5+; ignored before).
    pub protocol_type: Option<String>,
    /// The protocol name selected in JoinGroup (v5+; ignored before).
    pub protocol_name: Option<String>,
    /// The assignment of every member (leader only; empty for followers).
    pub assignments: Vec<SyncGroupAssignment>,
}

/// The assignment of one member, computed by the leader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupAssignment {
    /// The member id.
    pub member_id: String,
    /// Its assignment (for consumers: the ConsumerProtocol assignment).
    pub assignment: Bytes,
}

impl WireRequest for SyncGroupRequest {
    type Response = SyncGroupResponse;
    const NAME: &'static str = "SyncGroup";
    const API_KEY: i16 = 14;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE_VERSION: i16 = 4;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.string(flexible, &self.group_id);
        e.i32(self.generation_id);
        e.string(flexible, &self.member_id);
        if version >= 3 {
            e.nullable_string(flexible, self.group_instance_id.as_deref());
        }
        if version >= 5 {
            e.nullable_string(flexible, self.protocol_type.as_deref());
            e.nullable_string(flexible, self.protocol_name.as_deref());
        }
        e.array_len(flexible, Some(self.assignments.len()));
        for a in &self.assignments {
            e.string(flexible, &a.member_id);
            e.nullable_bytes(flexible, Some(&a.assignment));
            e.tagged_fields(flexible);
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to a [`SyncGroupRequest`]: this member's assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Error code, 0 when none (e.g. REBALANCE_IN_PROGRESS: join again).
    pub error_code: i16,
    /// The group's protocol type (v5+), `None` before or when unknown.
    pub protocol_type: Option<String>,
    /// The group's protocol name (v5+), `None` before or when unknown.
    pub protocol_name: Option<String>,
    /// This member's assignment, empty when none. A zero-copy slice of the response frame.
    pub assignment: Bytes,
}

impl WireResponse for SyncGroupResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = SyncGroupRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let error_code = d.i16()?;
        let (protocol_type, protocol_name) = if version >= 5 {
            (
                d.nullable_string(flexible)?.map(str::to_owned),
                d.nullable_string(flexible)?.map(str::to_owned),
            )
        } else {
            (None, None)
        };
        let at = d.position();
        let assignment = d
            .nullable_shared_bytes(flexible)?
            .ok_or(DecodeError::InvalidLength {
                what: "bytes",
                len: -1,
                at,
            })?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            protocol_type,
            protocol_name,
            assignment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        SyncGroupRequest::MIN_VERSION..=SyncGroupRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &SyncGroupResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 4;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        if version >= 5 {
            e.nullable_string(flexible, r.protocol_type.as_deref());
            e.nullable_string(flexible, r.protocol_name.as_deref());
        }
        e.nullable_bytes(flexible, Some(&r.assignment));
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> SyncGroupResponse {
        SyncGroupResponse {
            throttle_time_ms: 6,
            error_code: 0,
            protocol_type: (version >= 5).then(|| "consumer".into()),
            protocol_name: (version >= 5).then(|| "range".into()),
            assignment: Bytes::from_static(b"\x00\x03assignment"),
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = SyncGroupResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
            let input = buf.as_ptr_range();
            let slice = got.assignment.as_ptr_range();
            assert!(
                input.start <= slice.start && slice.end <= input.end,
                "copied"
            );
        }
    }

    #[test]
    fn error_with_null_protocol_and_empty_assignment_decodes() {
        let expected = SyncGroupResponse {
            error_code: 27, // REBALANCE_IN_PROGRESS
            ..SyncGroupResponse::default()
        };
        let buf = Bytes::from(encode_response(&expected, 5));
        assert_eq!(
            SyncGroupResponse::decode(&mut Decoder::new(&buf), 5).unwrap(),
            expected
        );
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<SyncGroupResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: "m".into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![SyncGroupAssignment {
                member_id: "m".into(),
                assignment: Bytes::from_static(&[9, 8]),
            }],
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
            0, 0, 0, 1,                 // generation_id
            0, 1, b'm',                 // member_id
            0, 0, 0, 1,                 // assignments: 1
            0, 1, b'm',                 // member_id
            0, 0, 0, 2, 9, 8,           // assignment
        ];
        assert_eq!(encode_request(1), expected);
    }

    #[test]
    fn request_v3_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 1,                 // generation_id
            0, 1, b'm',                 // member_id
            0xff, 0xff,                 // group_instance_id: null
            0, 0, 0, 1,                 // assignments: 1
            0, 1, b'm',                 // member_id
            0, 0, 0, 2, 9, 8,           // assignment
        ];
        assert_eq!(encode_request(3), expected);
    }

    #[test]
    fn request_v5_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            0, 0, 0, 1,                 // generation_id
            2, b'm',                    // compact member_id
            0,                          // group_instance_id: compact null
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // compact protocol_type
            6, b'r', b'a', b'n', b'g', b'e', // compact protocol_name
            2,                          // assignments: compact 1
            2, b'm',                    // compact member_id
            3, 9, 8,                    // compact assignment
            0,                          // assignment tagged fields
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(5), expected);
    }
}
