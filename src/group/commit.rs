//! Offset fetch and commit for a group member.
//!
//! Invariants: a commit never covers a message the application was not given (it commits the
//! stored offsets, see `state`), and never moves a partition's committed offset
//! backwards.
//!
//! A commit is sent only with a generation the group can accept (see `phase`): during a
//! rebalance it waits for one, until its deadline, then fails locally with
//! [`Error::RebalanceInProgress`] (nothing sent). Retriable failures (coordinator moved or
//! loading, timeouts, broken connections, a rebalance starting) are retried with backoff until
//! the deadline; a retry under a newer generation covers only the partitions still assigned.
//! ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID for the member's current generation mean it was
//! fenced: its partitions are lost (not revoked) and it rejoins at once; for a generation a
//! join has already replaced, they only make the commit wait for the new one.

use std::{collections::HashMap, time::Duration};

use tokio::time::Instant;

use crate::{
    error::{Error, KafkaCode, Result},
    hooks::{CommitReport, ErrorKind, ErrorReport},
    state::{Committed, PartitionTable, Shared},
    types::TopicPartition,
    wire::{
        offset_commit::{OffsetCommitPartition, OffsetCommitRequest},
        offset_fetch::OffsetFetchRequest,
    },
};

use super::{coordinator::is_coordinator_error, member::Member, phase::PhaseCell};

/// Offsets to commit, with the generation the member held when they were gathered.
///
/// The generation is read *before* the offsets: a partition lost after that read is either
/// missing from the offsets or sent under another generation, and a send under any other
/// generation carries only the partitions still assigned and ahead of what was committed
/// ([`sendable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gathered {
    /// The generation a commit could carry when the offsets were gathered (−1: none).
    pub(crate) generation: i32,
    /// The next offset to consume, per partition.
    pub(crate) offsets: Vec<(TopicPartition, i64)>,
}

impl Gathered {
    /// Reads the member's generation, then runs `gather` for the offsets.
    pub(crate) fn under(
        phase: &PhaseCell,
        gather: impl FnOnce() -> Vec<(TopicPartition, i64)>,
    ) -> Self {
        let generation = phase.get().commit_generation().unwrap_or(-1);
        Self {
            generation,
            offsets: gather(),
        }
    }
}

/// The stored offsets of `partitions` (all assigned when `None`) that are ahead of what was
/// committed, with the generation they were gathered under.
pub(crate) fn pending_offsets(
    phase: &PhaseCell,
    shared: &Shared,
    partitions: Option<&[TopicPartition]>,
) -> Gathered {
    Gathered::under(phase, || shared.partitions.pending_offsets(partitions))
}

/// What a send under `generation` may carry of `offsets`, gathered (or last sent) under
/// `gathered_under`: all of them under that same generation; under any other, only the
/// partitions still assigned and not yet committed at or past their offset (the partitions
/// may have moved to another member, who may have committed further).
pub(crate) fn sendable(
    table: &PartitionTable,
    offsets: Vec<(TopicPartition, i64)>,
    gathered_under: i32,
    generation: i32,
) -> Vec<(TopicPartition, i64)> {
    if gathered_under == generation {
        offsets
    } else {
        table.still_uncommitted(&offsets)
    }
}

/// Commits `gathered`, retrying until `deadline` (see the module documentation). The first
/// error that cannot be retried, or the last one at the deadline, is returned.
pub(crate) async fn commit(
    member: &Member,
    gathered: Gathered,
    metadata: Option<&str>,
    deadline: Instant,
) -> Result<()> {
    if gathered.offsets.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let partitions = gathered.offsets.len();
    let result = commit_with_retries(member, gathered, metadata, deadline).await;
    member.shared.hooks().on_commit(&CommitReport {
        group: &member.group_id,
        latency: started.elapsed(),
        partitions,
        ok: result.is_ok(),
    });
    if let Err(e) = &result {
        member.shared.hooks().on_error(&ErrorReport {
            kind: ErrorKind::Commit,
            partition: None,
            offset: None,
            broker: None,
            message: e,
        });
    }
    result
}

async fn commit_with_retries(
    member: &Member,
    gathered: Gathered,
    metadata: Option<&str>,
    deadline: Instant,
) -> Result<()> {
    let mut left: Vec<(TopicPartition, i64)> = gathered.offsets;
    let mut refused: Option<i32> = None;
    // The generation the offsets were gathered (later: last sent) under. A member resumed
    // after a stop past its session gathers its old positions, then rejoins: its first send,
    // under the new generation, must not carry the partitions it lost.
    let mut sent_with: i32 = gathered.generation;
    let mut attempt: u32 = 0;
    loop {
        if left.is_empty() {
            return Ok(());
        }
        let generation = member
            .phase
            .commit_generation(&member.group_id, deadline, refused)
            .await?;
        left = sendable(&member.shared.partitions, left, sent_with, generation);
        if left.is_empty() {
            return Ok(());
        }
        sent_with = generation;
        let member_id = member.identity().0;
        let error = match send(member, &left, metadata, &member_id, generation).await {
            Ok(failed) if failed.is_empty() => return Ok(()),
            Ok(failed) => {
                let (tp, code) = (failed[0].0.0.clone(), failed[0].1);
                left = failed.into_iter().map(|(o, _)| o).collect();
                let error = Error::Kafka {
                    api: "OffsetCommit",
                    code,
                    context: Some(tp.to_string()),
                };
                match code {
                    KafkaCode::ILLEGAL_GENERATION | KafkaCode::UNKNOWN_MEMBER_ID => {
                        // Fenced in the current generation: the partitions are lost. A stale
                        // generation (a join completed meanwhile) only waits for the next one.
                        if member.fenced_by_commit(generation, &member_id, code) {
                            return Err(error);
                        }
                        refused = Some(generation);
                    }
                    KafkaCode::REBALANCE_IN_PROGRESS => {
                        member.rebalance_seen_by_commit(generation);
                        refused = Some(generation);
                    }
                    c if is_coordinator_error(c) => member.coordinator.forget(),
                    c if c.is_retriable() => {}
                    _ => return Err(error),
                }
                error
            }
            Err(e) if e.is_retriable() => e,
            Err(e) => return Err(e),
        };
        attempt += 1;
        let pause = Duration::from_millis((50u64 << attempt.min(5)).min(1000));
        if Instant::now() + pause >= deadline {
            return Err(error);
        }
        tracing::debug!(group = %member.group_id, error = %error, "commit failed; retrying");
        tokio::time::sleep(pause).await;
    }
}

/// One OffsetCommit of `offsets` under `generation`. Marks what was committed; returns the
/// offsets refused, each with its error code.
async fn send(
    member: &Member,
    offsets: &[(TopicPartition, i64)],
    metadata: Option<&str>,
    member_id: &str,
    generation: i32,
) -> Result<Vec<((TopicPartition, i64), KafkaCode)>> {
    let partitions = offsets.iter().map(|(tp, offset)| {
        let partition = OffsetCommitPartition {
            partition_index: tp.partition,
            committed_offset: *offset,
            // KIP-320: the epoch of the last record before the offset, when known.
            committed_leader_epoch: member
                .shared
                .partitions
                .epoch_to_commit(tp, *offset)
                .unwrap_or(-1),
            committed_metadata: metadata.map(str::to_owned),
        };
        (&*tp.topic, partition)
    });
    let request = OffsetCommitRequest {
        generation_id_or_member_epoch: generation,
        member_id: member_id.to_owned(),
        group_instance_id: member.config.group_instance_id.clone(),
        ..OffsetCommitRequest::for_partitions(member.group_id.clone(), partitions)
    };
    let response = member.coordinator_request(request).await?;
    let sent: HashMap<(&str, i32), i64> = offsets
        .iter()
        .map(|(tp, o)| ((&*tp.topic, tp.partition), *o))
        .collect();
    let mut failed = Vec::new();
    let mut committed = Vec::new();
    for topic in &response.topics {
        for p in &topic.partitions {
            let Some(&offset) = sent.get(&(topic.name.as_str(), p.partition_index)) else {
                continue;
            };
            let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
            match KafkaCode::from_code(p.error_code) {
                None => committed.push((tp, offset)),
                Some(code) => failed.push(((tp, offset), code)),
            }
        }
    }
    member.shared.partitions.mark_committed(&committed);
    Ok(failed)
}

/// [`fetch_committed`], retried with backoff until `deadline` while it fails with a
/// retriable error: UNSTABLE_OFFSET_COMMIT (a transactional offset commit for the group is
/// pending and clears when the transaction ends), a coordinator moving or loading, a timeout
/// or a broken connection. As Java, instead of giving up on the group or rejoining.
pub(crate) async fn fetch_committed_until(
    member: &Member,
    partitions: &[TopicPartition],
    deadline: Instant,
) -> Result<Vec<(TopicPartition, Option<Committed>)>> {
    let mut attempt: u32 = 0;
    loop {
        match fetch_committed_positions(member, partitions).await {
            Ok(committed) => return Ok(committed),
            Err(e) if e.is_retriable() => {
                attempt += 1;
                let pause = Duration::from_millis((50u64 << attempt.min(5)).min(1000));
                if Instant::now() + pause >= deadline {
                    return Err(e);
                }
                tracing::debug!(group = %member.group_id, error = %e, "offset fetch failed; retrying");
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The committed offsets of `partitions` (`None` where the group has none).
pub(crate) async fn fetch_committed(
    member: &Member,
    partitions: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Option<i64>)>> {
    Ok(fetch_committed_positions(member, partitions)
        .await?
        .into_iter()
        .map(|(tp, c)| (tp, c.map(|c| c.offset)))
        .collect())
}

/// The committed offsets of `partitions` with the leader epochs committed with them
/// (`None` where the group has none).
pub(crate) async fn fetch_committed_positions(
    member: &Member,
    partitions: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Option<Committed>)>> {
    let request = OffsetFetchRequest::for_partitions(
        member.group_id.clone(),
        partitions.iter().map(|tp| (&*tp.topic, tp.partition)),
    );
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
        let committed = response
            .committed_with_epoch(&tp.topic, tp.partition)
            .map_err(|code| Error::Kafka {
                api: "OffsetFetch",
                code: KafkaCode(code),
                context: Some(tp.to_string()),
            })?;
        out.push((
            tp.clone(),
            committed.map(|(offset, leader_epoch)| Committed {
                offset,
                leader_epoch,
            }),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        config::ConsumerConfig,
        group::phase::Phase,
        state::buffer::Buffer,
        types::{Event, TopicPartition},
    };

    fn table() -> PartitionTable {
        let config = ConsumerConfig::new("127.0.0.1:9092").unwrap();
        PartitionTable::new(&config, Arc::new(Buffer::new(1 << 20)))
    }

    /// Assigns `partitions` as a group does, each committed at `committed`.
    fn assign(t: &PartitionTable, partitions: &[i32], committed: i64) -> Vec<TopicPartition> {
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|p| TopicPartition::new("t", *p))
            .collect();
        let with: Vec<(TopicPartition, Option<Committed>)> = tps
            .iter()
            .map(|tp| {
                let c = Committed {
                    offset: committed,
                    leader_epoch: None,
                };
                (tp.clone(), Some(c))
            })
            .collect();
        t.assign_committed(&with, Event::Assigned(tps.clone()));
        tps
    }

    /// What a member stopped past its session (CI's fault_process stop test) does: it
    /// gathers its positions, the group rejoins it with other partitions (another member
    /// consumed and committed its old ones further), and the commit is sent under the new
    /// generation. Before the offsets carried their generation, that first send committed
    /// partition 2 back from 727 to 105.
    #[test]
    fn offsets_gathered_before_a_rejoin_never_reach_partitions_lost_since() {
        let t = table();
        let phase = PhaseCell::new();
        phase.set(Phase::Stable { generation: 4 });
        let old = assign(&t, &[2, 3], 100);
        for tp in &old {
            t.store(tp, 105).unwrap();
        }
        let gathered = Gathered::under(&phase, || t.pending_offsets(None));
        assert_eq!(gathered.generation, 4);
        assert_eq!(gathered.offsets.len(), 2);

        // Fenced: the partitions are lost; the rejoin assigns 0 and 1, and (in a later
        // round) 2 again, which its other owner has committed at 727 meanwhile.
        phase.set(Phase::Unjoined);
        t.remove(&old);
        phase.set(Phase::Stable { generation: 5 });
        assign(&t, &[0, 1], 50);
        assign(&t, &[2], 727);

        let sent = sendable(&t, gathered.offsets.clone(), gathered.generation, 5);
        assert_eq!(sent, Vec::new(), "nothing gathered under 4 is sent under 5");
        let same = sendable(&t, gathered.offsets.clone(), 4, 4);
        assert_eq!(
            same, gathered.offsets,
            "under its own generation all is sent"
        );
    }

    /// The generation is read before the offsets: positions gathered while the member is
    /// between losing its partitions and rejoining count as gathered under no generation.
    #[test]
    fn offsets_gathered_while_unjoined_are_filtered_under_any_generation() {
        let t = table();
        let phase = PhaseCell::new();
        let old = assign(&t, &[2], 100);
        t.store(&old[0], 105).unwrap();
        let gathered = Gathered::under(&phase, || t.pending_offsets(None));
        assert_eq!(gathered.generation, -1);
        t.remove(&old);
        phase.set(Phase::Stable { generation: 5 });
        assert_eq!(
            sendable(&t, gathered.offsets, gathered.generation, 5),
            Vec::new()
        );
    }

    /// A partition kept through the rejoin (cooperative-sticky) and still ahead of its
    /// committed offset is sent under the new generation.
    #[test]
    fn a_partition_kept_through_a_rejoin_is_still_committed() {
        let t = table();
        let phase = PhaseCell::new();
        phase.set(Phase::Stable { generation: 4 });
        let kept = assign(&t, &[1], 100);
        t.store(&kept[0], 105).unwrap();
        let gathered = Gathered::under(&phase, || t.pending_offsets(None));
        phase.set(Phase::Stable { generation: 5 });
        assert_eq!(
            sendable(&t, gathered.offsets, gathered.generation, 5),
            [(kept[0].clone(), 105)]
        );
    }
}
