//! Looking at a consumer group from outside, as `kafka-consumer-groups --describe` does: its
//! state, members and their assignments (DescribeGroups at the coordinator), and its lag
//! (OffsetFetch at the coordinator, ListOffsets at each partition leader).
//!
//! Nothing here joins the group. Each call finds the coordinator anew; a coordinator error
//! (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS) or a broken
//! connection is retried once, a second later, after forgetting it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rskafka_consumer::Error> {
//! use rskafka_consumer::{ClientConfig, Cluster, group::admin};
//!
//! let cluster = Cluster::connect(ClientConfig::new("127.0.0.1:9092")?).await?;
//! let group = admin::describe_group(&cluster, "my-group").await?;
//! println!("{} is {} with {} members", group.group_id, group.state, group.members.len());
//! for p in admin::group_lag(&cluster, "my-group").await? {
//!     println!("{} [{}] lag {:?}", p.topic, p.partition, p.lag);
//! }
//! # Ok(()) }
//! ```

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures::future::join_all;
use serde::{Serialize, Serializer};

use crate::{
    cluster::{Cluster, connection::BrokerConnection},
    config::BrokerAddress,
    error::{Error, KafkaCode, Result},
    types::TopicPartition,
    wire::{
        WireRequest,
        describe_groups::DescribeGroupsRequest,
        list_offsets::{
            LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
        },
        metadata::{MetadataRequest, MetadataResponse},
        offset_commit::{OffsetCommitPartition, OffsetCommitRequest},
        offset_fetch::OffsetFetchRequest,
    },
};

use super::{
    coordinator::{Coordinator, Lane, is_coordinator_error},
    protocol::Assignment,
};

/// A group's state and members, as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", or "Dead" (also for a
    /// group that does not exist).
    pub state: String,
    /// The protocol type, "consumer" for consumer groups; empty when the group has no members.
    pub protocol_type: String,
    /// The assignor the group selected (e.g. "range"); empty unless the group is Stable.
    pub protocol: String,
    /// The members, in the coordinator's order.
    pub members: Vec<GroupMember>,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// The static member id (`group.instance.id`), `None` for dynamic members.
    pub group_instance_id: Option<String>,
    /// The client id it joined with.
    pub client_id: String,
    /// The host it connected from, e.g. "/127.0.0.1".
    pub client_host: String,
    /// Its assigned partitions, sorted: decoded from the member's assignment when the protocol
    /// type is "consumer" and the group is Stable, empty otherwise. Serialized as
    /// `[{"topic":…,"partition":…},…]`.
    #[serde(serialize_with = "serialize_partitions")]
    pub assignment: Vec<TopicPartition>,
}

/// Where a group stands on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionLag {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The group's committed offset, `None` when it has none (a partition assigned to a member
    /// that has not committed yet).
    pub committed: Option<i64>,
    /// The log end offset: the high watermark (ListOffsets latest, read_uncommitted); −1 when
    /// the partition no longer exists (offsets left over from a deleted topic).
    pub log_end: i64,
    /// `log_end − committed`, `None` when either is unknown.
    pub lag: Option<i64>,
    /// The member the partition is assigned to now, if any.
    pub member_id: Option<String>,
}

/// Describes `group_id`: state, protocol and members with their assignments. A group that does
/// not exist is reported in state "Dead" with no members, not as an error.
pub async fn describe_group(cluster: &Cluster, group_id: &str) -> Result<GroupDescription> {
    let coordinator = Coordinator::new(group_id.to_owned(), cluster.config().clone());
    describe(cluster, &coordinator, group_id).await
}

/// The lag of `group_id` on every partition it has committed an offset for, plus every
/// partition assigned to a member now, sorted by topic and partition. Empty for a group that
/// does not exist.
pub async fn group_lag(cluster: &Cluster, group_id: &str) -> Result<Vec<PartitionLag>> {
    let coordinator = Coordinator::new(group_id.to_owned(), cluster.config().clone());
    let description = describe(cluster, &coordinator, group_id).await?;

    let request = OffsetFetchRequest {
        group_id: group_id.to_owned(),
        topics: None,
        require_stable: false,
    };
    // GROUP_ID_NOT_FOUND: a group without offsets, the same as an empty answer.
    let fetched = ask(cluster, &coordinator, group_id, request, |r| {
        if KafkaCode(r.error_code) == KafkaCode::GROUP_ID_NOT_FOUND {
            0
        } else {
            r.error_code
        }
    })
    .await?
    .topics;

    // (topic, partition) → (committed, member)
    let mut rows: BTreeMap<(String, i32), (Option<i64>, Option<String>)> = BTreeMap::new();
    for topic in fetched {
        for p in topic.partitions {
            if let Some(code) = KafkaCode::from_code(p.error_code) {
                return Err(Error::Kafka {
                    api: "OffsetFetch",
                    code,
                    context: Some(format!("{} [{}]", topic.name, p.partition_index)),
                });
            }
            if p.committed_offset >= 0 {
                rows.insert(
                    (topic.name.clone(), p.partition_index),
                    (Some(p.committed_offset), None),
                );
            }
        }
    }
    for member in &description.members {
        for tp in &member.assignment {
            rows.entry((tp.topic.to_string(), tp.partition))
                .or_default()
                .1 = Some(member.member_id.clone());
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    let partitions: BTreeSet<(String, i32)> = rows.keys().cloned().collect();
    let ends = log_ends(cluster, &partitions).await?;
    Ok(rows
        .into_iter()
        .map(|((topic, partition), (committed, member_id))| {
            let log_end = ends.get(&(topic.clone(), partition)).copied().unwrap_or(-1);
            PartitionLag {
                topic,
                partition,
                committed,
                log_end,
                lag: committed.filter(|_| log_end >= 0).map(|c| log_end - c),
                member_id,
            }
        })
        .collect())
}

/// `group_id`'s committed offsets of `partitions` (`None` where it has none). A group that
/// does not exist has none.
pub async fn committed_offsets(
    cluster: &Cluster,
    group_id: &str,
    partitions: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Option<i64>)>> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let coordinator = Coordinator::new(group_id.to_owned(), cluster.config().clone());
    let request = OffsetFetchRequest::for_partitions(
        group_id.to_owned(),
        partitions.iter().map(|tp| (&*tp.topic, tp.partition)),
    );
    let response = ask(cluster, &coordinator, group_id, request, |r| {
        if KafkaCode(r.error_code) == KafkaCode::GROUP_ID_NOT_FOUND {
            0
        } else {
            r.error_code
        }
    })
    .await?;
    partitions
        .iter()
        .map(|tp| {
            response
                .committed(&tp.topic, tp.partition)
                .map(|o| (tp.clone(), o))
                .map_err(|code| Error::Kafka {
                    api: "OffsetFetch",
                    code: KafkaCode(code),
                    context: Some(tp.to_string()),
                })
        })
        .collect()
}

/// Commits `offsets` (the next offset to consume per partition) for `group_id` from outside
/// the group, as `kafka-consumer-groups --reset-offsets` does: the coordinator accepts this
/// only while the group has no members (it answers UNKNOWN_MEMBER_ID otherwise).
pub async fn commit_offsets(
    cluster: &Cluster,
    group_id: &str,
    offsets: &[(TopicPartition, i64)],
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let coordinator = Coordinator::new(group_id.to_owned(), cluster.config().clone());
    let request = OffsetCommitRequest::for_partitions(
        group_id.to_owned(),
        offsets.iter().map(|(tp, offset)| {
            let partition = OffsetCommitPartition {
                partition_index: tp.partition,
                committed_offset: *offset,
                ..OffsetCommitPartition::default()
            };
            (&*tp.topic, partition)
        }),
    );
    let response = ask(cluster, &coordinator, group_id, request, |_| 0).await?;
    for topic in &response.topics {
        for p in &topic.partitions {
            if let Some(code) = KafkaCode::from_code(p.error_code) {
                return Err(Error::Kafka {
                    api: "OffsetCommit",
                    code,
                    context: Some(format!("{} [{}]", topic.name, p.partition_index)),
                });
            }
        }
    }
    Ok(())
}

/// DescribeGroups for one group, assignments decoded.
async fn describe(
    cluster: &Cluster,
    coordinator: &Coordinator,
    group_id: &str,
) -> Result<GroupDescription> {
    let request = DescribeGroupsRequest {
        groups: vec![group_id.to_owned()],
        include_authorized_operations: false,
    };
    let response = ask(cluster, coordinator, group_id, request, |r| {
        r.groups.first().map_or(0, |g| g.error_code)
    })
    .await?;
    let group = response
        .groups
        .into_iter()
        .find(|g| g.group_id == group_id)
        .ok_or_else(|| Error::Request {
            broker: "coordinator".into(),
            api: "DescribeGroups",
            reason: format!("the response does not describe group {group_id}"),
        })?;
    if KafkaCode(group.error_code) == KafkaCode::GROUP_ID_NOT_FOUND {
        // As newer coordinators may say: the same as "Dead".
        return Ok(GroupDescription {
            group_id: group_id.to_owned(),
            state: "Dead".into(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        });
    }
    let consumer = group.protocol_type == "consumer";
    let members = group
        .members
        .into_iter()
        .map(|m| {
            let mut assignment: Vec<TopicPartition> = if consumer {
                Assignment::decode(&m.member_assignment)
                    .map_err(|error| Error::Decode {
                        source_desc: format!(
                            "the assignment of member {} of group {group_id}",
                            m.member_id
                        ),
                        error,
                    })?
                    .partitions
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|&p| TopicPartition::new(t.topic.as_str(), p))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            assignment.sort();
            assignment.dedup();
            Ok(GroupMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                assignment,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(GroupDescription {
        group_id: group.group_id,
        state: group.group_state,
        protocol_type: group.protocol_type,
        protocol: group.protocol_data,
        members,
    })
}

/// Sends `request` to the coordinator; `error_of` picks the group-level error code out of the
/// response. A coordinator error or a broken connection is retried once, after forgetting the
/// coordinator and pausing [`RETRY_BACKOFF`].
async fn ask<R: WireRequest + Clone>(
    cluster: &Cluster,
    coordinator: &Coordinator,
    group_id: &str,
    request: R,
    error_of: impl Fn(&R::Response) -> i16,
) -> Result<R::Response> {
    let timeout = cluster.config().request_timeout;
    for attempt in 0..2 {
        let result = coordinator
            .request(cluster, Lane::Prompt, request.clone(), timeout)
            .await
            .and_then(|response| match KafkaCode::from_code(error_of(&response)) {
                None => Ok(response),
                Some(code) => Err(Error::Kafka {
                    api: R::NAME,
                    code,
                    context: Some(format!("group {group_id}")),
                }),
            });
        match result {
            Err(e) if attempt == 0 && is_coordinator_trouble(&e) => {
                tracing::debug!(group = %group_id, error = %e, api = R::NAME, "retrying once");
                coordinator.forget();
                tokio::time::sleep(RETRY_BACKOFF).await;
            }
            other => return other,
        }
    }
    unreachable!("the second attempt always returns")
}

/// Pause before the one retry of a coordinator request: long enough for a coordinator that
/// was just elected to load its offsets partition (a fresh cluster answers NOT_COORDINATOR
/// for a few hundred milliseconds), short for a command-line tool.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Whether `e` means the coordinator moved, is not ready, or could not be reached.
fn is_coordinator_trouble(e: &Error) -> bool {
    match e {
        Error::Kafka { code, .. } => {
            is_coordinator_error(*code) || *code == KafkaCode::COORDINATOR_LOAD_IN_PROGRESS
        }
        Error::Connect { .. }
        | Error::ConnectTimeout { .. }
        | Error::Request { .. }
        | Error::RequestTimeout { .. } => true,
        _ => false,
    }
}

/// The high watermark of each of `partitions`, asked of each leader. Partitions whose leader
/// moved get one more round with fresh metadata. Partitions that no longer exist are left out.
async fn log_ends(
    cluster: &Cluster,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<BTreeMap<(String, i32), i64>> {
    let topics: Vec<String> = partitions
        .iter()
        .map(|(t, _)| t.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut ends = BTreeMap::new();
    let mut pending = partitions.clone();
    for attempt in 0..2 {
        let last = attempt == 1;
        let request = MetadataRequest {
            topics: Some(topics.clone()),
            allow_auto_topic_creation: false,
        };
        let (_, metadata) = cluster.request_any(request).await?;
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut retry = BTreeSet::new();
        for (topic, partition) in &pending {
            match locate(&metadata, topic, *partition) {
                Location::Leader(node) => by_leader
                    .entry(node)
                    .or_default()
                    .push((topic.clone(), *partition)),
                Location::Gone => {}
                Location::Leaderless(code) if last => {
                    return Err(Error::Kafka {
                        api: "Metadata",
                        code,
                        context: Some(format!("{topic} [{partition}]")),
                    });
                }
                Location::Leaderless(_) => {
                    retry.insert((topic.clone(), *partition));
                }
            }
        }
        let asks = by_leader.into_iter().map(|(node, tps)| {
            let metadata = &metadata;
            async move {
                let result = list_latest(cluster, metadata, node, &tps).await;
                (tps, result)
            }
        });
        for (tps, result) in join_all(asks).await {
            match result {
                Ok(answers) => {
                    for (tp, answer) in tps.into_iter().zip(answers) {
                        match answer {
                            Ok(offset) => {
                                ends.insert(tp, offset);
                            }
                            Err(code) if code.is_leader_change() && !last => {
                                retry.insert(tp);
                            }
                            Err(code) => {
                                return Err(Error::Kafka {
                                    api: "ListOffsets",
                                    code,
                                    context: Some(format!("{} [{}]", tp.0, tp.1)),
                                });
                            }
                        }
                    }
                }
                Err(e) if e.is_retriable() && !last => {
                    tracing::debug!(error = %e, "ListOffsets failed, retrying once");
                    retry.extend(tps);
                }
                Err(e) => return Err(e),
            }
        }
        if retry.is_empty() {
            break;
        }
        pending = retry;
    }
    Ok(ends)
}

/// What metadata says about one partition.
enum Location {
    /// Led by this node.
    Leader(i32),
    /// The topic or partition does not exist (any more).
    Gone,
    /// It exists but has no usable leader: the metadata's error, or LEADER_NOT_AVAILABLE.
    Leaderless(KafkaCode),
}

fn locate(metadata: &MetadataResponse, topic: &str, partition: i32) -> Location {
    let Some(t) = metadata
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
    else {
        return Location::Gone;
    };
    match KafkaCode::from_code(t.error_code) {
        None => {}
        Some(KafkaCode::UNKNOWN_TOPIC_OR_PARTITION) => return Location::Gone,
        Some(code) => return Location::Leaderless(code),
    }
    match t.partitions.iter().find(|p| p.partition_index == partition) {
        None => Location::Gone,
        Some(p) if p.leader_id >= 0 => Location::Leader(p.leader_id),
        Some(p) => Location::Leaderless(
            KafkaCode::from_code(p.error_code).unwrap_or(KafkaCode::LEADER_NOT_AVAILABLE),
        ),
    }
}

/// ListOffsets latest (read_uncommitted) for `tps` at `node`: one answer per partition, in
/// order, either the offset or the partition's error code.
async fn list_latest(
    cluster: &Cluster,
    metadata: &MetadataResponse,
    node: i32,
    tps: &[(String, i32)],
) -> Result<Vec<Result<i64, KafkaCode>>> {
    let broker = metadata
        .brokers
        .iter()
        .find(|b| b.node_id == node)
        .and_then(|b| {
            Some(BrokerAddress {
                host: b.host.clone(),
                port: u16::try_from(b.port).ok()?,
            })
        })
        .ok_or_else(|| Error::Request {
            broker: format!("node {node}"),
            api: "ListOffsets",
            reason: "the leader is not among the brokers metadata lists".into(),
        })?;
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (topic, partition) in tps {
        topics.entry(topic).or_default().push(ListOffsetsPartition {
            partition: *partition,
            current_leader_epoch: -1,
            timestamp: LATEST_TIMESTAMP,
        });
    }
    let request = ListOffsetsRequest {
        isolation_level: 0,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| ListOffsetsTopic {
                topic: topic.to_owned(),
                partitions,
            })
            .collect(),
    };
    let conn = BrokerConnection::connect(&broker, cluster.config()).await?;
    let response = conn.request(request).await?;
    Ok(tps
        .iter()
        .map(|(topic, partition)| {
            let found = response
                .topics
                .iter()
                .filter(|t| t.topic == *topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition == *partition);
            match found {
                // No answer for the partition: treat it as a moved leader.
                None => Err(KafkaCode::NOT_LEADER_OR_FOLLOWER),
                Some(p) => match KafkaCode::from_code(p.error_code) {
                    Some(code) => Err(code),
                    None => Ok(p.offset),
                },
            }
        })
        .collect())
}

#[allow(clippy::ptr_arg)] // serde hands over the field itself
fn serialize_partitions<S: Serializer>(
    partitions: &Vec<TopicPartition>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tp<'a> {
        topic: &'a str,
        partition: i32,
    }
    serializer.collect_seq(partitions.iter().map(|tp| Tp {
        topic: &tp.topic,
        partition: tp.partition,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_serializes_as_topic_partition_objects() {
        let member = GroupMember {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            assignment: vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)],
        };
        assert_eq!(
            serde_json::to_string(&member).unwrap(),
            r#"{"member_id":"m","group_instance_id":null,"client_id":"c","client_host":"/127.0.0.1","assignment":[{"topic":"t","partition":0},{"topic":"t","partition":2}]}"#
        );
    }

    #[test]
    fn coordinator_trouble_is_retried_other_errors_are_not() {
        let kafka = |code| Error::Kafka {
            api: "DescribeGroups",
            code: KafkaCode(code),
            context: None,
        };
        assert!(is_coordinator_trouble(&kafka(16)));
        assert!(is_coordinator_trouble(&kafka(15)));
        assert!(is_coordinator_trouble(&kafka(14)));
        assert!(!is_coordinator_trouble(&kafka(30))); // GROUP_AUTHORIZATION_FAILED
    }
}
