//! The group coordinator: found with FindCoordinator, reached over a dedicated connection,
//! forgotten (and found again) after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a broken
//! connection.

use std::{sync::Arc, time::Duration};

use tokio::sync::Mutex;

use crate::{
    cluster::{Cluster, connection::BrokerConnection},
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

/// The connection to one group's coordinator.
#[derive(Debug)]
pub(crate) struct Coordinator {
    group_id: String,
    client: ClientConfig,
    current: Mutex<Option<Arc<BrokerConnection>>>,
}

impl Coordinator {
    /// No coordinator known yet.
    pub(crate) fn new(group_id: String, client: ClientConfig) -> Self {
        Self {
            group_id,
            client,
            current: Mutex::new(None),
        }
    }

    /// Sends `request` to the coordinator (finding it first if needed), waiting at most
    /// `timeout`. A failed connection is dropped so the next call finds the coordinator anew.
    pub(crate) async fn request<R: WireRequest>(
        &self,
        cluster: &Cluster,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response> {
        let conn = self.connection(cluster).await?;
        let response = conn.request_within(request, timeout).await;
        if response.is_err() {
            self.forget().await;
        }
        response
    }

    /// Forgets the coordinator (after a coordinator error code or a broken connection).
    pub(crate) async fn forget(&self) {
        *self.current.lock().await = None;
    }

    async fn connection(&self, cluster: &Cluster) -> Result<Arc<BrokerConnection>> {
        let mut current = self.current.lock().await;
        if let Some(conn) = current.as_ref() {
            return Ok(Arc::clone(conn));
        }
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
        let conn = Arc::new(BrokerConnection::connect(&addr, &self.client).await?);
        tracing::debug!(group = %self.group_id, node = found.node_id, broker = %addr, "coordinator found");
        *current = Some(Arc::clone(&conn));
        Ok(conn)
    }
}
