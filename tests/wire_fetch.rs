//! The Fetch and ListOffsets wire messages against the real broker, at every version this crate
//! speaks: ten records produced by librdkafka (confluent-kafka) are found by offset lookups and
//! fetched back, and the broker's partition errors come through.

mod support;

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicI16, Ordering},
    },
    time::Duration,
};

use rskafka::messenger::Messenger;
use rskafka_consumer::wire::{
    Encoder, Request, WireRequest,
    fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic, READ_COMMITTED},
    list_offsets::{
        EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsRequest,
        ListOffsetsResponse, ListOffsetsTopic,
    },
};
use support::{bootstrap, create_topic, python, unique};
use tokio::net::TcpStream;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Pins a request to exactly version `V`, so the messenger cannot negotiate another one.
struct At<T, const V: i16>(T);

impl<T: WireRequest, const V: i16> WireRequest for At<T, V> {
    type Response = T::Response;
    const NAME: &'static str = T::NAME;
    const API_KEY: i16 = T::API_KEY;
    const MIN_VERSION: i16 = V;
    const MAX_VERSION: i16 = V;
    const FIRST_FLEXIBLE_VERSION: i16 = T::FIRST_FLEXIBLE_VERSION;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        self.0.encode(e, version);
    }
}

/// Leaves the version range alone but records the version the messenger negotiated.
struct Spy<T>(T, Arc<AtomicI16>);

impl<T: WireRequest> WireRequest for Spy<T> {
    type Response = T::Response;
    const NAME: &'static str = T::NAME;
    const API_KEY: i16 = T::API_KEY;
    const MIN_VERSION: i16 = T::MIN_VERSION;
    const MAX_VERSION: i16 = T::MAX_VERSION;
    const FIRST_FLEXIBLE_VERSION: i16 = T::FIRST_FLEXIBLE_VERSION;

    fn encode(&self, e: &mut Encoder<'_>, version: i16) {
        self.1.store(version, Ordering::SeqCst);
        self.0.encode(e, version);
    }
}

async fn connect() -> Messenger<TcpStream> {
    let addr = bootstrap().split(',').next().unwrap().to_owned();
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let mut messenger = Messenger::new(stream, 100_000_000, Arc::from("wire-fetch-test"));
    messenger.sync_versions().await.expect("ApiVersions");
    messenger
}

async fn send<T, const V: i16>(m: &Messenger<TcpStream>, req: T) -> T::Response
where
    T: WireRequest,
{
    tokio::time::timeout(Duration::from_secs(30), m.request(Request(At::<T, V>(req))))
        .await
        .unwrap_or_else(|_| panic!("{} v{V} timed out", T::NAME))
        .unwrap_or_else(|e| panic!("{} v{V} failed: {e}", T::NAME))
        .0
}

/// Produces `n` small records to partition 0 of `topic` with librdkafka.
fn produce(topic: &str, n: u32) {
    let script = r#"
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 0})
errors = []
for i in range(int(sys.argv[3])):
    p.produce(sys.argv[2], value=b"v%d" % i, key=b"k%d" % i, partition=0,
              on_delivery=lambda err, msg: err and errors.append(err))
    p.poll(0)
left = p.flush(30)
if left or errors:
    sys.exit(f"not delivered: {left} left, errors {errors}")
"#;
    let out = Command::new(python())
        .args(["-c", script, bootstrap(), topic, &n.to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn list_offsets(topic: &str, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest {
        isolation_level: READ_COMMITTED,
        topics: vec![ListOffsetsTopic {
            topic: topic.to_owned(),
            partitions: vec![ListOffsetsPartition {
                partition: 0,
                current_leader_epoch: -1,
                timestamp,
            }],
        }],
    }
}

fn fetch(topic: &str, partition: i32, fetch_offset: i64) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 100,
        isolation_level: READ_COMMITTED,
        topics: vec![FetchTopic {
            topic: topic.to_owned(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset,
                ..FetchPartition::default()
            }],
        }],
        ..FetchRequest::default()
    }
}

async fn check_list_offsets<const V: i16>(m: &Messenger<TcpStream>, topic: &str) {
    for (timestamp, expected) in [(EARLIEST_TIMESTAMP, 0), (LATEST_TIMESTAMP, 10)] {
        let r: ListOffsetsResponse = send::<_, V>(m, list_offsets(topic, timestamp)).await;
        assert_eq!(r.topics.len(), 1, "v{V}");
        assert_eq!(r.topics[0].topic, topic, "v{V}");
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.partition, p.error_code, p.offset),
            (0, 0, expected),
            "v{V} timestamp {timestamp}: {p:?}"
        );
        if V >= 4 {
            assert!(p.leader_epoch >= 0, "v{V}: {p:?}");
        } else {
            assert_eq!(p.leader_epoch, -1, "v{V}");
        }
    }
}

async fn check_fetch<const V: i16>(m: &Messenger<TcpStream>, topic: &str) {
    let r: FetchResponse = send::<_, V>(m, fetch(topic, 0, 0)).await;
    assert_eq!(r.error_code, 0, "v{V}");
    assert_eq!(r.topics.len(), 1, "v{V}");
    assert_eq!(r.topics[0].topic, topic, "v{V}");
    let p = &r.topics[0].partitions[0];
    assert_eq!((p.partition, p.error_code), (0, 0), "v{V}");
    assert_eq!(p.high_watermark, 10, "v{V}");
    assert_eq!(p.last_stable_offset, 10, "v{V}");
    assert_eq!(p.log_start_offset, if V >= 5 { 0 } else { -1 }, "v{V}");
    assert_eq!(p.preferred_read_replica, -1, "v{V}");
    assert!(
        p.aborted_transactions.as_ref().is_none_or(Vec::is_empty),
        "v{V}: {:?}",
        p.aborted_transactions
    );
    assert!(
        p.records.len() > 61,
        "v{V}: {} record bytes",
        p.records.len()
    );
    assert_eq!(p.records[..8], 0i64.to_be_bytes(), "v{V}: base offset");
    // base offset int64, batch length int32, partition leader epoch int32, then magic.
    assert_eq!(p.records[16], 2, "v{V}: record batch magic");

    let r: FetchResponse = send::<_, V>(m, fetch(topic, 7, 0)).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.partition, p.error_code),
        (7, UNKNOWN_TOPIC_OR_PARTITION),
        "v{V}"
    );
    assert!(p.records.is_empty(), "v{V}");

    let r: FetchResponse = send::<_, V>(m, fetch(topic, 0, 1000)).await;
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (p.partition, p.error_code),
        (0, OFFSET_OUT_OF_RANGE),
        "v{V}"
    );
    assert!(p.records.is_empty(), "v{V}");
    // Kafka 4.x reports no watermarks along with a partition error.
    assert_eq!((p.high_watermark, p.last_stable_offset), (-1, -1), "v{V}");
}

#[tokio::test]
async fn list_offsets_and_fetch_agree_with_librdkafka_produced_data_at_every_version() {
    let topic = unique("wire-fetch");
    create_topic(&topic, 1);
    produce(&topic, 10);
    let m = connect().await;

    check_list_offsets::<1>(&m, &topic).await;
    check_list_offsets::<2>(&m, &topic).await;
    check_list_offsets::<3>(&m, &topic).await;
    check_list_offsets::<4>(&m, &topic).await;
    check_list_offsets::<5>(&m, &topic).await;
    check_list_offsets::<6>(&m, &topic).await;
    check_list_offsets::<7>(&m, &topic).await;

    check_fetch::<4>(&m, &topic).await;
    check_fetch::<5>(&m, &topic).await;
    check_fetch::<6>(&m, &topic).await;
    check_fetch::<7>(&m, &topic).await;
    check_fetch::<8>(&m, &topic).await;
    check_fetch::<9>(&m, &topic).await;
    check_fetch::<10>(&m, &topic).await;
    check_fetch::<11>(&m, &topic).await;
    check_fetch::<12>(&m, &topic).await;
}

#[tokio::test]
async fn kafka_4_negotiates_the_highest_versions_this_crate_speaks() {
    let topic = unique("wire-fetch-neg");
    create_topic(&topic, 1);
    produce(&topic, 10);
    let m = connect().await;
    let timeout = Duration::from_secs(30);

    let version = Arc::new(AtomicI16::new(-1));
    let req = Spy(list_offsets(&topic, LATEST_TIMESTAMP), Arc::clone(&version));
    let r = tokio::time::timeout(timeout, m.request(Request(req)))
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(
        version.load(Ordering::SeqCst),
        ListOffsetsRequest::MAX_VERSION
    );
    assert_eq!(r.topics[0].partitions[0].offset, 10);

    let version = Arc::new(AtomicI16::new(-1));
    let req = Spy(fetch(&topic, 0, 0), Arc::clone(&version));
    let r = tokio::time::timeout(timeout, m.request(Request(req)))
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(version.load(Ordering::SeqCst), FetchRequest::MAX_VERSION);
    let p = &r.topics[0].partitions[0];
    assert_eq!(
        (
            p.error_code,
            p.high_watermark,
            p.last_stable_offset,
            p.log_start_offset
        ),
        (0, 10, 10, 0)
    );
    assert_eq!(p.records[..8], 0i64.to_be_bytes());
}
