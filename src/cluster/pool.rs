//! Connections to brokers by node id, one per purpose, shared by everything that talks to
//! that broker.
//!
//! Fetches long-poll (`fetch.wait.max.ms`), and a broker answers one connection's requests in
//! order, so fetches get a connection of their own and everything else (ListOffsets, later
//! group and offset requests) uses the control connection. A connection that failed is
//! dropped with [`ConnectionPool::invalidate`]; the next `get` connects anew.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::Mutex;

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
};

use super::{ClusterMetadata, connection::BrokerConnection};

/// What a pooled connection is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    /// Fetch requests (long polls).
    Fetch,
    /// Everything else.
    Control,
}

/// Broker connections keyed by node id and purpose.
#[derive(Debug)]
pub(crate) struct ConnectionPool {
    config: ClientConfig,
    addresses: std::sync::Mutex<HashMap<i32, BrokerAddress>>,
    connections: Mutex<HashMap<(i32, Purpose), Arc<BrokerConnection>>>,
}

impl ConnectionPool {
    /// An empty pool; broker addresses come from [`ConnectionPool::update_addresses`].
    pub(crate) fn new(config: ClientConfig) -> Self {
        Self {
            config,
            addresses: std::sync::Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// Learns broker addresses from metadata.
    pub(crate) fn update_addresses(&self, metadata: &ClusterMetadata) {
        let mut addresses = self.addresses.lock().expect("pool lock");
        for b in &metadata.brokers {
            if let Ok(port) = u16::try_from(b.port) {
                addresses.insert(
                    b.id,
                    BrokerAddress {
                        host: b.host.clone(),
                        port,
                    },
                );
            }
        }
    }

    /// The connection to `node` for `purpose`, connecting if there is none.
    pub(crate) async fn get(&self, node: i32, purpose: Purpose) -> Result<Arc<BrokerConnection>> {
        let mut connections = self.connections.lock().await;
        if let Some(conn) = connections.get(&(node, purpose)) {
            return Ok(Arc::clone(conn));
        }
        let addr = self
            .addresses
            .lock()
            .expect("pool lock")
            .get(&node)
            .cloned()
            .ok_or_else(|| Error::Request {
                broker: format!("node {node}"),
                api: "connect",
                reason: "address unknown (not in metadata)".to_owned(),
            })?;
        let conn = Arc::new(BrokerConnection::connect(&addr, &self.config).await?);
        connections.insert((node, purpose), Arc::clone(&conn));
        Ok(conn)
    }

    /// Drops `conn` if it is still the pooled connection for `node`/`purpose`.
    pub(crate) async fn invalidate(
        &self,
        node: i32,
        purpose: Purpose,
        conn: &Arc<BrokerConnection>,
    ) {
        let mut connections = self.connections.lock().await;
        if connections
            .get(&(node, purpose))
            .is_some_and(|c| Arc::ptr_eq(c, conn))
        {
            connections.remove(&(node, purpose));
        }
    }
}
