//! Connections to brokers by node id, one per purpose, shared by everything that talks to
//! that broker.
//!
//! Fetches long-poll (`fetch.wait.max.ms`), and a broker answers one connection's requests in
//! order, so fetches get a connection of their own and everything else (ListOffsets, later
//! group and offset requests) uses the control connection. A connection that failed is
//! dropped with [`ConnectionPool::invalidate`]; the next `get` connects anew.
//!
//! A response's `throttle_time_ms` delays the next request to that broker (KIP-219):
//! [`ConnectionPool::throttle`] records it and `get` waits it out.
//!
//! Invariant: no lock is held across a connect. Each (node, purpose) has its own connect slot
//! (a [`OnceCell`]): callers wanting the same connection share one attempt, and an unreachable
//! broker holds up only the callers that want it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{sync::OnceCell, time::Instant};

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
    wire::WireRequest,
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
    addresses: Mutex<HashMap<i32, BrokerAddress>>,
    connections: Mutex<HashMap<(i32, Purpose), Arc<Slot>>>,
    /// Per node: no request before this instant (the broker throttled us).
    throttled: Mutex<HashMap<i32, Instant>>,
}

/// One (node, purpose)'s connection, once connected.
type Slot = OnceCell<Arc<BrokerConnection>>;

impl ConnectionPool {
    /// An empty pool; broker addresses come from [`ConnectionPool::update_addresses`].
    pub(crate) fn new(config: ClientConfig) -> Self {
        Self {
            config,
            addresses: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            throttled: Mutex::new(HashMap::new()),
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

    /// Records a response's `throttle_time_ms` from `node`: the next request to it waits
    /// that long (KIP-219, as Java's client does: the broker muted the connection meanwhile).
    pub(crate) fn throttle(&self, node: i32, throttle_time_ms: i32) {
        let Ok(ms) = u64::try_from(throttle_time_ms) else {
            return;
        };
        if ms == 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(ms);
        let mut throttled = self.throttled.lock().expect("pool lock");
        let entry = throttled.entry(node).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// The connection to `node` for `purpose`, connecting if there is none.
    pub(crate) async fn get(&self, node: i32, purpose: Purpose) -> Result<Arc<BrokerConnection>> {
        let throttled = self
            .throttled
            .lock()
            .expect("pool lock")
            .get(&node)
            .copied();
        if let Some(until) = throttled.filter(|t| *t > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
        let slot = Arc::clone(
            self.connections
                .lock()
                .expect("pool lock")
                .entry((node, purpose))
                .or_default(),
        );
        // No pool lock from here on: the connect waits on this slot only.
        let conn = slot
            .get_or_try_init(|| async {
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
                Ok::<_, Error>(Arc::new(
                    BrokerConnection::connect(&addr, &self.config).await?,
                ))
            })
            .await?;
        Ok(Arc::clone(conn))
    }

    /// Sends `request` to `node` on its `purpose` connection: the response's throttle time
    /// (read by `throttle_ms`) delays the next request to that node, and a failed request
    /// drops the connection so that the next one connects anew.
    pub(crate) async fn request<R: WireRequest>(
        &self,
        node: i32,
        purpose: Purpose,
        request: R,
        throttle_ms: impl FnOnce(&R::Response) -> i32,
    ) -> Result<R::Response> {
        let conn = self.get(node, purpose).await?;
        let result = conn.request(request).await;
        match &result {
            Ok(response) => self.throttle(node, throttle_ms(response)),
            Err(_) => self.invalidate(node, purpose, &conn).await,
        }
        result
    }

    /// Drops `conn` if it is still the pooled connection for `node`/`purpose`.
    pub(crate) async fn invalidate(
        &self,
        node: i32,
        purpose: Purpose,
        conn: &Arc<BrokerConnection>,
    ) {
        let mut connections = self.connections.lock().expect("pool lock");
        if connections
            .get(&(node, purpose))
            .and_then(|slot| slot.get())
            .is_some_and(|c| Arc::ptr_eq(c, conn))
        {
            connections.remove(&(node, purpose));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::metadata::BrokerInfo;

    fn metadata(brokers: &[(i32, u16)]) -> ClusterMetadata {
        ClusterMetadata {
            brokers: brokers
                .iter()
                .map(|&(id, port)| BrokerInfo {
                    id,
                    host: "127.0.0.1".into(),
                    port: i32::from(port),
                    rack: None,
                })
                .collect(),
            originating_broker: String::new(),
            cluster_id: None,
            controller_id: -1,
            topics: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_broker_gets_no_request_until_its_throttle_time_has_passed() {
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let pool = ConnectionPool::new(ClientConfig::new("127.0.0.1:9092").unwrap());
        pool.update_addresses(&metadata(&[(1, refused), (2, refused)]));
        let start = tokio::time::Instant::now();
        pool.throttle(1, 5_000);
        pool.throttle(2, 0);
        let _ = pool.get(2, Purpose::Control).await;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "node 2 is not throttled"
        );
        let _ = pool.get(1, Purpose::Fetch).await;
        assert!(
            start.elapsed() >= Duration::from_secs(5),
            "the next request to node 1 waited out its throttle time (virtual clock)"
        );
    }

    #[tokio::test]
    async fn a_broker_that_hangs_while_connecting_does_not_hold_up_connections_to_others() {
        // Node 1 accepts TCP but never answers the handshake; node 2 refuses at once.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut config = ClientConfig::new("127.0.0.1:9092").unwrap();
        config.connect_timeout = Duration::from_secs(120);
        let pool = Arc::new(ConnectionPool::new(config));
        pool.update_addresses(&metadata(&[
            (1, silent.local_addr().unwrap().port()),
            (2, refused),
        ]));
        let hanging = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move { pool.get(1, Purpose::Fetch).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(200)).await; // node 1 is connecting now
        let other = tokio::time::timeout(Duration::from_secs(30), pool.get(2, Purpose::Fetch))
            .await
            .expect("node 2's connect must not wait for node 1's");
        assert!(matches!(other, Err(Error::Connect { .. })), "{other:?}");
        assert!(!hanging.is_finished(), "node 1 is still connecting");
        hanging.abort();
    }
}
