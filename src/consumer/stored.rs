//! [`Offset::Stored`](crate::Offset) for assigned partitions: the group's committed offset,
//! read with OffsetFetch from the group coordinator when a `group.id` is configured.
//!
//! The partition table marks such partitions as waiting (see `state::stored`); this task asks
//! the coordinator for all of them at once, retries after `fetch.error.backoff.ms` on failure,
//! and ends when none is waiting.

use std::sync::Arc;

use tokio::time::Instant;

use crate::{
    error::{Error, KafkaCode, Result},
    group::coordinator::{Coordinator, Lane},
    state::{Committed, CommittedLookup, Shared},
    wire::offset_fetch::OffsetFetchRequest,
};

/// Starts looking up the committed offsets of the partitions waiting for them, if any.
pub(crate) fn look_up_committed(shared: &Arc<Shared>) {
    let Some(group_id) = shared.config.group.group_id.clone() else {
        return;
    };
    let lookups = shared.partitions.take_committed_lookups(Instant::now());
    if lookups.is_empty() {
        return;
    }
    let task = tokio::spawn({
        let shared = Arc::clone(shared);
        async move {
            let coordinator = Coordinator::new(group_id, shared.config.client.clone());
            let mut lookups = lookups;
            while !lookups.is_empty() && !shared.is_closed() {
                let answer = fetch(&shared, &coordinator, &lookups).await;
                let failed = answer.is_err();
                let backoff = Instant::now() + shared.config.fetch_error_backoff;
                shared.partitions.apply_committed(&lookups, answer, backoff);
                shared.notify_change();
                if failed {
                    tokio::time::sleep_until(backoff).await;
                }
                lookups = shared.partitions.take_committed_lookups(Instant::now());
            }
        }
    });
    shared.track(task);
}

/// The committed offsets of `lookups` with their leader epochs, in the same order (`None`:
/// nothing committed).
async fn fetch(
    shared: &Shared,
    coordinator: &Coordinator,
    lookups: &[CommittedLookup],
) -> Result<Vec<Option<Committed>>> {
    let request = OffsetFetchRequest::for_partitions(
        shared.config.group.group_id.clone().unwrap_or_default(),
        lookups.iter().map(|(tp, _)| (&*tp.topic, tp.partition)),
    );
    let timeout = shared.config.client.request_timeout;
    let response = coordinator
        .request(&shared.cluster, Lane::Prompt, request, timeout)
        .await?;
    if let Some(code) = KafkaCode::from_code(response.error_code) {
        return Err(Error::Kafka {
            api: "OffsetFetch",
            code,
            context: None,
        });
    }
    lookups
        .iter()
        .map(|(tp, _)| {
            response
                .committed_with_epoch(&tp.topic, tp.partition)
                .map(|c| {
                    c.map(|(offset, leader_epoch)| Committed {
                        offset,
                        leader_epoch,
                    })
                })
                .map_err(|code| Error::Kafka {
                    api: "OffsetFetch",
                    code: KafkaCode(code),
                    context: Some(tp.to_string()),
                })
        })
        .collect()
}
