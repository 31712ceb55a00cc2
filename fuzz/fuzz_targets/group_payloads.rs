//! Feeds arbitrary bytes to the consumer-protocol decoders (the subscription a member sends in
//! JoinGroup and the assignment it receives in SyncGroup), and re-encodes what decodes.
//!
//! Run: `cargo +nightly fuzz run group_payloads`
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use rskafka_consumer::group::protocol::{Assignment, MAX_VERSION, Subscription};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    if let Ok(subscription) = Subscription::decode(&input) {
        let again = Subscription::decode(&subscription.encode(MAX_VERSION));
        assert!(again.is_ok(), "a decoded subscription re-encodes to something decodable");
    }
    if let Ok(assignment) = Assignment::decode(&input) {
        let again = Assignment::decode(&assignment.encode(MAX_VERSION));
        assert!(again.is_ok(), "a decoded assignment re-encodes to something decodable");
    }
});
