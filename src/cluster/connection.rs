//! One connection to one broker: connect (TCP, then TLS when `security.protocol` says so),
//! ApiVersions, then SASL when configured, all under one deadline; then pipelined requests,
//! each under its own deadline.
//!
//! rskafka's [`Messenger`] does the framing and correlation, so several requests may be in
//! flight on one connection; it has no timeouts of its own, so every await here is bounded by
//! `socket.connection.setup.timeout.ms` or `socket.timeout.ms`. A connection that failed once is
//! poisoned for good: the owner drops it and connects anew.
//!
//! KIP-368: when the broker gives a SASL session a lifetime (`connections.max.reauth.ms`, or an
//! OAUTHBEARER token's expiry), a task of the connection re-authenticates in band before it
//! ends; a broker closes a connection whose session expired at its next request. Invariant: no
//! request is sent while a re-authentication runs — requests pass the connection's [`AuthGate`]
//! shared, the re-authentication exclusively (tokio's fair lock lets it in once the requests
//! already sent have their responses, and holds back new ones meanwhile). Without a session
//! lifetime there is no gate and no task.

use std::{
    io,
    sync::{Arc, Weak},
    time::Duration,
};

use rskafka::messenger::{Messenger, RequestError, SyncVersionsError};
use tokio::{net::TcpStream, sync::RwLock, task::JoinHandle};
use tokio_rustls::TlsConnector;

use crate::{
    config::{BrokerAddress, ClientConfig, SaslConfig},
    error::{Error, Result, TlsFailure},
    wire::{Request, WireRequest},
};

use super::{sasl, tls, transport::BrokerStream};

/// A handshaken connection to one broker.
#[derive(Debug)]
pub(crate) struct BrokerConnection {
    broker: String,
    messenger: Arc<Messenger<BrokerStream>>,
    request_timeout: Duration,
    /// Present while the SASL session has a lifetime (KIP-368).
    reauthentication: Option<Reauthentication>,
}

/// The source of the [`Error::Connect`] (kind `ConnectionAborted`) of a connection the broker
/// end closed during the first request without a TLS record.
#[derive(Debug)]
struct HungUp;

impl std::fmt::Display for HungUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the connection was closed during the first request \
             (a broker starting or stopping, or down behind a proxy or load balancer)",
        )
    }
}

impl std::error::Error for HungUp {}

/// Whether `e` is a connection the broker end closed during the first request (see
/// [`BrokerConnection::connect_first`]).
pub(crate) fn is_hang_up(e: &Error) -> bool {
    matches!(e, Error::Connect { source, .. } if source.get_ref().is_some_and(|s| s.is::<HungUp>()))
}

fn hung_up(broker: &str) -> Error {
    Error::Connect {
        broker: broker.to_owned(),
        source: io::Error::new(io::ErrorKind::ConnectionAborted, HungUp),
    }
}

/// Requests pass shared, a re-authentication exclusively (see the module doc).
type AuthGate = RwLock<()>;

/// The re-authentication task of one connection and the gate it shares with requests.
#[derive(Debug)]
struct Reauthentication {
    gate: Arc<AuthGate>,
    task: JoinHandle<()>,
}

impl Drop for Reauthentication {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BrokerConnection {
    /// Opens a connection to a broker of a cluster that has already answered this client
    /// (TCP, TLS when configured, API versions, SASL when configured, all within the connect
    /// timeout). The cluster spoke this client's protocol, so a broker that closes the
    /// connection during the first request is starting, stopping, or down behind a proxy:
    /// a retriable [`Error::Connect`], never [`Error::PlaintextToTls`].
    pub(crate) async fn connect(addr: &BrokerAddress, config: &ClientConfig) -> Result<Self> {
        match Self::connect_first(addr, config).await {
            Err(Error::PlaintextToTls { broker }) => Err(hung_up(&broker)),
            other => other,
        }
    }

    /// Opens a connection at the first contact with a cluster (see [`Self::connect`]). A
    /// plaintext connection answered with a TLS record is [`Error::PlaintextToTls`]; one the
    /// broker end merely closes during the first request is ambiguous (a TLS port, or a
    /// broker starting or stopping) and reported as a retriable [`Error::Connect`] that
    /// [`is_hang_up`] recognizes: the bootstrap retries it, and names the TLS port as the
    /// likely cause only when every address kept hanging up.
    pub(crate) async fn connect_first(addr: &BrokerAddress, config: &ClientConfig) -> Result<Self> {
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
            let mut lifetime = None;
            if security.protocol.uses_sasl() {
                lifetime = sasl::authenticate(&messenger, &security.sasl)
                    .await
                    .map_err(|failure| Error::Sasl {
                        broker: broker.clone(),
                        failure,
                    })?
                    .lifetime;
            }
            Ok::<_, Error>((messenger, lifetime))
        };
        let (messenger, lifetime) = tokio::time::timeout(config.connect_timeout, setup)
            .await
            .map_err(|_| Error::ConnectTimeout {
                broker: broker.clone(),
                timeout: config.connect_timeout,
            })??;
        tracing::debug!(%broker, protocol = %security.protocol, ?lifetime, "connected");
        let messenger = Arc::new(messenger);
        let reauthentication = lifetime.map(|lifetime| {
            let gate = Arc::new(AuthGate::default());
            let task = tokio::spawn(reauthenticate(
                Arc::downgrade(&messenger),
                Arc::clone(&gate),
                security.sasl.clone(),
                lifetime,
                broker.clone(),
                config.connect_timeout,
            ));
            Reauthentication { gate, task }
        });
        Ok(Self {
            broker,
            messenger,
            request_timeout: config.request_timeout,
            reauthentication,
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
        let send = async {
            // Shared with other requests; waits only while a re-authentication runs.
            let _pass = match &self.reauthentication {
                Some(r) => Some(r.gate.read().await),
                None => None,
            };
            self.messenger.request(Request(request)).await
        };
        let response =
            tokio::time::timeout(timeout, send)
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

/// When to re-authenticate a session of `lifetime`: at 85 % of it (as Java's client, which
/// picks 85-95 %), but at least a second before it ends so that a long poll already in flight
/// can finish first, and never before half of it.
fn reauthentication_delay(lifetime: Duration) -> Duration {
    lifetime
        .mul_f64(0.85)
        .min(lifetime.saturating_sub(Duration::from_secs(1)))
        .max(lifetime / 2)
}

/// Re-authenticates the connection's SASL session before each lifetime the broker grants ends.
/// Ends when the connection is dropped, the broker stops limiting the session, or a
/// re-authentication fails (the broker then closes the connection at its next request, and the
/// owner connects anew, as after any lost connection).
async fn reauthenticate(
    messenger: Weak<Messenger<BrokerStream>>,
    gate: Arc<AuthGate>,
    sasl: SaslConfig,
    mut lifetime: Duration,
    broker: String,
    timeout: Duration,
) {
    loop {
        tokio::time::sleep(reauthentication_delay(lifetime)).await;
        let Some(messenger) = messenger.upgrade() else {
            return;
        };
        let exclusive = gate.write().await;
        let outcome = tokio::time::timeout(timeout, sasl::authenticate(&messenger, &sasl)).await;
        drop(exclusive);
        match outcome {
            Ok(Ok(session)) => {
                tracing::debug!(%broker, lifetime = ?session.lifetime, "SASL session re-authenticated");
                match session.lifetime {
                    Some(next) => lifetime = next,
                    None => return,
                }
            }
            Ok(Err(failure)) => {
                tracing::warn!(%broker, %failure, "SASL re-authentication failed; reconnecting at the next request");
                return;
            }
            Err(_) => {
                tracing::warn!(%broker, ?timeout, "SASL re-authentication timed out; reconnecting at the next request");
                return;
            }
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
    let mut tls_record = false;
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
            tls_record = true;
        }
        current = match err.downcast_ref::<RequestError>() {
            Some(RequestError::Poisoned(inner)) => Some(inner.as_ref()),
            _ => err.source(),
        };
    }
    if tls_record && !tls {
        return Error::PlaintextToTls {
            broker: broker.to_owned(),
        };
    }
    if hung_up && !tls {
        return self::hung_up(broker);
    }
    if (hung_up || tls_record) && tls {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reauthentication_leaves_room_for_a_long_poll_and_never_starts_before_half_the_lifetime() {
        let s = Duration::from_secs;
        assert_eq!(reauthentication_delay(s(3600)), s(3060));
        assert_eq!(reauthentication_delay(s(5)), s(4));
        assert_eq!(reauthentication_delay(s(2)), s(1));
        assert_eq!(
            reauthentication_delay(Duration::from_millis(800)),
            Duration::from_millis(400)
        );
    }
}
