//! One TCP connection to one broker: connect and handshake under a deadline, then pipelined
//! requests, each under its own deadline.
//!
//! rskafka's [`Messenger`] does the framing and correlation, so several requests may be in
//! flight on one connection; it has no timeouts of its own, so every await here is bounded by
//! `socket.connection.setup.timeout.ms` or `socket.timeout.ms`. A connection that failed once is
//! poisoned for good: the owner drops it and connects anew.

use std::{sync::Arc, time::Duration};

use rskafka::messenger::{Messenger, RequestError};
use tokio::net::TcpStream;

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
    wire::{Request, WireRequest},
};

/// A handshaken connection to one broker.
#[derive(Debug)]
pub(crate) struct BrokerConnection {
    broker: String,
    messenger: Messenger<TcpStream>,
    request_timeout: Duration,
}

impl BrokerConnection {
    /// Opens a TCP connection and negotiates API versions, all within the connect timeout.
    pub(crate) async fn connect(addr: &BrokerAddress, config: &ClientConfig) -> Result<Self> {
        let broker = addr.to_string();
        let setup = async {
            let stream = TcpStream::connect((addr.host.as_str(), addr.port))
                .await
                .map_err(|source| Error::Connect {
                    broker: broker.clone(),
                    source,
                })?;
            // Small requests must not wait for Nagle; a failure here only costs latency.
            let _ = stream.set_nodelay(true);
            let mut messenger = Messenger::new(
                stream,
                config.max_response_bytes,
                Arc::from(config.client_id.as_str()),
            );
            messenger
                .sync_versions()
                .await
                .map_err(|e| Error::Handshake {
                    broker: broker.clone(),
                    reason: e.to_string(),
                })?;
            Ok::<_, Error>(messenger)
        };
        let messenger = tokio::time::timeout(config.connect_timeout, setup)
            .await
            .map_err(|_| Error::ConnectTimeout {
                broker: broker.clone(),
                timeout: config.connect_timeout,
            })??;
        tracing::debug!(%broker, "connected");
        Ok(Self {
            broker,
            messenger,
            request_timeout: config.request_timeout,
        })
    }

    /// `host:port` of the broker.
    pub(crate) fn broker(&self) -> &str {
        &self.broker
    }

    /// Sends one request and waits for its response, at most `socket.timeout.ms`.
    pub(crate) async fn request<R: WireRequest>(&self, request: R) -> Result<R::Response> {
        self.request_within(request, self.request_timeout).await
    }

    /// Sends one request and waits at most `timeout` (JoinGroup and SyncGroup may be held by
    /// the coordinator for the whole rebalance, longer than `socket.timeout.ms`).
    pub(crate) async fn request_within<R: WireRequest>(
        &self,
        request: R,
        timeout: Duration,
    ) -> Result<R::Response> {
        let response = tokio::time::timeout(timeout, self.messenger.request(Request(request)))
            .await
            .map_err(|_| Error::RequestTimeout {
                broker: self.broker.clone(),
                api: R::NAME,
                timeout,
            })?;
        response
            .map(|r| r.0)
            .map_err(|e| self.request_error(R::NAME, e))
    }

    fn request_error(&self, api: &'static str, e: RequestError) -> Error {
        Error::Request {
            broker: self.broker.clone(),
            api,
            reason: e.to_string(),
        }
    }
}
