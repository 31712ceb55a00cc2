//! The Kafka wire messages this crate owns, on top of rskafka's `protocol`/`messenger` layer.
//!
//! rskafka 0.6 supplies the framing, correlation ids, request pipelining, the ApiVersions
//! handshake and SASL ([`rskafka::messenger::Messenger`]). Every request/response body the
//! consumer needs that rskafka lacks, or implements at versions modern brokers reject (KIP-896),
//! lives here: one file per API. A message implements [`WireRequest`] (encode for a negotiated
//! version) and its response [`WireResponse`] (decode, bounds-checked by [`codec::Decoder`]);
//! [`Request`] adapts both to rskafka's traits so the messenger can carry them.

pub mod codec;
pub mod describe_groups;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
#[cfg(test)]
mod test_support;
pub(crate) mod varint;

use std::io::Cursor;

use bytes::Bytes;

use rskafka::protocol::{
    api_key::ApiKey,
    api_version::{ApiVersion, ApiVersionRange},
    messages::{
        ReadVersionedError, ReadVersionedType, RequestBody, WriteVersionedError, WriteVersionedType,
    },
    primitives::Int16,
    traits::ReadError,
};

pub use codec::{DecodeError, Decoder, Encoder};

/// A request body this crate encodes itself.
pub trait WireRequest: Send {
    /// The matching response body.
    type Response: WireResponse;
    /// The API's name, for errors and logs.
    const NAME: &'static str;
    /// The Kafka API key.
    const API_KEY: i16;
    /// Lowest version this crate speaks.
    const MIN_VERSION: i16;
    /// Highest version this crate speaks; the messenger picks the highest both sides know.
    const MAX_VERSION: i16;
    /// First flexible (KIP-482) version of the request and response bodies.
    const FIRST_FLEXIBLE_VERSION: i16;

    /// Encodes the body at `version` (already within `MIN_VERSION..=MAX_VERSION`).
    fn encode(&self, e: &mut Encoder<'_>, version: i16);

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        version >= Self::FIRST_FLEXIBLE_VERSION
    }
}

/// A response body this crate decodes itself.
pub trait WireResponse: Sized + Send {
    /// Decodes the body at `version`.
    fn decode(d: &mut Decoder<'_>, version: i16) -> Result<Self, DecodeError>;
}

/// Adapts a [`WireRequest`] to rskafka's request traits.
#[derive(Debug)]
pub struct Request<T>(pub T);

/// Adapts a [`WireResponse`] to rskafka's response traits.
#[derive(Debug)]
pub struct Response<T>(pub T);

impl<T: WireRequest> RequestBody for Request<T> {
    type ResponseBody = Response<T::Response>;
    const API_KEY: ApiKey = api_key(T::API_KEY);
    const API_VERSION_RANGE: ApiVersionRange = ApiVersionRange::new(
        ApiVersion(Int16(T::MIN_VERSION)),
        ApiVersion(Int16(T::MAX_VERSION)),
    );
    const FIRST_TAGGED_FIELD_IN_REQUEST_VERSION: ApiVersion =
        ApiVersion(Int16(T::FIRST_FLEXIBLE_VERSION));
}

/// Maps a numeric key to rskafka's enum at compile time (its `From<Int16>` is not `const`).
const fn api_key(key: i16) -> ApiKey {
    match key {
        0 => ApiKey::Produce,
        1 => ApiKey::Fetch,
        2 => ApiKey::ListOffsets,
        3 => ApiKey::Metadata,
        8 => ApiKey::OffsetCommit,
        9 => ApiKey::OffsetFetch,
        10 => ApiKey::FindCoordinator,
        11 => ApiKey::JoinGroup,
        12 => ApiKey::Heartbeat,
        13 => ApiKey::LeaveGroup,
        14 => ApiKey::SyncGroup,
        15 => ApiKey::DescribeGroups,
        16 => ApiKey::ListGroups,
        18 => ApiKey::ApiVersions,
        22 => ApiKey::InitProducerId,
        23 => ApiKey::OffsetForLeaderEpoch,
        other => ApiKey::Unknown(Int16(other)),
    }
}

impl<T: WireRequest> WriteVersionedType<Vec<u8>> for Request<T> {
    fn write_versioned(
        &self,
        writer: &mut Vec<u8>,
        version: ApiVersion,
    ) -> Result<(), WriteVersionedError> {
        self.0.encode(&mut Encoder::new(writer), version.0.0);
        Ok(())
    }
}

impl<T: WireResponse> ReadVersionedType<Cursor<Vec<u8>>> for Response<T> {
    fn read_versioned(
        reader: &mut Cursor<Vec<u8>>,
        version: ApiVersion,
    ) -> Result<Self, ReadVersionedError> {
        // Take the frame out of the cursor so large fields (record batches) can be handed out as
        // `Bytes` slices of it without a copy. The cursor is left empty at position 0, which the
        // messenger reads as "fully consumed"; the real check that nothing is left over is here.
        let start = usize::try_from(reader.position()).unwrap_or(usize::MAX);
        let frame = Bytes::from(std::mem::take(reader.get_mut()));
        reader.set_position(0);
        let body = frame
            .get(start..)
            .map(|_| frame.slice(start..))
            .unwrap_or_default();
        let mut d = Decoder::new(&body);
        let malformed =
            |e: DecodeError| ReadVersionedError::ReadError(ReadError::Malformed(Box::new(e)));
        let decoded = T::decode(&mut d, version.0.0).map_err(malformed)?;
        if d.remaining() != 0 {
            return Err(malformed(DecodeError::Malformed {
                what: "response",
                reason: format!("{} bytes left after the body", d.remaining()),
            }));
        }
        Ok(Self(decoded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_mapping_agrees_with_rskafka() {
        for key in [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 22, 68] {
            assert_eq!(api_key(key), ApiKey::from(Int16(key)), "key {key}");
        }
    }
}
