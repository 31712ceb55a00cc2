//! JoinGroup (API key 11), versions 2–9: joining a classic consumer group, the first step of a
//! rebalance.
//!
//! Versions 0–1 are deprecated (KIP-896); 1 added the rebalance timeout, 2 the throttle time,
//! 3 is the same as 2. From 4 on a member that joins with an empty member id gets
//! MEMBER_ID_REQUIRED (79) together with an assigned member id, and must join again with it.
//! 5 adds the group instance id (static membership, KIP-345), 6 is the first flexible version,
//! 7 returns the protocol type and makes the protocol name nullable (KIP-559), 8 adds the
//! reason (KIP-800), 9 returns `skip_assignment` (the leader must not run the assignor: the
//! group is managed by the new coordinator, KIP-848 migration).

use bytes::Bytes;

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Error code of the first v4+ join with an empty member id: join again with the returned id.
pub const MEMBER_ID_REQUIRED: i16 = 79;

/// Asks the group coordinator to join a group (or to rejoin it for a rebalance).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The member is considered dead when no heartbeat arrives for this long, in milliseconds.
    pub session_timeout_ms: i32,
    /// Longest time the coordinator waits for every member to rejoin, in milliseconds.
    pub rebalance_timeout_ms: i32,
    /// The member id from an earlier join, or empty for a new member.
    pub member_id: String,
    /// The static member id (`group.instance.id`, v5+; ignored before), `None` when dynamic.
    pub group_instance_id: Option<String>,
    /// The protocol type, "consumer" for consumers.
    pub protocol_type: String,
    /// The assignment protocols the member supports, in order of preference.
    pub protocols: Vec<JoinGroupProtocol>,
    /// Why the member (re)joins (v8+; ignored before).
    pub reason: Option<String>,
}

/// One assignment protocol (assignor) with the member's metadata for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupProtocol {
    /// Protocol name, e.g. "range" or "cooperative-sticky".
    pub name: String,
    /// Protocol metadata (for consumers: the ConsumerProtocol subscription).
    pub metadata: Bytes,
}

impl WireRequest for JoinGroupRequest {
    type Response = JoinGroupResponse;
    const NAME: &'static str = "JoinGroup";
    const API_KEY: i16 = 11;
    const MIN_VERSION: i16 = 2;
    const MAX_VERSION: i16 = 9;
    const FIRST_FLEXIBLE_VERSION: i16 = 6;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.string(flexible, &self.group_id);
        e.i32(self.session_timeout_ms);
        e.i32(self.rebalance_timeout_ms);
        e.string(flexible, &self.member_id);
        if version >= 5 {
            e.nullable_string(flexible, self.group_instance_id.as_deref());
        }
        e.string(flexible, &self.protocol_type);
        e.array_len(flexible, Some(self.protocols.len()));
        for p in &self.protocols {
            e.string(flexible, &p.name);
            e.nullable_bytes(flexible, Some(&p.metadata));
            e.tagged_fields(flexible);
        }
        if version >= 8 {
            e.nullable_string(flexible, self.reason.as_deref());
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to a [`JoinGroupRequest`], sent once the rebalance completes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Error code, 0 when none; [`MEMBER_ID_REQUIRED`] asks to join again with `member_id`.
    pub error_code: i16,
    /// The new generation of the group, −1 on error.
    pub generation_id: i32,
    /// The group's protocol type (v7+), `None` before or when unknown.
    pub protocol_type: Option<String>,
    /// The protocol the coordinator selected; always `Some` before v7 (possibly empty on error),
    /// `None` when the broker sent null (v7+).
    pub protocol_name: Option<String>,
    /// Member id of the group leader, which computes the assignment.
    pub leader: String,
    /// The leader must skip the assignment and send an empty SyncGroup (v9+, false before).
    pub skip_assignment: bool,
    /// This member's id.
    pub member_id: String,
    /// All members with their metadata; only the leader receives them, empty for the others.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResponse {
    /// Whether this member leads the group (and must compute the assignment).
    pub fn is_leader(&self) -> bool {
        !self.member_id.is_empty() && self.leader == self.member_id
    }
}

/// A member of the group, as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupMember {
    /// The member id.
    pub member_id: String,
    /// Its static member id (v5+), `None` when dynamic or before v5.
    pub group_instance_id: Option<String>,
    /// Its metadata for the selected protocol. A zero-copy slice of the response frame.
    pub metadata: Bytes,
}

impl WireResponse for JoinGroupResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = JoinGroupRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let error_code = d.i16()?;
        let generation_id = d.i32()?;
        let protocol_type = if version >= 7 {
            d.nullable_string(flexible)?.map(str::to_owned)
        } else {
            None
        };
        let protocol_name = if version >= 7 {
            d.nullable_string(flexible)?.map(str::to_owned)
        } else {
            Some(d.string(flexible)?.to_owned())
        };
        let leader = d.string(flexible)?.to_owned();
        let skip_assignment = if version >= 9 { d.bool()? } else { false };
        let member_id = d.string(flexible)?.to_owned();
        let members = d.array_of(flexible, |d| {
            let member_id = d.string(flexible)?.to_owned();
            let group_instance_id = if version >= 5 {
                d.nullable_string(flexible)?.map(str::to_owned)
            } else {
                None
            };
            let metadata = bytes(d, flexible)?;
            d.tagged_fields(flexible)?;
            Ok(JoinGroupMember {
                member_id,
                group_instance_id,
                metadata,
            })
        })?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            generation_id,
            protocol_type,
            protocol_name,
            leader,
            skip_assignment,
            member_id,
            members,
        })
    }
}

/// Reads non-nullable bytes as a zero-copy slice.
fn bytes(d: &mut Decoder<'_>, flexible: bool) -> Result<Bytes, DecodeError> {
    let at = d.position();
    d.nullable_shared_bytes(flexible)?
        .ok_or(DecodeError::InvalidLength {
            what: "bytes",
            len: -1,
            at,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        JoinGroupRequest::MIN_VERSION..=JoinGroupRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &JoinGroupResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 6;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        e.i32(r.generation_id);
        if version >= 7 {
            e.nullable_string(flexible, r.protocol_type.as_deref());
            e.nullable_string(flexible, r.protocol_name.as_deref());
        } else {
            e.string(flexible, r.protocol_name.as_deref().unwrap());
        }
        e.string(flexible, &r.leader);
        if version >= 9 {
            e.bool(r.skip_assignment);
        }
        e.string(flexible, &r.member_id);
        e.array_len(flexible, Some(r.members.len()));
        for m in &r.members {
            e.string(flexible, &m.member_id);
            if version >= 5 {
                e.nullable_string(flexible, m.group_instance_id.as_deref());
            }
            e.nullable_bytes(flexible, Some(&m.metadata));
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> JoinGroupResponse {
        JoinGroupResponse {
            throttle_time_ms: 5,
            error_code: 0,
            generation_id: 3,
            protocol_type: (version >= 7).then(|| "consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m-1".into(),
            skip_assignment: version >= 9,
            member_id: "m-1".into(),
            members: vec![
                JoinGroupMember {
                    member_id: "m-1".into(),
                    group_instance_id: (version >= 5).then(|| "static-1".into()),
                    metadata: Bytes::from_static(b"\x00\x03subscription"),
                },
                JoinGroupMember {
                    member_id: "m-2".into(),
                    group_instance_id: None,
                    metadata: Bytes::new(),
                },
            ],
        }
    }

    #[test]
    fn response_decodes_at_every_supported_version() {
        for version in VERSIONS {
            let expected = sample(version);
            let buf = Bytes::from(encode_response(&expected, version));
            let mut d = Decoder::new(&buf);
            let got = JoinGroupResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
            assert!(got.is_leader());
        }
    }

    #[test]
    fn member_id_required_with_null_protocol_name_decodes_at_v7() {
        let expected = JoinGroupResponse {
            error_code: MEMBER_ID_REQUIRED,
            generation_id: -1,
            member_id: "assigned".into(),
            ..JoinGroupResponse::default()
        };
        let buf = Bytes::from(encode_response(&expected, 7));
        let got = JoinGroupResponse::decode(&mut Decoder::new(&buf), 7).unwrap();
        assert_eq!(got, expected);
        assert!(!got.is_leader());
    }

    #[test]
    fn member_metadata_is_a_zero_copy_slice_of_the_response() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            let got = JoinGroupResponse::decode(&mut Decoder::new(&buf), version).unwrap();
            let input = buf.as_ptr_range();
            let slice = got.members[0].metadata.as_ptr_range();
            assert!(input.start <= slice.start && slice.end <= input.end);
        }
    }

    #[test]
    fn null_member_metadata_is_rejected() {
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(0);
        e.i16(0);
        e.i32(1);
        e.string(false, "range");
        e.string(false, "m");
        e.string(false, "m");
        e.array_len(false, Some(1));
        e.string(false, "m");
        e.nullable_bytes(false, None);
        let buf = Bytes::from(buf);
        let err = JoinGroupResponse::decode(&mut Decoder::new(&buf), 2).unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidLength { len: -1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<JoinGroupResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            member_id: "m".into(),
            group_instance_id: Some("i".into()),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupProtocol {
                name: "range".into(),
                metadata: Bytes::from_static(&[0, 1, 2]),
            }],
            reason: Some("r".into()),
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v2_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0xaf, 0xc8,           // session_timeout_ms 45000
            0, 0x04, 0x93, 0xe0,        // rebalance_timeout_ms 300000
            0, 1, b'm',                 // member_id
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            0, 0, 0, 1,                 // protocols: 1
            0, 5, b'r', b'a', b'n', b'g', b'e', // name
            0, 0, 0, 3, 0, 1, 2,        // metadata
        ];
        assert_eq!(encode_request(2), expected);
        assert_eq!(encode_request(4), expected);
    }

    #[test]
    fn request_v5_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 1, b'g',                 // group_id
            0, 0, 0xaf, 0xc8,           // session_timeout_ms 45000
            0, 0x04, 0x93, 0xe0,        // rebalance_timeout_ms 300000
            0, 1, b'm',                 // member_id
            0, 1, b'i',                 // group_instance_id
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            0, 0, 0, 1,                 // protocols: 1
            0, 5, b'r', b'a', b'n', b'g', b'e', // name
            0, 0, 0, 3, 0, 1, 2,        // metadata
        ];
        assert_eq!(encode_request(5), expected);
    }

    #[test]
    fn request_v8_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2, b'g',                    // compact group_id
            0, 0, 0xaf, 0xc8,           // session_timeout_ms 45000
            0, 0x04, 0x93, 0xe0,        // rebalance_timeout_ms 300000
            2, b'm',                    // compact member_id
            2, b'i',                    // compact group_instance_id
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // compact protocol_type
            2,                          // protocols: compact 1
            6, b'r', b'a', b'n', b'g', b'e', // compact name
            4, 0, 1, 2,                 // compact metadata
            0,                          // protocol tagged fields
            2, b'r',                    // compact reason
            0,                          // top-level tagged fields
        ];
        assert_eq!(encode_request(8), expected);
        assert_eq!(encode_request(9), expected);
    }

    #[test]
    fn request_v6_has_no_reason() {
        let v8 = encode_request(8);
        let v6 = encode_request(6);
        // v6 = v8 without the compact reason (2 bytes) before the final tagged fields.
        assert_eq!(v6.len(), v8.len() - 2);
        assert_eq!(v6[..v6.len() - 1], v8[..v8.len() - 3]);
    }
}
