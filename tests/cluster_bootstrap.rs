//! The first contact with a cluster rides out a cluster that is transiently unavailable, as
//! librdkafka and the Java client keep reconnecting: every bootstrap address is tried, round
//! after round, for `socket.connection.setup.timeout.ms`; a broker that accepts connections
//! and closes them (starting, stopping, or down behind a proxy or load balancer) is tried
//! again like a refused one. A cluster that stays unreachable still ends in a typed error
//! naming what happened.
//!
//! Seen in the 30-minute soak (seed 7): a replacement `rkc consume` started while a broker
//! restarted exited at once with "closed the plaintext connection during the first request
//! (hint: the port probably expects TLS)" although two other bootstrap addresses answered.

mod support;

use std::{process::Stdio, time::Duration};

use rskafka_consumer::{ClientConfig, Cluster, Error};
use support::{bootstrap, proxy::Proxy, refused_address, rkc_path};

fn config(bootstrap: &str, extra: &[&str]) -> ClientConfig {
    let mut c = ClientConfig::new(bootstrap).unwrap();
    c.apply_pairs(extra.iter().copied()).unwrap();
    c
}

#[tokio::test]
async fn a_bootstrap_address_that_hangs_up_is_skipped_for_the_next_one() {
    let down = Proxy::start(bootstrap());
    down.hang_up_all();
    let up = Proxy::start(bootstrap());
    let list = format!("{},{}", down.address(), up.address());
    let cluster = Cluster::connect(config(&list, &[]))
        .await
        .expect("the second address answers");
    let metadata = cluster.metadata(Some(&[])).await.unwrap();
    assert_eq!(metadata.originating_broker, up.address());
    assert!(down.stats().hung_up > 0, "the first address was tried");
}

#[tokio::test]
async fn the_first_contact_waits_for_a_cluster_that_hangs_up_until_it_answers() {
    let proxy = Proxy::start(bootstrap());
    proxy.hang_up_all();
    let connect = tokio::spawn(Cluster::connect(config(&proxy.address(), &[])));
    // Let it be hung up on more often than a connect's own retries would (each round 100 ms,
    // 200 ms, … 1 s apart).
    while proxy.stats().hung_up < 6 {
        assert!(!connect.is_finished(), "{:?}", connect.await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.answer_again();
    let cluster = connect
        .await
        .unwrap()
        .expect("connected once the broker answered");
    cluster.metadata(Some(&[])).await.unwrap();
}

#[tokio::test]
async fn the_first_contact_waits_for_a_refused_cluster_until_it_listens() {
    // A port that refuses, then a proxy on it: a broker that starts listening late.
    let address = refused_address();
    let connect = tokio::spawn(Cluster::connect(config(&address, &[])));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!connect.is_finished(), "{:?}", connect.await);
    let proxy = Proxy::start_on(&address, bootstrap());
    let cluster = connect
        .await
        .unwrap()
        .expect("connected once the broker listened");
    cluster.metadata(Some(&[])).await.unwrap();
    drop(proxy);
}

#[tokio::test]
async fn a_cluster_that_keeps_hanging_up_ends_in_the_tls_port_error_after_the_setup_timeout() {
    let proxy = Proxy::start(bootstrap());
    proxy.hang_up_all();
    let err = Cluster::connect(config(
        &proxy.address(),
        &["socket.connection.setup.timeout.ms=2000"],
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PlaintextToTls { .. }), "{err:?}");
    assert!(err.to_string().contains("expects TLS"), "{err}");
    assert!(proxy.stats().hung_up > 1, "tried more than once");
}

#[tokio::test]
async fn a_cluster_that_stays_unreachable_ends_in_no_broker_reachable_naming_each_address() {
    let (a, b) = (refused_address(), refused_address());
    let err = Cluster::connect(config(
        &format!("{a},{b}"),
        &["socket.connection.setup.timeout.ms=1500"],
    ))
    .await
    .unwrap_err();
    let Error::NoBrokerReachable { attempts } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts[0].contains(&format!("cannot connect to {a}")),
        "{err}"
    );
    assert!(
        attempts[1].contains(&format!("cannot connect to {b}")),
        "{err}"
    );
}

#[test]
fn rkc_started_while_its_broker_hangs_up_waits_and_succeeds() {
    let proxy = Proxy::start(bootstrap());
    proxy.hang_up_all();
    let mut child = std::process::Command::new(rkc_path())
        .args(["metadata", "-b", &proxy.address(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run rkc");
    while proxy.stats().hung_up < 6 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "rkc gave up while the broker hung up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy.answer_again();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
