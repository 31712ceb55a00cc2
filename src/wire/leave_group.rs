//! LeaveGroup (API key 13), versions 1–5: members leave a group, which rebalances at once
//! instead of waiting for their session timeout.
//!
//! Version 1 adds the throttle time, 2 is the same as 1. 3 batches the request (KIP-345): a
//! `Members` array of member id and group instance id replaces the single member id, and the
//! response reports an error per member. 4 is the first flexible version, 5 adds a reason per
//! member (KIP-800).
//!
//! At versions 1–2 only the first member's id is sent (an empty id when there is none).

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks the coordinator to remove members from a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The members leaving (usually this one); versions 1–2 send only the first.
    pub members: Vec<LeaveMember>,
}

/// One member leaving the group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveMember {
    /// The member id.
    pub member_id: String,
    /// The static member id (v3+; ignored before), `None` when dynamic.
    pub group_instance_id: Option<String>,
    /// Why the member leaves (v5+; ignored before).
    pub reason: Option<String>,
}

impl WireRequest for LeaveGroupRequest {
    type Response = LeaveGroupResponse;
    const NAME: &'static str = "LeaveGroup";
    const API_KEY: i16 = 13;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE_VERSION: i16 = 4;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.string(flexible, &self.group_id);
        if version <= 2 {
            let member_id = self.members.first().map_or("", |m| m.member_id.as_str());
            e.string(flexible, member_id);
        } else {
            e.array_len(flexible, Some(self.members.len()));
            for m in &self.members {
                e.string(flexible, &m.member_id);
                e.nullable_string(flexible, m.group_instance_id.as_deref());
                if version >= 5 {
                    e.nullable_string(flexible, m.reason.as_deref());
                }
                e.tagged_fields(flexible);
            }
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to a [`LeaveGroupRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Group-level error code, 0 when none.
    pub error_code: i16,
    /// Per-member results (v3+), empty before.
    pub members: Vec<LeaveMemberResponse>,
}

/// The result for one leaving member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveMemberResponse {
    /// The member id.
    pub member_id: String,
    /// The static member id, `None` when dynamic.
    pub group_instance_id: Option<String>,
    /// Member-level error code, 0 when none (e.g. UNKNOWN_MEMBER_ID).
    pub error_code: i16,
}

impl WireResponse for LeaveGroupResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = LeaveGroupRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let error_code = d.i16()?;
        let members = if version >= 3 {
            d.array_of(flexible, |d| {
                let m = LeaveMemberResponse {
                    member_id: d.string(flexible)?.to_owned(),
                    group_instance_id: d.nullable_string(flexible)?.map(str::to_owned),
                    error_code: d.i16()?,
                };
                d.tagged_fields(flexible)?;
                Ok(m)
            })?
        } else {
            Vec::new()
        };
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        LeaveGroupRequest::MIN_VERSION..=LeaveGroupRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &LeaveGroupResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 4;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        if version >= 3 {
            e.array_len(flexible, Some(r.members.len()));
            for m in &r.members {
                e.string(flexible, &m.member_id);
                e.nullable_string(flexible, m.group_instance_id.as_deref());
                e.i16(m.error_code);
                unknown_tag(&mut e, flexible);
            }
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> LeaveGroupResponse {
        LeaveGroupResponse {
            throttle_time_ms: 1,
            error_code: 0,
            members: if version >= 3 {
                vec![
                    LeaveMemberResponse {
                        member_id: "m-1".into(),
                        group_instance_id: None,
                        error_code: 0,
                    },
                    LeaveMemberResponse {
                        member_id: String::new(),
                        group_instance_id: Some("static".into()),
                        error_code: 25, // UNKNOWN_MEMBER_ID
                    },
                ]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = LeaveGroupResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<LeaveGroupResponse>(&buf, version);
        }
    }

    fn request() -> LeaveGroupRequest {
        LeaveGroupRequest {
            group_id: "g".into(),
            members: vec![
                LeaveMember {
                    member_id: "m".into(),
                    group_instance_id: None,
                    reason: Some("r".into()),
                },
                LeaveMember {
                    member_id: "n".into(),
                    group_instance_id: Some("i".into()),
                    reason: None,
                },
            ],
        }
    }

    fn encode_request(r: &LeaveGroupRequest, version: i16) -> Vec<u8> {
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_sends_the_first_member_only() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 1, b'm',                 // member_id
        ];
        assert_eq!(encode_request(&request(), 1), expected);
        assert_eq!(encode_request(&request(), 2), expected);
        let none = LeaveGroupRequest {
            group_id: "g".into(),
            members: Vec::new(),
        };
        assert_eq!(encode_request(&none, 1), vec![0, 1, b'g', 0, 0]);
    }

    #[test]
    fn request_v3_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0, 2,                 // members: 2
            0, 1, b'm',                 // member_id
            0xff, 0xff,                 // group_instance_id: null
            0, 1, b'n',                 // member_id
            0, 1, b'i',                 // group_instance_id
        ];
        assert_eq!(encode_request(&request(), 3), expected);
    }

    #[test]
    fn request_v5_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            3,                          // members: compact 2
            2, b'm',                    // compact member_id
            0,                          // group_instance_id: compact null
            2, b'r',                    // compact reason
            0,                          // member tagged fields
            2, b'n',                    // compact member_id
            2, b'i',                    // compact group_instance_id
            0,                          // reason: compact null
            0,                          // member tagged fields
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(&request(), 5), expected);
    }
}
