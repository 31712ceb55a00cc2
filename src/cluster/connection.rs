//! One connection to one broker: connect (TCP, then TLS when `security.protocol` says so),
//! ApiVersions, then SASL when configured, all under one deadline; then pipelined requests,
//! each under its own deadline.
//!
//! rskafka's [`Messenger`] does the framing and correlation, so several requests may be in
//! flight on one connection; it has no timeouts of its own, so every await here is bounded by
//! `socket.connection.setup.timeout.ms` or `socket.timeout.ms`. A connection that failed once is
//! poisoned for good: the owner drops it and connects anew.

use std::{io, sync::Arc, time::Duration};

use rskafka::messenger::{Messenger, RequestError, SyncVersionsError};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result, TlsFailure},
    wire::{Request, WireRequest},
};

use super::{sasl, tls, transport::BrokerStream};

/// A handshaken connection to one broker.
#[derive(Debug)]
pub(crate) struct BrokerConnection {
    broker: String,
    messenger: Messenger<BrokerStream>,
    request_timeout: Duration,
}

impl BrokerConnection {
    /// Opens the connection (TCP, TLS when configured), negotiates API versions and
    /// authenticates with SASL when configured, all within the connect timeout.
    pub(crate) async fn connect(addr: &BrokerAddress, config: &ClientConfig) -> Result<Self> {
        let broker = addr.to_string();
        let security = &config.security;
        let tls = if security.protocol.uses_tls() {
            Some((
                tls::client_config(&security.tls)?,
                tls::server_name(&addr.host)?,
            ))
        } else {
            None
        };
        let setup = async {
            let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
                .await
                .map_err(|source| Error::Connect {
                    broker: broker.clone(),
                    source,
                })?;
            // Small requests must not wait for Nagle; a failure here only costs latency.
            let _ = tcp.set_nodelay(true);
            let stream = match tls {
                Some((tls_config, name)) => {
                    let stream = TlsConnector::from(tls_config)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| Error::Tls {
                            broker: broker.clone(),
                            failure: tls_io_failure(&e),
                        })?;
                    BrokerStream::Tls(Box::new(stream))
                }
                None => BrokerStream::Plain(tcp),
            };
            let mut messenger = Messenger::new(
                stream,
                config.max_response_bytes,
                Arc::from(config.client_id.as_str()),
            );
            messenger
                .sync_versions()
                .await
                .map_err(|e| handshake_error(&broker, security.protocol.uses_tls(), &e))?;
            if security.protocol.uses_sasl() {
                sasl::authenticate(&messenger, &security.sasl)
                    .await
                    .map_err(|failure| Error::Sasl {
                        broker: broker.clone(),
                        failure,
                    })?;
            }
            Ok::<_, Error>(messenger)
        };
        let messenger = tokio::time::timeout(config.connect_timeout, setup)
            .await
            .map_err(|_| Error::ConnectTimeout {
                broker: broker.clone(),
                timeout: config.connect_timeout,
            })??;
        tracing::debug!(%broker, protocol = %security.protocol, "connected");
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

/// What a failed TLS handshake means for the user.
fn tls_io_failure(e: &io::Error) -> TlsFailure {
    if let Some(rustls_error) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return tls::classify(rustls_error);
    }
    match e.kind() {
        // A Kafka plaintext listener reads the ClientHello as an absurd frame size and hangs up.
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => TlsFailure::NotTls,
        _ => TlsFailure::Other {
            detail: e.to_string(),
        },
    }
}

/// Classifies a failed ApiVersions exchange: a TLS alert (the broker rejected the client
/// certificate after a TLS 1.3 handshake), plaintext spoken to a TLS port, or anything else.
fn handshake_error(broker: &str, tls: bool, e: &SyncVersionsError) -> Error {
    let mut hung_up = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(rustls_error) = err.downcast_ref::<rustls::Error>() {
            return Error::Tls {
                broker: broker.to_owned(),
                failure: tls::classify(rustls_error),
            };
        }
        if let Some(io_error) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = io_error
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
            {
                return Error::Tls {
                    broker: broker.to_owned(),
                    failure: tls::classify(inner),
                };
            }
            hung_up |= matches!(
                io_error.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
            );
        }
        if let Some(rskafka::protocol::frame::ReadError::MessageTooLarge { .. }) =
            err.downcast_ref()
        {
            // A TLS alert record read as a Kafka frame length.
            hung_up = true;
        }
        current = match err.downcast_ref::<RequestError>() {
            Some(RequestError::Poisoned(inner)) => Some(inner.as_ref()),
            _ => err.source(),
        };
    }
    if hung_up && !tls {
        return Error::PlaintextToTls {
            broker: broker.to_owned(),
        };
    }
    if hung_up && tls {
        // Under TLS 1.3 the broker checks the client certificate after the client already
        // considers the handshake done; its alert may be lost when our first write meets the
        // closed socket. Hanging up on the first request after a good handshake means that.
        return Error::Tls {
            broker: broker.to_owned(),
            failure: TlsFailure::ClientCertificateRejected {
                detail: "the broker closed the connection right after the TLS handshake".into(),
            },
        };
    }
    Error::Handshake {
        broker: broker.to_owned(),
        reason: e.to_string(),
    }
}
