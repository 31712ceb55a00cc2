//! `rkc group describe` and `rkc group lag` against the real broker, judged by a librdkafka
//! group member and librdkafka's AdminClient (describe_consumer_groups,
//! list_consumer_group_offsets) and watermarks.

mod support;

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use rskafka_consumer::{ClientConfig, Cluster, group::admin};
use serde_json::{Value, json};
use support::{PeerProcess, bootstrap, create_topic, produce, rkc, unique, watermarks};

const WAIT: Duration = Duration::from_secs(90);

/// The librdkafka side of these tests (confluent-kafka), written to a file once per process.
///
///   member BOOTSTRAP GROUP TOPIC CLIENT_ID COMMITS
///       joins GROUP subscribed to TOPIC (default strategies, "range,roundrobin"); once it has an
///       assignment, commits COMMITS ("P=OFFSET,…", may be empty) synchronously and prints
///       {"member_id","assignment":[[t,p],…]}; closes (LeaveGroup) when stdin reads a line or
///       closes, then prints {"closed":true}.
///   describe BOOTSTRAP GROUP
///       AdminClient.describe_consumer_groups: {"state","protocol","members":[{"member_id",
///       "client_id","host","instance_id","assignment":[[t,p],…]}]}
///   offsets BOOTSTRAP GROUP
///       AdminClient.list_consumer_group_offsets: {"<topic>:<partition>": offset, …}
const PEER: &str = r#"
import json, sys, time
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

def out(v):
    print(json.dumps(v))
    sys.stdout.flush()

def member(bootstrap, group, topic, client_id, commits):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "client.id": client_id,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([topic])
    deadline = time.time() + 60
    consumed = 0
    while not c.assignment():
        if time.time() > deadline:
            raise SystemExit("no assignment within 60 s")
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            consumed += 1
    offsets = [TopicPartition(topic, int(p), int(o))
               for p, o in (kv.split("=") for kv in commits.split(",") if kv)]
    if offsets:
        c.commit(offsets=offsets, asynchronous=False)
    out({"member_id": c.memberid(),
         "assignment": sorted([tp.topic, tp.partition] for tp in c.assignment())})
    sys.stdin.readline()
    c.close()
    out({"closed": True})

def describe(bootstrap, group):
    a = AdminClient({"bootstrap.servers": bootstrap})
    d = a.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=30)
    out({"state": d.state.name, "protocol": d.partition_assignor,
         "members": [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                      "instance_id": m.group_instance_id,
                      "assignment": sorted([tp.topic, tp.partition]
                                           for tp in m.assignment.topic_partitions)}
                     for m in d.members]})

def offsets(bootstrap, group):
    a = AdminClient({"bootstrap.servers": bootstrap})
    f = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)
    r = f[group].result(timeout=30)
    out({f"{tp.topic}:{tp.partition}": tp.offset for tp in r.topic_partitions})

{"member": member, "describe": describe, "offsets": offsets}[sys.argv[1]](*sys.argv[2:])
"#;

/// Path of the peer script (an absolute path: `PeerProcess::spawn` and `support::peer` join
/// it onto `tests/peers/`, which an absolute path replaces). Written under a temporary name and
/// renamed, so test processes running at once never see a partial file.
fn peer_script() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("group_cli_peer.py");
        let partial = dir.join(format!("group_cli_peer.py.{}", std::process::id()));
        std::fs::write(&partial, PEER).expect("write the peer script");
        std::fs::rename(&partial, &path).expect("move the peer script in place");
        path.to_str().expect("UTF-8 path").to_owned()
    })
}

/// A librdkafka member of `group` on `topic` that committed `commits`; returns it with what
/// it printed once ready (member id and assignment).
fn start_member(group: &str, topic: &str, client_id: &str, commits: &str) -> (PeerProcess, Value) {
    let mut peer = PeerProcess::spawn(
        peer_script(),
        &["member", bootstrap(), group, topic, client_id, commits],
    );
    let ready = peer.read_json(WAIT);
    (peer, ready)
}

fn stop_member(mut peer: PeerProcess) {
    peer.send_line("stop");
    assert_eq!(peer.read_json(WAIT)["closed"], true);
    peer.wait_success(WAIT);
}

/// What librdkafka's AdminClient says (`describe` or `offsets`).
fn admin_client(what: &str, group: &str) -> Value {
    let out = support::peer(peer_script(), &[what, bootstrap(), group]);
    serde_json::from_slice(&out.stdout).expect("peer prints JSON")
}

fn rkc_ok(args: &[&str]) -> String {
    let out = rkc(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "rkc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn rkc_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = rkc_ok(&all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn partitions_of(topic: &str, ps: &[i64]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| json!({"topic": topic, "partition": p}))
            .collect(),
    )
}

#[test]
fn describe_shows_a_librdkafka_member_as_admin_client_does() {
    let topic = unique("gcli-desc");
    let group = unique("gcli-desc-g");
    let client_id = unique("gcli-client");
    create_topic(&topic, 3);
    let (peer, ready) = start_member(&group, &topic, &client_id, "0=1");
    let member_id = ready["member_id"].as_str().expect("member id").to_owned();
    assert_eq!(
        ready["assignment"],
        json!([[&topic, 0], [&topic, 1], [&topic, 2]])
    );

    let ours = rkc_json(&["group", "describe", "-b", bootstrap(), &group]);
    assert_eq!(ours["group_id"], group.as_str());
    assert_eq!(ours["state"], "Stable", "{ours}");
    assert_eq!(ours["protocol_type"], "consumer");
    assert_eq!(ours["protocol"], "range");
    let members = ours["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{ours}");
    let m = &members[0];
    assert_eq!(m["member_id"], member_id.as_str());
    assert_eq!(m["client_id"], client_id.as_str());
    assert_eq!(m["group_instance_id"], Value::Null);
    assert_eq!(m["assignment"], partitions_of(&topic, &[0, 1, 2]));

    let theirs = admin_client("describe", &group);
    assert_eq!(theirs["state"], "STABLE", "{theirs}");
    assert_eq!(theirs["protocol"], ours["protocol"]);
    let t = &theirs["members"][0];
    assert_eq!(theirs["members"].as_array().unwrap().len(), 1);
    assert_eq!(t["member_id"], m["member_id"]);
    assert_eq!(t["client_id"], m["client_id"]);
    assert_eq!(t["host"], m["client_host"]);
    assert_eq!(t["instance_id"], m["group_instance_id"]);
    assert_eq!(t["assignment"], ready["assignment"]);

    let text = rkc_ok(&["group", "describe", "-b", bootstrap(), &group]);
    assert!(text.contains(&format!("GROUP     {group}\n")), "{text}");
    assert!(text.contains("STATE     Stable\n"), "{text}");
    assert!(text.contains("PROTOCOL  range (consumer)\n"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with(&member_id))
        .unwrap_or_else(|| panic!("no line for the member: {text}"));
    let assignment = format!("{topic}(0,1,2)");
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        [
            member_id.as_str(),
            "-",
            &client_id,
            t["host"].as_str().unwrap(),
            "3",
            &assignment
        ],
        "{text}"
    );

    stop_member(peer);
    let after = rkc_json(&["group", "describe", "-b", bootstrap(), &group]);
    assert_eq!(after["state"], "Empty", "{after}");
    assert_eq!(after["members"], json!([]));
}

#[test]
fn lag_matches_committed_offsets_and_watermarks() {
    let topic = unique("gcli-lag");
    let group = unique("gcli-lag-g");
    create_topic(&topic, 3);
    for p in 0..3 {
        produce(&topic, &["--partition", &p.to_string(), "--count", "10"]);
    }
    // Partition 0 committed at 4, partition 1 at the end, partition 2 never.
    let (peer, ready) = start_member(&group, &topic, &unique("gcli-client"), "0=4,1=10");
    let member_id = ready["member_id"].as_str().expect("member id");

    let ours = rkc_json(&["group", "lag", "-b", bootstrap(), &group]);
    let row = |p: i64, committed: Value, lag: Value, member: Value| {
        json!({"topic": &topic, "partition": p, "committed": committed, "log_end": 10,
               "lag": lag, "member_id": member})
    };
    assert_eq!(
        ours,
        json!([
            row(0, json!(4), json!(6), json!(member_id)),
            row(1, json!(10), json!(0), json!(member_id)),
            row(2, Value::Null, Value::Null, json!(member_id)),
        ])
    );

    // The same numbers as librdkafka's AdminClient and watermarks.
    let committed = admin_client("offsets", &group);
    let high = watermarks(&topic);
    for r in ours.as_array().unwrap() {
        let p = r["partition"].as_i64().unwrap();
        let theirs = committed
            .get(format!("{topic}:{p}"))
            .and_then(Value::as_i64);
        assert_eq!(
            r["committed"].as_i64(),
            theirs.filter(|o| *o >= 0),
            "partition {p}: {committed}"
        );
        assert_eq!(r["log_end"].as_i64(), Some(high[&(p as i32)].1), "{high:?}");
    }

    let text = rkc_ok(&["group", "lag", "-b", bootstrap(), &group]);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "TOPIC",
            "PARTITION",
            "COMMITTED",
            "LOG-END",
            "LAG",
            "MEMBER"
        ]
    );
    assert_eq!(lines[1], [topic.as_str(), "0", "4", "10", "6", member_id]);
    assert_eq!(lines[2], [topic.as_str(), "1", "10", "10", "0", member_id]);
    assert_eq!(lines[3], [topic.as_str(), "2", "-", "10", "-", member_id]);
    assert_eq!(lines.len(), 4, "{text}");

    // Once the member left, only the committed partitions remain, with no member.
    stop_member(peer);
    let after = rkc_json(&["group", "lag", "-b", bootstrap(), &group]);
    assert_eq!(
        after,
        json!([
            row(0, json!(4), json!(6), Value::Null),
            row(1, json!(10), json!(0), Value::Null),
        ])
    );
}

#[test]
fn a_group_that_never_existed_is_dead_with_no_members_and_no_lag() {
    let group = unique("gcli-never");
    let described = rkc_json(&["group", "describe", "-b", bootstrap(), &group]);
    assert_eq!(
        described,
        json!({"group_id": &group, "state": "Dead", "protocol_type": "", "protocol": "",
               "members": []})
    );
    let text = rkc_ok(&["group", "describe", "-b", bootstrap(), &group]);
    assert!(text.contains("STATE     Dead\n"), "{text}");
    assert!(text.contains("MEMBERS   0\n"), "{text}");

    assert_eq!(
        rkc_json(&["group", "lag", "-b", bootstrap(), &group]),
        json!([])
    );
    let text = rkc_ok(&["group", "lag", "-b", bootstrap(), &group]);
    assert_eq!(text.lines().count(), 1, "only the header: {text}");
}

#[tokio::test]
async fn library_reports_a_group_that_never_existed_as_dead() {
    let group = unique("gcli-lib");
    let cluster = Cluster::connect(ClientConfig::new(bootstrap()).unwrap())
        .await
        .unwrap();
    let described = admin::describe_group(&cluster, &group).await.unwrap();
    assert_eq!(described.group_id, group);
    assert_eq!(described.state, "Dead");
    assert!(described.members.is_empty());
    assert!(admin::group_lag(&cluster, &group).await.unwrap().is_empty());
}

#[test]
fn usage_errors_exit_with_code_2() {
    for args in [
        vec!["group", "describe", "-b", "127.0.0.1:9092"],
        vec![
            "group",
            "lag",
            "-b",
            "127.0.0.1:9092",
            "g",
            "-X",
            "no.such.property=1",
        ],
        vec!["group", "nonsense", "-b", "127.0.0.1:9092", "g"],
    ] {
        let out = rkc(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
