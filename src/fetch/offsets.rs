//! Resolving Beginning/End positions with ListOffsets at the partition leader.

use std::{collections::BTreeMap, sync::Arc};

use tokio::time::Instant;

use crate::{
    cluster::pool::Purpose,
    state::{Lookup, LookupAnswer, ResolveTo},
    wire::list_offsets::{
        EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsRequest,
        ListOffsetsTopic,
    },
};

use crate::state::Shared;

/// Looks up the offsets of `lookups` (all led by `node`) and moves each partition to
/// `Fetching` there, unless it was moved meanwhile.
pub(crate) async fn resolve(shared: &Arc<Shared>, node: i32, lookups: Vec<Lookup>) {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, _, to, leader_epoch) in &lookups {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(ListOffsetsPartition {
                partition: tp.partition,
                current_leader_epoch: *leader_epoch,
                timestamp: match to {
                    ResolveTo::Earliest => EARLIEST_TIMESTAMP,
                    ResolveTo::Latest => LATEST_TIMESTAMP,
                },
            });
    }
    let request = ListOffsetsRequest {
        isolation_level: shared.config.isolation_level.wire_value(),
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| ListOffsetsTopic {
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
    let answers = lookups
        .iter()
        .map(|(tp, ..)| match &result {
            Err(e) => LookupAnswer::RequestFailed(e),
            Ok(r) => r
                .topics
                .iter()
                .filter(|t| t.topic == *tp.topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition == tp.partition)
                .map_or(LookupAnswer::Missing, |p| LookupAnswer::Found {
                    error_code: p.error_code,
                    offset: p.offset,
                    leader_epoch: p.leader_epoch,
                }),
        })
        .collect();
    shared.partitions.apply_lookups(&lookups, answers, backoff);
    shared.notify_change();
}
