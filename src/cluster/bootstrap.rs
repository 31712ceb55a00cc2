//! Bootstrap failover: try each configured address in turn until one handshakes.
//!
//! Invariants: every address is tried before any failure is reported, and a failure only
//! ends the search early when it would be the same on every broker (TLS, SASL, a TLS port
//! spoken plaintext, the configuration). At the first contact ([`first_contact`]) a cluster
//! that is transiently unavailable (connections refused, timing out, or closed during the
//! first request while brokers start or stop) is tried again, round after round, for
//! `socket.connection.setup.timeout.ms`, as librdkafka and the Java client keep reconnecting
//! (`reconnect.backoff.ms`); the wait is bounded: no round starts after that time, so the
//! whole search takes at most the setup timeout plus one round. Then the error names every
//! address with its last failure.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
};

use super::connection::{BrokerConnection, is_hang_up};

/// The pause before the second round; it doubles up to [`MAX_BACKOFF`] (librdkafka's
/// `reconnect.backoff.ms` default is 100 ms).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Whether `e` would be the same on every broker: no point trying the others.
fn same_everywhere(e: &Error) -> bool {
    matches!(
        e,
        Error::Tls { .. } | Error::Sasl { .. } | Error::PlaintextToTls { .. } | Error::Config(_)
    )
}

/// The first contact with a cluster: rounds over `addresses` (see the module documentation)
/// until one handshakes, for at most `socket.connection.setup.timeout.ms` plus one round.
///
/// # Errors
/// A failure that would be the same on every broker, at once; when no address answered in
/// time, [`Error::PlaintextToTls`] if every address kept closing the connection during the
/// first request (the likely cause is a TLS port), else [`Error::NoBrokerReachable`] with
/// each address's last failure.
pub(crate) async fn first_contact(
    addresses: &[BrokerAddress],
    config: &ClientConfig,
) -> Result<BrokerConnection> {
    let deadline = Instant::now() + config.connect_timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut round = 1u32;
    loop {
        let mut attempts = Vec::with_capacity(addresses.len());
        let mut all_hung_up = !addresses.is_empty();
        for addr in addresses {
            match BrokerConnection::connect_first(addr, config).await {
                Ok(conn) => return Ok(conn),
                Err(e) if same_everywhere(&e) => return Err(e),
                Err(e) => {
                    all_hung_up &= is_hang_up(&e);
                    attempts.push(e);
                }
            }
        }
        let now = Instant::now();
        if addresses.is_empty() || now >= deadline {
            if all_hung_up && let Some(addr) = addresses.first() {
                return Err(Error::PlaintextToTls {
                    broker: addr.to_string(),
                });
            }
            return Err(no_broker(attempts));
        }
        if round == 1 {
            let summary: Vec<String> = attempts.iter().map(ToString::to_string).collect();
            tracing::warn!(
                failures = %summary.join("; "),
                retry_for = ?deadline - now,
                "no bootstrap broker answered; trying again"
            );
            if all_hung_up {
                tracing::warn!(
                    "every bootstrap broker closed the connection during the first request: \
                     brokers starting or stopping, or TLS ports (then set security.protocol=ssl \
                     or sasl_ssl)"
                );
            }
        } else {
            tracing::debug!(round, "no bootstrap broker answered; trying again");
        }
        tokio::time::sleep(backoff.min(deadline - now)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        round += 1;
    }
}

/// One round over `addresses` for a cluster that has already answered this client (the
/// connection for cluster-wide requests is replaced): the first that handshakes.
///
/// # Errors
/// A failure that would be the same on every broker, at once; else
/// [`Error::NoBrokerReachable`] with each address's failure.
pub(crate) async fn connect_any(
    addresses: &[BrokerAddress],
    config: &ClientConfig,
) -> Result<BrokerConnection> {
    let mut attempts = Vec::with_capacity(addresses.len());
    for addr in addresses {
        match BrokerConnection::connect(addr, config).await {
            Ok(conn) => return Ok(conn),
            Err(e) if same_everywhere(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(broker = %addr, error = %e, "bootstrap broker unavailable");
                attempts.push(e);
            }
        }
    }
    Err(no_broker(attempts))
}

fn no_broker(attempts: Vec<Error>) -> Error {
    let mut attempts: Vec<String> = attempts.iter().map(ToString::to_string).collect();
    if attempts.is_empty() {
        attempts.push("bootstrap.servers is empty".to_owned());
    }
    Error::NoBrokerReachable { attempts }
}
