//! One fetch loop per leader broker: a Fetch for all of its ready partitions, decode, repeat.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    cluster::pool::Purpose,
    consumer::Watermarks,
    error::{Error, KafkaCode},
    wire::fetch::{FetchRequest, FetchResponse},
};

use super::{
    Shared,
    buffer::Delivery,
    is_leader_error,
    partition::FetchState,
    response::{Decoded, decode_partition},
    session::{FetchSession, Requested},
};

/// FETCH_SESSION_ID_NOT_FOUND and INVALID_FETCH_SESSION_EPOCH: the broker dropped our session.
const SESSION_ERRORS: [i16; 2] = [70, 71];

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>, node: i32) {
    let mut changes = shared.changes.subscribe();
    let mut session = FetchSession::default();
    while !shared.is_closed() {
        shared.buffer.wait_for_space().await;
        changes.borrow_and_update();
        let (requested, wake_at) = take_ready(&shared, node);
        if requested.is_empty() {
            let idle = wake_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            let _ = tokio::time::timeout_at(idle, changes.changed()).await;
            continue;
        }
        let response = fetch(&shared, node, &mut session, &requested).await;
        apply(&shared, &requested, response);
    }
}

/// Marks this node's ready partitions in flight and returns them, or when none is ready, the
/// earliest instant one leaves its backoff.
fn take_ready(shared: &Shared, node: i32) -> (Vec<Requested>, Option<Instant>) {
    let now = Instant::now();
    let mut partitions = shared.partitions.lock().expect("partitions lock");
    let mut requested = Vec::new();
    let mut wake_at: Option<Instant> = None;
    for (tp, state) in partitions.iter_mut() {
        let (Some(leader), FetchState::Fetching(offset)) = (state.leader, state.fetch) else {
            continue;
        };
        if leader.node != node || state.paused || state.in_flight {
            continue;
        }
        if let Some(until) = state.backoff_until.filter(|t| *t > now) {
            wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
            continue;
        }
        state.in_flight = true;
        requested.push(Requested {
            tp: tp.clone(),
            generation: state.generation,
            offset,
            leader_epoch: leader.epoch,
        });
    }
    (requested, wake_at)
}

/// Sends one fetch through the broker's session. A dropped session is not an error for the
/// partitions: the result is an empty response, and the next request is a full one.
async fn fetch(
    shared: &Shared,
    node: i32,
    session: &mut FetchSession,
    requested: &[Requested],
) -> Result<FetchResponse, Error> {
    let config = &shared.config;
    let parts = session.request(requested, config.max_partition_fetch_bytes);
    let request = FetchRequest {
        max_wait_ms: i32::try_from(config.fetch_wait_max.as_millis()).unwrap_or(i32::MAX),
        min_bytes: config.fetch_min_bytes,
        max_bytes: config.fetch_max_bytes,
        isolation_level: config.isolation_level.wire_value(),
        session_id: parts.session_id,
        session_epoch: parts.session_epoch,
        topics: parts.topics,
        forgotten_topics: parts.forgotten,
        rack_id: String::new(),
    };
    let conn = match shared.pool.get(node, Purpose::Fetch).await {
        Ok(conn) => conn,
        Err(e) => {
            session.reset();
            return Err(e);
        }
    };
    let response = conn.request(request).await;
    if response.is_err() {
        session.reset();
        shared.pool.invalidate(node, Purpose::Fetch, &conn).await;
    }
    let response = response?;
    match KafkaCode::from_code(response.error_code) {
        None => {
            session.on_success(response.session_id);
            Ok(response)
        }
        Some(code) if SESSION_ERRORS.contains(&code.0) => {
            tracing::debug!(node, %code, "fetch session dropped by the broker; starting anew");
            session.reset();
            Ok(FetchResponse {
                topics: Vec::new(),
                ..response
            })
        }
        Some(code) => Err(Error::Kafka {
            api: "Fetch",
            code,
            context: None,
        }),
    }
}

/// Applies a fetch result to the partitions it covered.
fn apply(shared: &Shared, requested: &[Requested], response: Result<FetchResponse, Error>) {
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "fetch failed; refreshing leaders");
            let mut partitions = shared.partitions.lock().expect("partitions lock");
            for r in requested {
                if let Some(state) = partitions.get_mut(&r.tp) {
                    state.in_flight = false;
                    state.leader = None;
                    state.backoff_until = Some(backoff);
                }
            }
            drop(partitions);
            shared.notify_change();
            return;
        }
    };
    let max_decompressed = shared.config.client.max_response_bytes.max(64 << 20);
    let mut wake_manager = false;
    for r in requested {
        let data = response
            .topics
            .iter()
            .filter(|t| t.topic == *r.tp.topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition == r.tp.partition);
        // Decoding happens outside the lock; the result is dropped below if the partition
        // moved meanwhile.
        let decoded = data.filter(|d| d.error_code == 0).map(|d| {
            decode_partition(
                &r.tp,
                r.offset,
                shared.config.isolation_level,
                max_decompressed,
                d,
            )
        });
        let mut partitions = shared.partitions.lock().expect("partitions lock");
        let Some(state) = partitions.get_mut(&r.tp) else {
            continue;
        };
        state.in_flight = false;
        let Some(data) = data else {
            continue;
        };
        if state.generation != r.generation || state.fetch != FetchState::Fetching(r.offset) {
            continue;
        }
        if let Some(code) = KafkaCode::from_code(data.error_code) {
            match code.0 {
                1 => match shared.reset_target() {
                    Some(to) => {
                        tracing::info!(tp = %r.tp, offset = r.offset, "offset out of range, resetting");
                        state.fetch = FetchState::Resolve(to);
                        wake_manager = true; // wake the manager to resolve it
                    }
                    None => {
                        state.fetch = FetchState::Failed;
                        shared.buffer.push(Delivery::Error {
                            tp: Some((r.tp.clone(), r.generation)),
                            error: Error::OffsetOutOfRange {
                                topic: r.tp.topic.to_string(),
                                partition: r.tp.partition,
                                offset: r.offset,
                            },
                        });
                    }
                },
                _ if is_leader_error(code) => {
                    tracing::debug!(tp = %r.tp, %code, "fetch: leadership moved; looking the leader up again");
                    state.leader = None;
                    state.backoff_until = Some(backoff);
                    wake_manager = true;
                }
                _ => {
                    state.backoff_until = Some(backoff);
                    shared.buffer.push(Delivery::Error {
                        tp: Some((r.tp.clone(), r.generation)),
                        error: Error::Kafka {
                            api: "Fetch",
                            code,
                            context: Some(r.tp.to_string()),
                        },
                    });
                }
            }
            continue;
        }
        let Some(Decoded {
            messages,
            next_offset,
            error,
        }) = decoded
        else {
            continue;
        };
        let watermarks = Watermarks {
            log_start_offset: data.log_start_offset,
            high_watermark: data.high_watermark,
            last_stable_offset: data.last_stable_offset,
        };
        state.watermarks = Some(watermarks);
        if !messages.is_empty() {
            shared.buffer.push(Delivery::Messages {
                tp: r.tp.clone(),
                generation: r.generation,
                progress: Arc::clone(&state.progress),
                messages: messages.into(),
            });
        }
        state.fetch = FetchState::Fetching(next_offset);
        if let Some(error) = error {
            state.backoff_until = Some(backoff);
            shared.buffer.push(Delivery::Error {
                tp: Some((r.tp.clone(), r.generation)),
                error,
            });
            continue;
        }
        let end = watermarks.end(shared.config.isolation_level);
        if shared.config.enable_partition_eof
            && next_offset >= end
            && state.last_eof != Some(next_offset)
        {
            state.last_eof = Some(next_offset);
            shared.buffer.push(Delivery::Eof {
                tp: r.tp.clone(),
                generation: r.generation,
                offset: next_offset,
            });
        }
    }
    if wake_manager {
        shared.notify_change();
    }
}
