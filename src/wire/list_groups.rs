//! ListGroups (API key 16), versions 1–4: the groups a broker coordinates.
//!
//! Version 1 adds the throttle time, 2 is the same as 1, 3 is the first flexible version, 4 adds
//! the states filter to the request and the group state to the response (KIP-518). Version 5
//! (types filter, KIP-848) is not spoken here. A broker lists only the groups it coordinates: ask
//! every broker to see them all.

use super::{DecodeError, Decoder, Encoder, WireRequest, WireResponse};

/// Asks a broker for the groups it coordinates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsRequest {
    /// Only groups in these states, e.g. "Stable" (v4+; ignored before, where every group is
    /// listed). Empty lists every group.
    pub states_filter: Vec<String>,
}

impl WireRequest for ListGroupsRequest {
    type Response = ListGroupsResponse;
    const NAME: &'static str = "ListGroups";
    const API_KEY: i16 = 16;
    const MIN_VERSION: i16 = 1;
    const MAX_VERSION: i16 = 4;
    const FIRST_FLEXIBLE_VERSION: i16 = 3;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        let flexible = Self::is_flexible(version);
        if version >= 4 {
            e.array_len(flexible, Some(self.states_filter.len()));
            self.states_filter
                .iter()
                .for_each(|s| e.string(flexible, s));
        }
        e.tagged_fields(flexible);
    }
}

/// The broker's answer to a [`ListGroupsRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsResponse {
    /// Time the request was throttled by a quota, in milliseconds.
    pub throttle_time_ms: i32,
    /// Error code, 0 when none (e.g. COORDINATOR_LOAD_IN_PROGRESS).
    pub error_code: i16,
    /// The groups.
    pub groups: Vec<ListedGroup>,
}

/// One listed group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// The protocol type, e.g. "consumer"; empty for groups that only commit offsets.
    pub protocol_type: String,
    /// The group state (v4+), `None` before.
    pub group_state: Option<String>,
}

impl WireResponse for ListGroupsResponse {
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError> {
        let flexible = ListGroupsRequest::is_flexible(version);
        let throttle_time_ms = d.i32()?;
        let error_code = d.i16()?;
        let groups = d.array_of(flexible, |d| {
            let g = ListedGroup {
                group_id: d.string(flexible)?.to_owned(),
                protocol_type: d.string(flexible)?.to_owned(),
                group_state: if version >= 4 {
                    Some(d.string(flexible)?.to_owned())
                } else {
                    None
                },
            };
            d.tagged_fields(flexible)?;
            Ok(g)
        })?;
        d.tagged_fields(flexible)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            groups,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::test_support::{assert_every_truncation_fails, unknown_tag};

    const VERSIONS: std::ops::RangeInclusive<i16> =
        ListGroupsRequest::MIN_VERSION..=ListGroupsRequest::MAX_VERSION;

    /// Encodes a response the way a broker would, so decoding can be checked at each version.
    fn encode_response(r: &ListGroupsResponse, version: i16) -> Vec<u8> {
        let flexible = version >= 3;
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i32(r.throttle_time_ms);
        e.i16(r.error_code);
        e.array_len(flexible, Some(r.groups.len()));
        for g in &r.groups {
            e.string(flexible, &g.group_id);
            e.string(flexible, &g.protocol_type);
            if version >= 4 {
                e.string(flexible, g.group_state.as_deref().unwrap());
            }
            unknown_tag(&mut e, flexible);
        }
        unknown_tag(&mut e, flexible);
        buf
    }

    fn sample(version: i16) -> ListGroupsResponse {
        let state = |s: &str| (version >= 4).then(|| s.to_owned());
        ListGroupsResponse {
            throttle_time_ms: 1,
            error_code: 0,
            groups: vec![
                ListedGroup {
                    group_id: "g".into(),
                    protocol_type: "consumer".into(),
                    group_state: state("Stable"),
                },
                ListedGroup {
                    group_id: "simple".into(),
                    protocol_type: String::new(),
                    group_state: state("Empty"),
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
            let got = ListGroupsResponse::decode(&mut d, version).unwrap();
            assert_eq!(got, expected, "version {version}");
            assert_eq!(d.remaining(), 0, "version {version}");
        }
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        for version in VERSIONS {
            let buf = Bytes::from(encode_response(&sample(version), version));
            assert_every_truncation_fails::<ListGroupsResponse>(&buf, version);
        }
    }

    fn encode_request(version: i16) -> Vec<u8> {
        let r = ListGroupsRequest {
            states_filter: vec!["Stable".into()],
        };
        let mut buf = Vec::new();
        r.encode(&mut Encoder::new(&mut buf), version);
        buf
    }

    #[test]
    fn request_v1_is_empty() {
        assert_eq!(encode_request(1), Vec::<u8>::new());
        assert_eq!(encode_request(2), Vec::<u8>::new());
    }

    #[test]
    fn request_v3_is_only_tagged_fields() {
        assert_eq!(encode_request(3), vec![0]);
    }

    #[test]
    fn request_v4_matches_the_schema_byte_for_byte() {
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            2,                          // states_filter: compact 1
            7, b'S', b't', b'a', b'b', b'l', b'e',
            0,                          // tagged fields
        ];
        assert_eq!(encode_request(4), expected);
    }
}
