//! Feeds arbitrary bytes to every response decoder this crate owns, at every version it
//! speaks. Decoding must return an error or a value, never panic, and never allocate more
//! than the input could describe (lengths are checked against the remaining bytes).
//!
//! The first input byte picks the API, the second the version (modulo the API's range).
//!
//! Run: `cargo +nightly fuzz run response_decoders`
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rskafka_consumer::wire::{
    Decoder, WireRequest, WireResponse, describe_groups::DescribeGroupsRequest,
    fetch::FetchRequest, find_coordinator::FindCoordinatorRequest, heartbeat::HeartbeatRequest,
    join_group::JoinGroupRequest, leave_group::LeaveGroupRequest, list_groups::ListGroupsRequest,
    list_offsets::ListOffsetsRequest, metadata::MetadataRequest, offset_commit::OffsetCommitRequest,
    offset_fetch::OffsetFetchRequest, sync_group::SyncGroupRequest,
};

fn decode<R: WireRequest>(version_byte: u8, body: &Bytes) {
    let span = (R::MAX_VERSION - R::MIN_VERSION + 1) as u8;
    let version = R::MIN_VERSION + i16::from(version_byte % span);
    let _ = R::Response::decode(&mut Decoder::new(body), version);
}

fuzz_target!(|data: &[u8]| {
    let [api, version, rest @ ..] = data else {
        return;
    };
    let body = Bytes::copy_from_slice(rest);
    match api % 12 {
        0 => decode::<MetadataRequest>(*version, &body),
        1 => decode::<FetchRequest>(*version, &body),
        2 => decode::<ListOffsetsRequest>(*version, &body),
        3 => decode::<FindCoordinatorRequest>(*version, &body),
        4 => decode::<JoinGroupRequest>(*version, &body),
        5 => decode::<SyncGroupRequest>(*version, &body),
        6 => decode::<HeartbeatRequest>(*version, &body),
        7 => decode::<LeaveGroupRequest>(*version, &body),
        8 => decode::<OffsetCommitRequest>(*version, &body),
        9 => decode::<OffsetFetchRequest>(*version, &body),
        10 => decode::<DescribeGroupsRequest>(*version, &body),
        _ => decode::<ListGroupsRequest>(*version, &body),
    }
});
