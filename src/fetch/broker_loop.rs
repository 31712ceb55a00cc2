//! One fetch loop per leader broker: a Fetch for all of its ready partitions, decode, repeat.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    cluster::pool::Purpose,
    error::{Error, KafkaCode},
    hooks::{ErrorKind, ErrorReport, FetchReport},
    state::{EpochEnd, FetchOutcome, FetchedBatch, Requested, Shared},
    types::Watermarks,
    wire::fetch::{FetchRequest, FetchResponse, FetchResponsePartition},
};

use super::{
    response::{Decoded, decode_partition},
    session::{FetchSession, Verdict},
};

/// Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>, node: i32) {
    let mut changes = shared.changes.subscribe();
    let mut session = FetchSession::default();
    while !shared.is_closed() {
        shared.buffer.wait_for_space().await;
        changes.borrow_and_update();
        let (requested, wake_at) = shared.partitions.take_ready(node, Instant::now());
        if requested.is_empty() {
            let idle = wake_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            let _ = tokio::time::timeout_at(idle, changes.changed()).await;
            continue;
        }
        let incremental = session.is_incremental();
        let sent = Instant::now();
        let response = fetch(&shared, node, &mut session, &requested).await;
        let report = (!shared.config.hooks.is_default()).then(|| (node, sent.elapsed()));
        apply(&shared, &requested, response, incremental, report);
    }
}

/// Sends one fetch through the broker's session. A dropped session is not an error for the
/// partitions: the result is an empty response, and the next request is a full one.
async fn fetch(
    shared: &Shared,
    node: i32,
    session: &mut FetchSession,
    requested: &[Requested],
) -> Result<FetchResponse, Error> {
    let tuning = shared.fetch_tuning();
    let parts = session.request(requested);
    let request = FetchRequest {
        max_wait_ms: i32::try_from(tuning.wait_max.as_millis()).unwrap_or(i32::MAX),
        min_bytes: tuning.min_bytes,
        max_bytes: shared.buffer.fetch_size(tuning.max_bytes),
        isolation_level: shared.config.isolation_level.wire_value(),
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
    shared.pool.throttle(node, response.throttle_time_ms);
    match session.on_response(response.error_code, response.session_id) {
        Verdict::Ok => Ok(response),
        Verdict::SessionDropped(code) => {
            tracing::debug!(node, %code, "fetch session dropped by the broker; starting anew");
            Ok(FetchResponse {
                topics: Vec::new(),
                session_id: 0,
                ..response
            })
        }
        Verdict::Failed(code) => Err(Error::Kafka {
            api: "Fetch",
            code,
            context: None,
        }),
    }
}

/// Applies a fetch result to the partitions it covered. Under an `incremental` session, a
/// partition left out of the response has nothing new (see [`FetchOutcome::Unchanged`]).
fn apply(
    shared: &Shared,
    requested: &[Requested],
    response: Result<FetchResponse, Error>,
    incremental: bool,
    report: Option<(i32, Duration)>,
) {
    let backoff = Instant::now() + shared.config.fetch_error_backoff;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            if let Some((node, _)) = report {
                shared.hooks().on_broker_error(node);
                shared.hooks().on_error(&ErrorReport {
                    kind: ErrorKind::Connection,
                    partition: None,
                    offset: None,
                    broker: Some(node),
                    message: &e,
                });
            }
            tracing::warn!(error = %e, "fetch failed; refreshing leaders");
            shared.partitions.fetch_failed(requested, backoff);
            shared.notify_change();
            return;
        }
    };
    // Only control batches are decoded here (data batches wait in the buffer, decoded within
    // its budget); a marker is a few bytes.
    let max_decompressed = shared.config.client.max_response_bytes;
    let mut wake_manager = false;
    // Per topic (records, bytes) for the hooks; only gathered when hooks are installed.
    let mut topics: Vec<(Arc<str>, u64, u64)> = Vec::new();
    for r in requested {
        let data = response
            .topics
            .iter()
            .filter(|t| t.topic == *r.tp.topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition == r.tp.partition);
        // Decoding happens outside the table's lock; the table drops the result if the partition
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
        let outcome = match (data, decoded) {
            (Some(d), _) if d.error_code == 0 && d.diverging_epoch.is_some() => {
                let end = d.diverging_epoch.expect("checked");
                FetchOutcome::Diverging(EpochEnd {
                    epoch: end.epoch,
                    end_offset: end.end_offset,
                })
            }
            (Some(d), Some(decoded)) if decoded.is_incomplete() => FetchOutcome::Incomplete {
                watermarks: watermarks_of(d),
            },
            // A dropped session answers with no topics at all: nothing to conclude then.
            (None, _) if incremental && response.session_id != 0 => FetchOutcome::Unchanged,
            (None, _) => FetchOutcome::Missing,
            (Some(d), None) => FetchOutcome::Error(KafkaCode(d.error_code)),
            (
                Some(d),
                Some(Decoded {
                    batches,
                    next_offset,
                    last_epoch,
                    error,
                    ..
                }),
            ) => {
                if report.is_some() {
                    count(&mut topics, &r.tp.topic, &batches);
                }
                FetchOutcome::Data {
                    batches,
                    next_offset,
                    last_epoch,
                    error,
                    watermarks: watermarks_of(d),
                }
            }
        };
        wake_manager |= shared.partitions.apply_fetch(r, outcome, backoff);
    }
    if wake_manager {
        shared.notify_change();
    }
    if let Some((broker, latency)) = report {
        shared.hooks().on_fetch(&FetchReport {
            broker,
            latency,
            bytes: topics.iter().map(|t| t.2).sum(),
            topics: &topics,
        });
    }
}

/// Adds `batches` of `topic` to the per-topic (records, bytes) totals of one response.
fn count(topics: &mut Vec<(Arc<str>, u64, u64)>, topic: &Arc<str>, batches: &[FetchedBatch]) {
    let records: u64 = batches.iter().map(FetchedBatch::record_count).sum();
    let bytes: u64 = batches.iter().map(|b| b.stored_size() as u64).sum();
    match topics.iter_mut().find(|t| t.0 == *topic) {
        Some(t) => {
            t.1 += records;
            t.2 += bytes;
        }
        None => topics.push((Arc::clone(topic), records, bytes)),
    }
}

fn watermarks_of(d: &FetchResponsePartition) -> Watermarks {
    Watermarks {
        log_start_offset: d.log_start_offset,
        high_watermark: d.high_watermark,
        last_stable_offset: d.last_stable_offset,
    }
}
