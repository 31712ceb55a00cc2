//! Validating positions after a leader change with OffsetForLeaderEpoch at the partition
//! leader (KIP-320): the leader says where the position's epoch ends in its log, and the
//! partition table decides whether the log was truncated below the position.

use std::{collections::BTreeMap, sync::Arc};

use tokio::time::Instant;

use crate::{
    cluster::pool::Purpose,
    state::{EpochEnd, Shared, Validation, ValidationAnswer},
    wire::offset_for_leader_epoch::{
        OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
    },
};

/// Asks `node` where the epochs of `validations` (all led by it) end, and applies the answers.
pub(crate) async fn validate(shared: &Arc<Shared>, node: i32, validations: Vec<Validation>) {
    let mut topics: BTreeMap<&str, Vec<OffsetForLeaderPartition>> = BTreeMap::new();
    for v in &validations {
        topics
            .entry(&v.tp.topic)
            .or_default()
            .push(OffsetForLeaderPartition {
                partition: v.tp.partition,
                current_leader_epoch: v.leader_epoch,
                leader_epoch: v.epoch,
            });
    }
    let request = OffsetForLeaderEpochRequest {
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| OffsetForLeaderTopic {
                topic: topic.to_owned(),
                partitions,
            })
            .collect(),
    };
    let result = shared
        .pool
        .request(node, Purpose::Control, request, |r| r.throttle_time_ms)
        .await;
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let answers = validations
        .iter()
        .map(|v| match &result {
            Err(e) => ValidationAnswer::RequestFailed(e),
            Ok(r) => r
                .topics
                .iter()
                .filter(|t| t.topic == *v.tp.topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition == v.tp.partition)
                .map_or(ValidationAnswer::Missing, |p| ValidationAnswer::Found {
                    error_code: p.error_code,
                    end: EpochEnd {
                        epoch: p.leader_epoch,
                        end_offset: p.end_offset,
                    },
                }),
        })
        .collect();
    shared
        .partitions
        .apply_validations(&validations, answers, backoff);
    shared.notify_change();
}
