//! The producer's id and epoch: taken once at start, replaced when the broker no longer
//! accepts it.
//!
//! Invariant: the identity only changes from the one a failed send used to a newer one
//! (compare-and-swap), so when several partitions hit the same fencing at once, one new
//! identity wins and the others adopt it; an id fetched by a losing racer is simply unused.
//! No lock is held across the InitProducerId request.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

use super::{ProduceError, sequence::ProducerIdentity};
use crate::{
    cluster::Cluster,
    error::{Error, KafkaCode},
    wire::init_producer_id::InitProducerIdRequest,
};

/// The current identity.
#[derive(Debug)]
pub(crate) struct Identity {
    current: Mutex<ProducerIdentity>,
}

impl Identity {
    /// Starts with `identity`.
    pub(crate) fn new(identity: ProducerIdentity) -> Self {
        Self {
            current: Mutex::new(identity),
        }
    }

    /// The identity new batches are encoded with.
    pub(crate) fn current(&self) -> ProducerIdentity {
        *self.current.lock().expect("identity lock")
    }

    /// Replaces `failed` with a fresh identity (unless another send already did) and returns
    /// the identity now current.
    pub(crate) async fn replace(
        &self,
        cluster: &Cluster,
        failed: ProducerIdentity,
        deadline: Instant,
        backoff: (Duration, Duration),
    ) -> Result<ProducerIdentity, ProduceError> {
        if self.current() != failed {
            return Ok(self.current());
        }
        let fresh = init(cluster, deadline, backoff).await?;
        let mut current = self.current.lock().expect("identity lock");
        if *current == failed {
            tracing::info!(
                old_id = failed.id,
                old_epoch = failed.epoch,
                new_id = fresh.id,
                new_epoch = fresh.epoch,
                "idempotent producer re-initialised"
            );
            *current = fresh;
        }
        Ok(*current)
    }
}

/// Asks the cluster for a new idempotent producer id, retrying retriable failures with
/// `backoff` (first, max) until `deadline`.
pub(crate) async fn init(
    cluster: &Cluster,
    deadline: Instant,
    (first, max): (Duration, Duration),
) -> Result<ProducerIdentity, ProduceError> {
    let mut pause = first;
    loop {
        let attempt = tokio::time::timeout_at(
            deadline,
            cluster.request_any(InitProducerIdRequest::idempotent()),
        )
        .await;
        let last_error = match attempt {
            Err(_) => "InitProducerId timed out".to_owned(),
            Ok(Ok((_, r))) if r.error_code == 0 => {
                return Ok(ProducerIdentity {
                    id: r.producer_id,
                    epoch: r.producer_epoch,
                });
            }
            Ok(Ok((_, r))) => {
                let code = KafkaCode(r.error_code);
                if !code.is_retriable() {
                    return Err(ProduceError::ProducerId { code });
                }
                Error::Kafka {
                    api: "InitProducerId",
                    code,
                    context: None,
                }
                .to_string()
            }
            Ok(Err(e)) if e.is_retriable() => e.to_string(),
            Ok(Err(e)) => return Err(e.into()),
        };
        if Instant::now() + pause >= deadline {
            return Err(ProduceError::ProducerIdUnavailable { last_error });
        }
        tracing::warn!(error = %last_error, "InitProducerId failed, retrying");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(max);
    }
}
