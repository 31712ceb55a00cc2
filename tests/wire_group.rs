//! The classic consumer-group wire messages against the real broker: a whole group lifecycle
//! (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, DescribeGroups,
//! ListGroups, LeaveGroup) at the lowest, intermediate and highest versions this crate speaks;
//! the versions Kafka 4 negotiates; and committed offsets exchanged with librdkafka
//! (confluent-kafka) in both directions.

mod support;

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicI16, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use rskafka::messenger::Messenger;
use rskafka_consumer::wire::{
    Encoder, Request, WireRequest,
    describe_groups::DescribeGroupsRequest,
    find_coordinator::{FindCoordinatorRequest, KEY_TYPE_GROUP},
    heartbeat::HeartbeatRequest,
    join_group::{JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse, MEMBER_ID_REQUIRED},
    leave_group::{LeaveGroupRequest, LeaveMember},
    list_groups::ListGroupsRequest,
    offset_commit::{OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic},
    offset_fetch::{OffsetFetchRequest, OffsetFetchResponse, OffsetFetchTopic},
    sync_group::{SyncGroupAssignment, SyncGroupRequest},
};
use support::{bootstrap, create_topic, python, unique};
use tokio::net::TcpStream;

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;

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

async fn connect_to(addr: &str) -> Messenger<TcpStream> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut messenger = Messenger::new(stream, 100_000_000, Arc::from("wire-group-test"));
    messenger.sync_versions().await.expect("ApiVersions");
    messenger
}

async fn connect() -> Messenger<TcpStream> {
    connect_to(bootstrap().split(',').next().unwrap()).await
}

/// Sends `req` at exactly version `V`.
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

/// Sends `req` at the negotiated version and returns it with the response.
async fn send_negotiated<T: WireRequest>(m: &Messenger<TcpStream>, req: T) -> (i16, T::Response) {
    let version = Arc::new(AtomicI16::new(-1));
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        m.request(Request(Spy(req, Arc::clone(&version)))),
    )
    .await
    .unwrap_or_else(|_| panic!("{} timed out", T::NAME))
    .unwrap_or_else(|e| panic!("{} failed: {e}", T::NAME))
    .0;
    (version.load(Ordering::SeqCst), r)
}

/// Asks the bootstrap broker for the group's coordinator (at version `V`) and connects to it,
/// retrying while the offsets topic is being created.
async fn coordinator<const V: i16>(group: &str) -> Messenger<TcpStream> {
    let m = connect().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let req = FindCoordinatorRequest {
            key: group.to_owned(),
            key_type: KEY_TYPE_GROUP,
        };
        let r = send::<_, V>(&m, req).await;
        assert_eq!(r.coordinators.len(), 1, "v{V}: {r:?}");
        let c = r.coordinator(group).expect("an entry for the group");
        assert_eq!(c.key, if V >= 4 { group } else { "" }, "v{V}");
        if c.error_code == 0 {
            assert!(c.node_id >= 0 && c.port > 0, "v{V}: {c:?}");
            return connect_to(&format!("{}:{}", c.host, c.port)).await;
        }
        assert!(
            [COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS].contains(&c.error_code)
                && Instant::now() < deadline,
            "v{V}: {c:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// ConsumerProtocolSubscription v0 for `topic`: version, topics, null user data.
fn subscription(topic: &str) -> Bytes {
    let mut buf = Vec::new();
    let mut e = Encoder::new(&mut buf);
    e.i16(0);
    e.array_len(false, Some(1));
    e.string(false, topic);
    e.nullable_bytes(false, None);
    Bytes::from(buf)
}

/// ConsumerProtocolAssignment v0 of `partitions` of `topic`, with some user data.
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut buf = Vec::new();
    let mut e = Encoder::new(&mut buf);
    e.i16(0);
    e.array_len(false, Some(1));
    e.string(false, topic);
    e.array_len(false, Some(partitions.len()));
    partitions.iter().for_each(|p| e.i32(*p));
    e.nullable_bytes(false, Some(b"wire-group"));
    Bytes::from(buf)
}

fn join_request(group: &str, topic: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.to_owned(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.to_owned(),
        group_instance_id: None,
        protocol_type: "consumer".to_owned(),
        protocols: vec![JoinGroupProtocol {
            name: "range".to_owned(),
            metadata: subscription(topic),
        }],
        reason: Some("wire test".to_owned()),
    }
}

/// Joins `group` as its only member at version `V`: the MEMBER_ID_REQUIRED round trip at v4+,
/// a direct join before.
async fn join<const V: i16>(
    m: &Messenger<TcpStream>,
    group: &str,
    topic: &str,
) -> JoinGroupResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut member_id = String::new();
    loop {
        let r = send::<_, V>(m, join_request(group, topic, &member_id)).await;
        match r.error_code {
            0 => return r,
            MEMBER_ID_REQUIRED if member_id.is_empty() => {
                assert!(V >= 4, "v{V}: MEMBER_ID_REQUIRED before v4");
                assert!(!r.member_id.is_empty(), "v{V}: {r:?}");
                assert_eq!(r.generation_id, -1, "v{V}");
                member_id = r.member_id;
            }
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
                if Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            code => panic!("JoinGroup v{V}: error {code}: {r:?}"),
        }
    }
}

fn offset_fetch(group: &str, topic: &str, partitions: Vec<i32>) -> OffsetFetchRequest {
    OffsetFetchRequest {
        group_id: group.to_owned(),
        topics: Some(vec![OffsetFetchTopic {
            name: topic.to_owned(),
            partition_indexes: partitions,
        }]),
        require_stable: true,
    }
}

/// (partition, offset, metadata) of every partition of `topic` in `r`, sorted; a partition
/// error fails the test.
fn committed(r: &OffsetFetchResponse, topic: &str) -> Vec<(i32, i64, String)> {
    assert_eq!(r.error_code, 0, "{r:?}");
    let mut out: Vec<_> = r
        .topics
        .iter()
        .filter(|t| t.name == topic)
        .flat_map(|t| &t.partitions)
        .map(|p| {
            assert_eq!(p.error_code, 0, "{p:?}");
            assert_eq!(p.committed_leader_epoch, -1, "{p:?}");
            let metadata = p.metadata.clone().unwrap_or_default();
            (p.partition_index, p.committed_offset, metadata)
        })
        .collect();
    out.sort();
    out
}

/// One member's whole life in a fresh group, every API pinned to the given version:
/// FindCoordinator `FC`, JoinGroup `JG`, SyncGroup `SG`, Heartbeat `HB`, OffsetCommit `OC`,
/// OffsetFetch `OF`, DescribeGroups `DG`, ListGroups `LG`, LeaveGroup `LV`.
async fn lifecycle<
    const FC: i16,
    const JG: i16,
    const SG: i16,
    const HB: i16,
    const OC: i16,
    const OF: i16,
    const DG: i16,
    const LG: i16,
    const LV: i16,
>() {
    let label = format!("FC{FC} JG{JG} SG{SG} HB{HB} OC{OC} OF{OF} DG{DG} LG{LG} LV{LV}");
    let topic = unique("wire-group");
    let group = unique("wire-group-g");
    create_topic(&topic, 3);
    let m = coordinator::<FC>(&group).await;

    // JoinGroup: the only member leads generation 1 and sees its own metadata.
    let joined = join::<JG>(&m, &group, &topic).await;
    assert_eq!(joined.generation_id, 1, "{label}: {joined:?}");
    assert!(joined.is_leader(), "{label}: {joined:?}");
    assert_eq!(joined.protocol_name.as_deref(), Some("range"), "{label}");
    let protocol_type = (JG >= 7).then_some("consumer");
    assert_eq!(joined.protocol_type.as_deref(), protocol_type, "{label}");
    assert!(!joined.skip_assignment, "{label}");
    assert_eq!(joined.members.len(), 1, "{label}");
    assert_eq!(joined.members[0].member_id, joined.member_id, "{label}");
    assert_eq!(joined.members[0].group_instance_id, None, "{label}");
    assert_eq!(joined.members[0].metadata, subscription(&topic), "{label}");
    let member_id = joined.member_id.clone();
    let generation = joined.generation_id;

    // SyncGroup: the leader's assignment comes back unchanged.
    let blob = assignment(&topic, &[0, 1, 2]);
    let synced = send::<_, SG>(
        &m,
        SyncGroupRequest {
            group_id: group.clone(),
            generation_id: generation,
            member_id: member_id.clone(),
            group_instance_id: None,
            protocol_type: Some("consumer".to_owned()),
            protocol_name: Some("range".to_owned()),
            assignments: vec![SyncGroupAssignment {
                member_id: member_id.clone(),
                assignment: blob.clone(),
            }],
        },
    )
    .await;
    assert_eq!(synced.error_code, 0, "{label}: {synced:?}");
    assert_eq!(synced.assignment, blob, "{label}");
    let (ptype, pname) = if SG >= 5 {
        (Some("consumer"), Some("range"))
    } else {
        (None, None)
    };
    assert_eq!(synced.protocol_type.as_deref(), ptype, "{label}");
    assert_eq!(synced.protocol_name.as_deref(), pname, "{label}");

    // Heartbeat: fine at the current generation, ILLEGAL_GENERATION at another.
    let heartbeat = |generation_id| HeartbeatRequest {
        group_id: group.clone(),
        generation_id,
        member_id: member_id.clone(),
        group_instance_id: None,
    };
    let r = send::<_, HB>(&m, heartbeat(generation)).await;
    assert_eq!(r.error_code, 0, "{label}: {r:?}");
    let r = send::<_, HB>(&m, heartbeat(generation + 5)).await;
    assert_eq!(r.error_code, ILLEGAL_GENERATION, "{label}: {r:?}");

    // OffsetCommit as the member, then OffsetFetch: a partition never committed reads −1.
    let r = send::<_, OC>(
        &m,
        OffsetCommitRequest {
            group_id: group.clone(),
            generation_id_or_member_epoch: generation,
            member_id: member_id.clone(),
            group_instance_id: None,
            topics: vec![OffsetCommitTopic {
                name: topic.clone(),
                partitions: [(0, 5), (1, 7)]
                    .into_iter()
                    .map(
                        |(partition_index, committed_offset)| OffsetCommitPartition {
                            partition_index,
                            committed_offset,
                            committed_leader_epoch: -1,
                            committed_metadata: Some("m".to_owned()),
                        },
                    )
                    .collect(),
            }],
        },
    )
    .await;
    assert_eq!(r.topics.len(), 1, "{label}: {r:?}");
    assert_eq!(r.topics[0].name, topic, "{label}");
    let mut results: Vec<_> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    results.sort();
    assert_eq!(results, [(0, 0), (1, 0)], "{label}");

    let r = send::<_, OF>(&m, offset_fetch(&group, &topic, vec![0, 1, 2])).await;
    let got = committed(&r, &topic);
    assert_eq!(got.len(), 3, "{label}: {r:?}");
    assert_eq!(got[0], (0, 5, "m".to_owned()), "{label}");
    assert_eq!(got[1], (1, 7, "m".to_owned()), "{label}");
    assert_eq!((got[2].0, got[2].1), (2, -1), "{label}: never committed");
    if OF >= 2 {
        // Null topics: everything the group committed.
        let all = OffsetFetchRequest {
            group_id: group.clone(),
            topics: None,
            require_stable: false,
        };
        let r = send::<_, OF>(&m, all).await;
        assert_eq!(
            committed(&r, &topic),
            [(0, 5, "m".to_owned()), (1, 7, "m".to_owned())],
            "{label}: {r:?}"
        );
    }

    // DescribeGroups: Stable, this one member with its metadata and assignment.
    let describe = || DescribeGroupsRequest {
        groups: vec![group.clone()],
        include_authorized_operations: true,
    };
    let r = send::<_, DG>(&m, describe()).await;
    assert_eq!(r.groups.len(), 1, "{label}: {r:?}");
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0, "{label}: {g:?}");
    assert_eq!(g.group_id, group, "{label}");
    assert_eq!(g.group_state, "Stable", "{label}");
    assert_eq!(g.protocol_type, "consumer", "{label}");
    assert_eq!(g.protocol_data, "range", "{label}");
    assert_eq!(g.members.len(), 1, "{label}: {g:?}");
    let member = &g.members[0];
    assert_eq!(member.member_id, member_id, "{label}");
    assert_eq!(member.group_instance_id, None, "{label}");
    assert_eq!(member.client_id, "wire-group-test", "{label}");
    assert!(
        member.client_host.contains("127.0.0.1"),
        "{label}: {member:?}"
    );
    assert_eq!(member.member_metadata, subscription(&topic), "{label}");
    assert_eq!(member.member_assignment, blob, "{label}");
    if DG >= 3 {
        assert_ne!(g.authorized_operations, i32::MIN, "{label}: requested");
    } else {
        assert_eq!(g.authorized_operations, i32::MIN, "{label}");
    }

    // ListGroups (filtered on Stable from v4) lists the group.
    let states_filter = vec!["Stable".to_owned()];
    let r = send::<_, LG>(&m, ListGroupsRequest { states_filter }).await;
    assert_eq!(r.error_code, 0, "{label}: {r:?}");
    let listed = r
        .groups
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{label}: {group} not listed in {r:?}"));
    assert_eq!(listed.protocol_type, "consumer", "{label}");
    let state = (LG >= 4).then_some("Stable");
    assert_eq!(listed.group_state.as_deref(), state, "{label}");
    if LG >= 4 {
        assert!(
            r.groups
                .iter()
                .all(|g| g.group_state.as_deref() == Some("Stable")),
            "{label}: filter ignored: {r:?}"
        );
    }

    // LeaveGroup, after which the group is Empty (it keeps its offsets).
    let r = send::<_, LV>(
        &m,
        LeaveGroupRequest {
            group_id: group.clone(),
            members: vec![LeaveMember {
                member_id: member_id.clone(),
                group_instance_id: None,
                reason: Some("done".to_owned()),
            }],
        },
    )
    .await;
    assert_eq!(r.error_code, 0, "{label}: {r:?}");
    if LV >= 3 {
        assert_eq!(r.members.len(), 1, "{label}: {r:?}");
        assert_eq!(r.members[0].member_id, member_id, "{label}");
        assert_eq!(r.members[0].error_code, 0, "{label}");
    } else {
        assert!(r.members.is_empty(), "{label}");
    }
    let r = send::<_, DG>(&m, describe()).await;
    let g = &r.groups[0];
    assert_eq!(
        (g.error_code, g.group_state.as_str()),
        (0, "Empty"),
        "{label}"
    );
    assert!(g.members.is_empty(), "{label}: {g:?}");
}

#[tokio::test]
async fn group_lifecycle_at_the_lowest_versions() {
    lifecycle::<1, 2, 1, 1, 2, 1, 1, 1, 1>().await;
}

#[tokio::test]
async fn group_lifecycle_at_the_last_classic_versions() {
    // The newest non-flexible version of each API (FindCoordinator v2, JoinGroup v5, …).
    lifecycle::<2, 5, 3, 3, 7, 5, 4, 2, 3>().await;
}

#[tokio::test]
async fn group_lifecycle_at_the_first_flexible_versions() {
    lifecycle::<3, 6, 4, 4, 8, 6, 5, 3, 4>().await;
}

#[tokio::test]
async fn group_lifecycle_at_the_highest_versions() {
    lifecycle::<4, 9, 5, 4, 9, 9, 5, 4, 5>().await;
}

#[tokio::test]
async fn kafka_4_negotiates_the_highest_versions_this_crate_speaks() {
    let topic = unique("wire-group-neg");
    let group = unique("wire-group-neg-g");
    create_topic(&topic, 1);
    let m = coordinator::<4>(&group).await;

    let (v, r) = send_negotiated(
        &m,
        FindCoordinatorRequest {
            key: group.clone(),
            key_type: KEY_TYPE_GROUP,
        },
    )
    .await;
    assert_eq!(v, FindCoordinatorRequest::MAX_VERSION);
    assert_eq!(r.coordinator(&group).unwrap().error_code, 0, "{r:?}");

    let (v, r) = send_negotiated(&m, join_request(&group, &topic, "")).await;
    assert_eq!(v, JoinGroupRequest::MAX_VERSION);
    assert_eq!(r.error_code, MEMBER_ID_REQUIRED, "{r:?}");
    let member_id = r.member_id;

    let (v, r) = send_negotiated(&m, join_request(&group, &topic, &member_id)).await;
    assert_eq!(v, JoinGroupRequest::MAX_VERSION);
    assert_eq!((r.error_code, r.generation_id), (0, 1), "{r:?}");

    let blob = assignment(&topic, &[0]);
    let (v, r) = send_negotiated(
        &m,
        SyncGroupRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member_id.clone(),
            protocol_type: Some("consumer".to_owned()),
            protocol_name: Some("range".to_owned()),
            assignments: vec![SyncGroupAssignment {
                member_id: member_id.clone(),
                assignment: blob.clone(),
            }],
            ..SyncGroupRequest::default()
        },
    )
    .await;
    assert_eq!(v, SyncGroupRequest::MAX_VERSION);
    assert_eq!((r.error_code, r.assignment), (0, blob));

    let (v, r) = send_negotiated(
        &m,
        HeartbeatRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member_id.clone(),
            group_instance_id: None,
        },
    )
    .await;
    assert_eq!(v, HeartbeatRequest::MAX_VERSION);
    assert_eq!(r.error_code, 0);

    let (v, r) = send_negotiated(
        &m,
        OffsetCommitRequest {
            group_id: group.clone(),
            generation_id_or_member_epoch: 1,
            member_id: member_id.clone(),
            topics: vec![OffsetCommitTopic {
                name: topic.clone(),
                partitions: vec![OffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 11,
                    ..OffsetCommitPartition::default()
                }],
            }],
            ..OffsetCommitRequest::default()
        },
    )
    .await;
    assert_eq!(v, OffsetCommitRequest::MAX_VERSION);
    assert_eq!(r.topics[0].partitions[0].error_code, 0, "{r:?}");

    let (v, r) = send_negotiated(&m, offset_fetch(&group, &topic, vec![0])).await;
    assert_eq!(v, OffsetFetchRequest::MAX_VERSION);
    assert_eq!(committed(&r, &topic), [(0, 11, String::new())]);

    let (v, r) = send_negotiated(
        &m,
        DescribeGroupsRequest {
            groups: vec![group.clone()],
            include_authorized_operations: false,
        },
    )
    .await;
    assert_eq!(v, DescribeGroupsRequest::MAX_VERSION);
    assert_eq!(r.groups[0].group_state, "Stable");

    let (v, r) = send_negotiated(&m, ListGroupsRequest::default()).await;
    assert_eq!(v, ListGroupsRequest::MAX_VERSION);
    assert!(r.groups.iter().any(|g| g.group_id == group), "{r:?}");

    let (v, r) = send_negotiated(
        &m,
        LeaveGroupRequest {
            group_id: group.clone(),
            members: vec![LeaveMember {
                member_id,
                ..LeaveMember::default()
            }],
        },
    )
    .await;
    assert_eq!(v, LeaveGroupRequest::MAX_VERSION);
    assert_eq!(r.error_code, 0, "{r:?}");
}

/// Runs a librdkafka (confluent-kafka) script with `args`; returns its stdout.
fn librdkafka(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .args(["-c", script])
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "librdkafka peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn committed_offsets_are_shared_with_librdkafka() {
    let topic = unique("wire-group-rdk");
    let group = unique("wire-group-rdk-g");
    create_topic(&topic, 2);

    // librdkafka commits offset 3 on partition 0 and closes.
    let commit = r#"
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "enable.auto.commit": False})
c.assign([TopicPartition(sys.argv[3], 0, 0)])
c.commit(offsets=[TopicPartition(sys.argv[3], 0, 3)], asynchronous=False)
c.close()
"#;
    librdkafka(commit, &[bootstrap(), &group, &topic]);

    let m = coordinator::<4>(&group).await;
    let (_, r) = send_negotiated(&m, offset_fetch(&group, &topic, vec![0, 1])).await;
    let got = committed(&r, &topic);
    assert_eq!((got[0].0, got[0].1), (0, 3), "highest version: {r:?}");
    assert_eq!((got[1].0, got[1].1), (1, -1), "highest version: {r:?}");
    let r = send::<_, 1>(&m, offset_fetch(&group, &topic, vec![0])).await;
    assert_eq!(committed(&r, &topic)[0].1, 3, "v1: {r:?}");

    // A commit outside group management here (generation −1) is what librdkafka reads back.
    let r = send::<_, 2>(
        &m,
        OffsetCommitRequest {
            group_id: group.clone(),
            topics: vec![OffsetCommitTopic {
                name: topic.clone(),
                partitions: vec![OffsetCommitPartition {
                    partition_index: 1,
                    committed_offset: 9,
                    committed_metadata: Some("rk".to_owned()),
                    ..OffsetCommitPartition::default()
                }],
            }],
            ..OffsetCommitRequest::default()
        },
    )
    .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0, "{r:?}");
    // (Consumer.committed() of confluent-kafka 2.16 returns garbage metadata; the AdminClient
    // reads it correctly.)
    let read = r#"
import sys
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
a = AdminClient({"bootstrap.servers": sys.argv[1]})
request = ConsumerGroupTopicPartitions(
    sys.argv[2], [TopicPartition(sys.argv[3], p) for p in (0, 1)])
result = a.list_consumer_group_offsets([request])[sys.argv[2]].result(30)
tps = sorted(result.topic_partitions, key=lambda tp: tp.partition)
print(" ".join(f"{tp.partition}:{tp.offset}:{tp.metadata}" for tp in tps))
"#;
    assert_eq!(
        librdkafka(read, &[bootstrap(), &group, &topic]),
        "0:3:None 1:9:rk"
    );
}
