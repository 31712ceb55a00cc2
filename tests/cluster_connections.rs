//! The cluster connection is shared without a lock held across a network wait: a cluster-wide
//! request whose response is slow does not hold up the next one (they are pipelined on the one
//! connection), judged through the fault proxy's byte counters.

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rskafka_consumer::{ClientConfig, Cluster, Error};
use support::{bootstrap, proxy::Proxy};

/// Waits until the proxy has forwarded more than `above` bytes to the broker; `false` if that
/// did not happen within `limit`.
async fn bytes_reach_broker(proxy: &Proxy, above: u64, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if proxy.stats().bytes_to_broker > above {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_cluster_request_waiting_for_a_slow_response_does_not_hold_up_the_next_request() {
    let proxy = Proxy::start(bootstrap());
    let cluster = Arc::new(
        Cluster::connect(ClientConfig::new(&proxy.address()).unwrap())
            .await
            .unwrap(),
    );
    cluster.metadata(Some(&[])).await.unwrap();

    // Every response now reaches us 20 s after the broker sent it.
    proxy.delay_responses(Duration::from_secs(20));
    let before = proxy.stats().bytes_to_broker;
    let first = tokio::spawn({
        let cluster = Arc::clone(&cluster);
        async move { cluster.metadata(None).await.map(|_| ()) }
    });
    assert!(
        bytes_reach_broker(&proxy, before, Duration::from_secs(10)).await,
        "the first request was sent"
    );
    let sent_first = proxy.stats().bytes_to_broker;
    let second = tokio::spawn({
        let cluster = Arc::clone(&cluster);
        async move { cluster.metadata(Some(&[])).await.map(|_| ()) }
    });
    let second_sent = bytes_reach_broker(&proxy, sent_first, Duration::from_secs(10)).await;
    let first_done = first.is_finished();
    assert!(
        second_sent && !first_done,
        "the second request must reach the broker while the first waits for its response \
         (second sent: {second_sent}, first finished: {first_done})"
    );
    proxy.clear_faults();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_broker_that_hangs_up_once_during_the_first_request_is_connected_not_called_tls() {
    // A broker that is starting or stopping accepts TCP and closes the connection during the
    // first request, as a TLS port does to plaintext; once is not enough to say TLS.
    let proxy = Proxy::start(bootstrap());
    proxy.cut_next_responses(1);
    let cluster = Cluster::connect(ClientConfig::new(&proxy.address()).unwrap())
        .await
        .expect("one hang-up during ApiVersions is retried");
    cluster.metadata(Some(&[])).await.unwrap();
    assert_eq!(proxy.stats().cuts, 1, "the first response was cut");
}

#[tokio::test]
async fn hang_ups_during_the_first_request_are_retried_only_within_the_connect_timeout() {
    // Every response arrives 1.5 s late and cut: four attempts would take about 7.4 s; the
    // connect timeout (2.5 s) bounds them all, and the hang-up is what gets reported.
    let proxy = Proxy::start(bootstrap());
    proxy.delay_responses(Duration::from_millis(1500));
    proxy.cut_next_responses(u32::MAX);
    let mut config = ClientConfig::new(&proxy.address()).unwrap();
    config.connect_timeout = Duration::from_millis(2500);
    let started = Instant::now();
    let err = Cluster::connect(config)
        .await
        .expect_err("every first response is cut");
    let took = started.elapsed();
    assert!(matches!(err, Error::PlaintextToTls { .. }), "{err:?}");
    assert!(
        took < Duration::from_millis(5000),
        "the connect took {took:?}, past twice its 2.5 s timeout"
    );
    assert!(proxy.stats().cuts >= 1);
}
