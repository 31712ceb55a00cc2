//! DescribeGroups (API key 15), versions 1–5: state, protocol and members of classic groups.
//!
//! Version 1 adds the throttle time, 2 is the same as 1, 3 can return the authorized operations
//! (KIP-430), 4 the group instance id of each member (KIP-345), 5 is the first flexible version.
//! Version 6 (error messages, KIP-1043) is not spoken here.

use bytes::Bytes;

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// `authorized_operations` when the broker did not compute them (not requested, or before v3).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Asks the coordinator to describe groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    /// The group ids (each must be coordinated by the broker asked).
    pub groups: Vec<String>,
    /// Whether to return the operations the client may perform on each group (v3+; ignored
    /// before).
    pub include_authorized_operations: bool,
}

impl WireRequest for DescribeGroupsRequest {
    type Response = DescribeGroupsResponse;
    const NAME: &'static str = "DescribeGroups";
    const API_KEY: i16 = 15;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 5;
    const FIRST_FLEXIBLE_VERSION: i16 = 5;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        e.array_len(flexible, Some(self.groups.len()));
        self.groups.iter().for_each(|g| e.string(flexible, g));
        if version >= 3 {
            e.bool(self.include_authorized_operations);
        }
        e.tagged_fields(flexible);
    }
}

/// The coordinator's answer to a [`DescribeGroupsRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// One entry per requested group.
    pub groups: Vec<DescribedGroup>,
}

/// One described group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Error code, 0 when none (e.g. NOT_COORDINATOR).
    pub error_code: i16,
    /// The group id.
    pub group_id: String,
    /// The state: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"; an
    /// unknown group is reported as "Dead" without error.
    pub group_state: String,
    /// The protocol type, e.g. "consumer", or empty.
    pub protocol_type: String,
    /// The selected protocol (assignor) when Stable, otherwise empty.
    pub protocol_data: String,
    /// The members (empty when Dead).
    pub members: Vec<DescribedGroupMember>,
    /// Bit field of the authorized operations (v3+, when requested), otherwise
    /// [`AUTHORIZED_OPERATIONS_OMITTED`].
    pub authorized_operations: i32,
}

/// One member of a described group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedGroupMember {
    /// The member id.
    pub member_id: String,
    /// The static member id (v4+), `None` when dynamic or before v4.
    pub group_instance_id: Option<String>,
    /// The client id of its last JoinGroup.
    pub client_id: String,
    /// The client host, e.g. "/127.0.0.1".
    pub client_host: String,
    /// Its metadata for the selected protocol (Stable groups only, otherwise empty). A zero-copy
    /// slice of the response frame.
    pub member_metadata: Bytes,
    /// Its current assignment (Stable groups only, otherwise empty). A zero-copy slice of the
    /// response frame.
    pub member_assignment: Bytes,
}

impl WireResponse for DescribeGroupsResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = DescribeGroupsRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let groups = d.array_of(flexible, |d| {
            let error_code = d.i16()?;
            let group_id = d.string(flexible)?.to_owned();
            let group_state = d.string(flexible)?.to_owned();
            let protocol_type = d.string(flexible)?.to_owned();
            let protocol_data = d.string(flexible)?.to_owned();
            let members = d.array_of(flexible, |d| {
                let member_id = d.string(flexible)?.to_owned();
                let group_instance_id = if version >= 4 {
                    d.nullable_string(flexible)?.map(str::to_owned)
                } else {
                    None
                };
                let m = DescribedGroupMember {
                    member_id,
                    group_instance_id,
                    client_id: d.string(flexible)?.to_owned(),
                    client_host: d.string(flexible)?.to_owned(),
                    member_metadata: bytes(d, flexible)?,
                    member_assignment: bytes(d, flexible)?,
                };
                d.tagged_fields(flexible)?;
                Ok(m)
            })?;
            let authorized_operations = if version >= 3 {
                d.i32()?
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
            d.tagged_fields(flexible)?;
            Ok(DescribedGroup {
                error_code,
                group_id,
                group_state,
                protocol_type,
                protocol_data,
                members,
                authorized_operations,
            })
        })?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            groups,
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
        DescribeGroupsRequest::MIN_VERSION..=DescribeGroupsRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &DescribeGroupsResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 5;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.array_len(flexible, Some(r.groups.len()));
        for g in &r.groups {
            e.i16(g.error_code);
            e.string(flexible, &g.group_id);
            e.string(flexible, &g.group_state);
            e.string(flexible, &g.protocol_type);
            e.string(flexible, &g.protocol_data);
            e.array_len(flexible, Some(g.members.len()));
            for m in &g.members {
                e.string(flexible, &m.member_id);
                if version >= 4 {
                    e.nullable_string(flexible, m.group_instance_id.as_deref());
                }
                e.string(flexible, &m.client_id);
                e.string(flexible, &m.client_host);
                e.nullable_bytes(flexible, Some(&m.member_metadata));
                e.nullable_bytes(flexible, Some(&m.member_assignment));
                unknown_tag(&mut e, flexible);
            }
            if version >= 3 {
                e.i32(g.authorized_operations);
            }
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> DescribeGroupsResponse {
        DescribeGroupsResponse {
            throttle_time_ms: 3,
            groups: vec![
                DescribedGroup {
                    error_code: 0,
                    group_id: "g".into(),
                    group_state: "Stable".into(),
                    protocol_type: "consumer".into(),
                    protocol_data: "range".into(),
                    members: vec![DescribedGroupMember {
                        member_id: "m-1".into(),
                        group_instance_id: (version >= 4).then(|| "static".into()),
                        client_id: "c".into(),
                        client_host: "/127.0.0.1".into(),
                        member_metadata: Bytes::from_static(b"\x00\x03meta"),
                        member_assignment: Bytes::from_static(b"\x00\x03assign"),
                    }],
                    authorized_operations: if version >= 3 {
                        0b1_1000
                    } else {
                        AUTHORIZED_OPERATIONS_OMITTED
                    },
                },
                DescribedGroup {
                    error_code: 0,
                    group_id: "unknown".into(),
                    group_state: "Dead".into(),
                    authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
                    ..DescribedGroup::default()
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
            let got = DescribeGroupsResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
            let input = buf.as_ptr_range();
            let slice = got.groups[0].members[0].member_assignment.as_ptr_range();
            assert!(
                input.start <= slice.start && slice.end <= input.end,
                "copied"
            );
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<DescribeGroupsResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = DescribeGroupsRequest {
            groups: vec!["g".into(), "h".into()],
            include_authorized_operations: true,
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 0, 0, 2,                 // groups: 2
            0, 1, b'g',
            0, 1, b'h',
        ];
        assert_eq!(encode_request(1), expected);
        assert_eq!(encode_request(2), expected);
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0, 0, 0, 2,                 // groups: 2
            0, 1, b'g',
            0, 1, b'h',
            1,                          // include_authorized_operations
        ];
        assert_eq!(encode_request(3), expected);
        assert_eq!(encode_request(4), expected);
    }

    #[test]
    fn request_v5_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            3,                          // groups: compact 2
            2, b'g',
            2, b'h',
            1,                          // include_authorized_operations
            0,                          // tagged fields
        ];
        assert_eq!(encode_request(5), expected);
    }
}
