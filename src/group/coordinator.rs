//! The group coordinator: found with FindCoordinator, reached over dedicated connections,
//! forgotten (and found again) after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a broken
//! connection.
//!
//! Invariant: JoinGroup and SyncGroup, which the coordinator parks for as long as a rebalance
//! takes, go over a connection of their own ([`Lane::LongPoll`]). A broker answers the
//! requests of one connection in order, so on a shared connection every commit, heartbeat and
//! LeaveGroup would wait behind the parked join.
//!
//! Invariant: no lock is held across FindCoordinator or a connect. Each lane is a
//! [`ConnectSlot`]: callers of one lane share one attempt, and [`Coordinator::forget`] never
//! waits for an attempt in progress (a coordinator that hangs while being connected holds up
//! only the callers of that lane).

use std::{sync::Arc, time::Duration};

use crate::{
    cluster::{Cluster, connection::BrokerConnection, slot::ConnectSlot},
    config::{BrokerAddress, ClientConfig},
    error::{Error, KafkaCode, Result},
    wire::{WireRequest, find_coordinator::FindCoordinatorRequest},
};

/// Error codes after which the coordinator must be looked up again.
pub(crate) fn is_coordinator_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::COORDINATOR_NOT_AVAILABLE | KafkaCode::NOT_COORDINATOR
    )
}

/// Which of the coordinator's connections a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Heartbeats, commits, offset fetches, LeaveGroup: answered at once.
    Prompt,
    /// JoinGroup and SyncGroup: parked by the coordinator until the rebalance completes.
    LongPoll,
}

/// The connections to one group's coordinator.
#[derive(Debug)]
pub(crate) struct Coordinator {
    group_id: String,
    client: ClientConfig,
    prompt: ConnectSlot<BrokerConnection>,
    long_poll: ConnectSlot<BrokerConnection>,
}

impl Coordinator {
    /// No coordinator known yet.
    pub(crate) fn new(group_id: String, client: ClientConfig) -> Self {
        Self {
            group_id,
            client,
            prompt: ConnectSlot::default(),
            long_poll: ConnectSlot::default(),
        }
    }

    /// Sends `request` to the coordinator (finding it first if needed), waiting at most
    /// `timeout`. A failed connection is dropped so the next call finds the coordinator anew.
    /// `lane` chooses the connection.
    pub(crate) async fn request<R: WireRequest>(
        &self,
        cluster: &Cluster,
        lane: Lane,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response> {
        let conn = self.connection(cluster, lane).await?;
        let response = conn.request_within(request, timeout).await;
        if response.is_err() {
            self.forget();
        }
        response
    }

    /// Forgets the coordinator (after a coordinator error code or a broken connection).
    pub(crate) fn forget(&self) {
        self.prompt.forget();
        self.long_poll.forget();
    }

    async fn connection(&self, cluster: &Cluster, lane: Lane) -> Result<Arc<BrokerConnection>> {
        let slot = match lane {
            Lane::Prompt => &self.prompt,
            Lane::LongPoll => &self.long_poll,
        };
        slot.get_or_connect(|| self.find_and_connect(cluster)).await
    }

    /// FindCoordinator, then a connection to the broker it names.
    async fn find_and_connect(&self, cluster: &Cluster) -> Result<BrokerConnection> {
        let request = FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: 0,
        };
        let (_, response) = cluster.request_any(request).await?;
        let found = response
            .coordinators
            .first()
            .ok_or_else(|| Error::Request {
                broker: "-".into(),
                api: "FindCoordinator",
                reason: "empty response".into(),
            })?;
        if let Some(code) = KafkaCode::from_code(found.error_code) {
            return Err(Error::Kafka {
                api: "FindCoordinator",
                code,
                context: Some(format!("group {}", self.group_id)),
            });
        }
        let port = u16::try_from(found.port).map_err(|_| Error::Request {
            broker: found.host.clone(),
            api: "FindCoordinator",
            reason: format!("invalid port {}", found.port),
        })?;
        let addr = BrokerAddress {
            host: found.host.clone(),
            port,
        };
        let conn = BrokerConnection::connect(&addr, &self.client).await?;
        tracing::debug!(group = %self.group_id, node = found.node_id, broker = %addr, "coordinator found");
        Ok(conn)
    }
}
