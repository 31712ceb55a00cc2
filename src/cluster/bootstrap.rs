//! Bootstrap failover: try each configured address in turn until one handshakes.
//!
//! Invariant: a broker that hangs up on the first plaintext request (a TLS port, or a broker
//! behind a proxy or load balancer that is down) does not stop the failover: the next address
//! is tried, and only when every address hung up that way is that reported as
//! [`Error::PlaintextToTls`] (the hint to set `security.protocol`). TLS, SASL and configuration
//! errors fail the same way on every broker and are reported at once.

use crate::{
    config::{BrokerAddress, ClientConfig},
    error::{Error, Result},
};

use super::connection::BrokerConnection;

/// Connects to the first of `addresses` that answers, each attempt bounded by the connect
/// timeout. When none does, the error lists every address with its own failure (or is
/// [`Error::PlaintextToTls`] when every one hung up on plaintext).
pub(crate) async fn connect_any(
    addresses: &[BrokerAddress],
    config: &ClientConfig,
) -> Result<BrokerConnection> {
    let mut attempts = Vec::with_capacity(addresses.len());
    let mut hung_up: Option<Error> = None;
    let mut hang_ups = 0;
    for addr in addresses {
        match BrokerConnection::connect(addr, config).await {
            Ok(conn) => return Ok(conn),
            // Wrong security settings fail the same way on every broker: say so at once.
            Err(e @ (Error::Tls { .. } | Error::Sasl { .. } | Error::Config(_))) => {
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(broker = %addr, error = %e, "bootstrap broker unavailable");
                attempts.push(e.to_string());
                if matches!(e, Error::PlaintextToTls { .. }) {
                    hang_ups += 1;
                    hung_up.get_or_insert(e);
                }
            }
        }
    }
    match hung_up {
        Some(e) if hang_ups == attempts.len() => Err(e),
        _ => {
            if attempts.is_empty() {
                attempts.push("bootstrap.servers is empty".to_owned());
            }
            Err(Error::NoBrokerReachable { attempts })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use tokio::net::TcpListener;

    use super::*;

    /// A port that accepts TCP connections and closes them at once (a proxy in front of a
    /// broker that is down); counts the connections.
    async fn hanging_up() -> (BrokerAddress, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        let addr = BrokerAddress {
            host: "127.0.0.1".into(),
            port,
        };
        (addr, accepted)
    }

    /// A port where nothing listens.
    async fn refused() -> BrokerAddress {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        BrokerAddress {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[tokio::test]
    async fn a_broker_that_hangs_up_does_not_stop_the_failover_to_the_next() {
        let config = ClientConfig::new("127.0.0.1:9").unwrap();
        let (first, _) = hanging_up().await;
        let (second, tried) = hanging_up().await;
        let third = refused().await;
        let addresses = [first, second, third];
        let Err(e) = connect_any(&addresses, &config).await else {
            panic!("none answers");
        };
        assert!(
            tried.load(Ordering::SeqCst) > 0,
            "the second address was tried"
        );
        match e {
            Error::NoBrokerReachable { attempts } => assert_eq!(attempts.len(), 3, "{attempts:?}"),
            other => panic!("expected NoBrokerReachable naming all three, got {other}"),
        }
    }

    #[tokio::test]
    async fn every_broker_hanging_up_on_plaintext_keeps_the_tls_hint() {
        let config = ClientConfig::new("127.0.0.1:9").unwrap();
        let (first, _) = hanging_up().await;
        let (second, tried) = hanging_up().await;
        let Err(e) = connect_any(&[first, second], &config).await else {
            panic!("none answers");
        };
        assert!(
            tried.load(Ordering::SeqCst) > 0,
            "the second address was tried"
        );
        assert!(matches!(e, Error::PlaintextToTls { .. }), "{e}");
    }
}
