//! Resolving Beginning/End positions with ListOffsets at the partition leader.

use std::{collections::BTreeMap, sync::Arc};

use tokio::time::Instant;

use crate::{
    cluster::pool::Purpose,
    consumer::TopicPartition,
    error::{Error, KafkaCode},
    wire::list_offsets::{
        EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, ListOffsetsPartition, ListOffsetsRequest,
        ListOffsetsTopic,
    },
};

use super::{
    Shared, buffer::Delivery, is_leader_error, partition::FetchState, partition::ResolveTo,
};

/// One partition to resolve: its generation when the lookup was sent, and which end.
pub(crate) type Lookup = (TopicPartition, u64, ResolveTo, i32);

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
    let result = match shared.pool.get(node, Purpose::Control).await {
        Ok(conn) => {
            let result = conn.request(request).await;
            if result.is_err() {
                shared.pool.invalidate(node, Purpose::Control, &conn).await;
            }
            result
        }
        Err(e) => Err(e),
    };
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let mut partitions = shared.partitions.lock().expect("partitions lock");
    for (tp, generation, to, _) in &lookups {
        let Some(state) = partitions.get_mut(tp) else {
            continue;
        };
        state.resolving = false;
        if state.generation != *generation || state.fetch != FetchState::Resolve(*to) {
            continue;
        }
        let answer = result.as_ref().map(|r| {
            r.topics
                .iter()
                .filter(|t| t.topic == *tp.topic)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition == tp.partition)
        });
        match answer {
            Err(e) => {
                tracing::warn!(%tp, error = %e, "ListOffsets failed");
                state.leader = None;
                state.backoff_until = Some(backoff);
            }
            Ok(None) => state.backoff_until = Some(backoff),
            Ok(Some(p)) => match KafkaCode::from_code(p.error_code) {
                None => {
                    state.fetch = FetchState::Fetching(p.offset);
                    state.set_consumer_position(p.offset);
                }
                Some(code) if is_leader_error(code) => {
                    state.leader = None;
                    state.backoff_until = Some(backoff);
                }
                Some(code) => {
                    state.backoff_until = Some(backoff);
                    shared.buffer.push(Delivery::Error {
                        tp: Some((tp.clone(), *generation)),
                        error: Error::Kafka {
                            api: "ListOffsets",
                            code,
                            context: Some(tp.to_string()),
                        },
                    });
                }
            },
        }
    }
    drop(partitions);
    shared.notify_change();
}
