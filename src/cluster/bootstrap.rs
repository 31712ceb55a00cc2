//! Bootstrap failover: try each configured address in turn until one handshakes.

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
};

use super::connection::BrokerConnection;

/// Connects to the first of `addresses` that answers, each attempt bounded by the connect
/// timeout. When none does, the error lists every address with its own failure.
pub(crate) async fn connect_any(
    addresses: &[BrokerAddress],
    config: &ClientConfig,
) -> Result<BrokerConnection> {
    let mut attempts = Vec::with_capacity(addresses.len());
    for addr in addresses {
        match BrokerConnection::connect(addr, config).await {
            Ok(conn) => return Ok(conn),
            // Wrong security settings fail the same way on every broker: say so at once.
            Err(
                e @ (Error::Tls { .. }
                | Error::Sasl { .. }
                | Error::PlaintextToTls { .. }
                | Error::Config(_)),
            ) => {
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(broker = %addr, error = %e, "bootstrap broker unavailable");
                attempts.push(e.to_string());
            }
        }
    }
    if attempts.is_empty() {
        attempts.push("bootstrap.servers is empty".to_owned());
    }
    Err(Error::NoBrokerReachable { attempts })
}
