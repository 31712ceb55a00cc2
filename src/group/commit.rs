//! Offset fetch and commit for a group member.
//!
//! Invariants: a commit never covers a message the application was not given (it commits the
//! stored offsets, see `state`), and never moves a partition's committed offset
//! backwards.

use std::collections::BTreeMap;

use crate::{
    error::{Error, KafkaCode, Result},
    state::Shared,
    types::TopicPartition,
    wire::{
        offset_commit::{OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic},
        offset_fetch::{OffsetFetchRequest, OffsetFetchTopic},
    },
};

use super::member::Member;

/// The stored offsets of `partitions` (all assigned when `None`) that are ahead of what was
/// committed.
pub(crate) fn pending_offsets(
    shared: &Shared,
    partitions: Option<&[TopicPartition]>,
) -> Vec<(TopicPartition, i64)> {
    shared.partitions.pending_offsets(partitions)
}

/// Commits `offsets` for the member's current generation. Every partition's error is checked;
/// the first is returned.
pub(crate) async fn commit(
    member: &Member,
    offsets: &[(TopicPartition, i64)],
    metadata: Option<&str>,
) -> Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let (member_id, generation) = member.identity();
    let mut topics: BTreeMap<&str, Vec<OffsetCommitPartition>> = BTreeMap::new();
    for (tp, offset) in offsets {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitPartition {
                partition_index: tp.partition,
                committed_offset: *offset,
                committed_leader_epoch: -1,
                committed_metadata: metadata.map(str::to_owned),
            });
    }
    let request = OffsetCommitRequest {
        group_id: member.group_id.clone(),
        generation_id_or_member_epoch: generation,
        member_id,
        group_instance_id: member.config.group_instance_id.clone(),
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitTopic {
                name: name.to_owned(),
                partitions,
            })
            .collect(),
    };
    let response = member.coordinator_request(request).await?;
    let mut first_error = None;
    let mut committed = Vec::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
            match KafkaCode::from_code(p.error_code) {
                None => {
                    if let Some(o) = offsets.iter().find(|(t, _)| *t == tp).map(|(_, o)| *o) {
                        committed.push((tp, o));
                    }
                }
                Some(code) => {
                    first_error.get_or_insert(Error::Kafka {
                        api: "OffsetCommit",
                        code,
                        context: Some(tp.to_string()),
                    });
                }
            }
        }
    }
    member.shared.partitions.mark_committed(&committed);
    match first_error {
        Some(e) => {
            member.note_error_code(&e).await;
            Err(e)
        }
        None => Ok(()),
    }
}

/// The committed offsets of `partitions` (`None` where the group has none).
pub(crate) async fn fetch_committed(
    member: &Member,
    partitions: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Option<i64>)>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    let request = OffsetFetchRequest {
        group_id: member.group_id.clone(),
        topics: Some(
            topics
                .into_iter()
                .map(|(name, partition_indexes)| OffsetFetchTopic {
                    name: name.to_owned(),
                    partition_indexes,
                })
                .collect(),
        ),
        require_stable: true,
    };
    let response = member.coordinator_request(request).await?;
    if let Some(code) = KafkaCode::from_code(response.error_code) {
        let e = Error::Kafka {
            api: "OffsetFetch",
            code,
            context: Some(format!("group {}", member.group_id)),
        };
        member.note_error_code(&e).await;
        return Err(e);
    }
    let mut out = Vec::with_capacity(partitions.len());
    for tp in partitions {
        let found = response
            .topics
            .iter()
            .filter(|t| t.name == *tp.topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == tp.partition);
        match found {
            Some(p) if p.error_code != 0 => {
                return Err(Error::Kafka {
                    api: "OffsetFetch",
                    code: KafkaCode(p.error_code),
                    context: Some(tp.to_string()),
                });
            }
            Some(p) if p.committed_offset >= 0 => out.push((tp.clone(), Some(p.committed_offset))),
            _ => out.push((tp.clone(), None)),
        }
    }
    Ok(out)
}
