//! A regex subscription is re-evaluated on the periodic metadata refresh
//! (`topic.metadata.refresh.interval.ms`, 5 min by default, as librdkafka; Java's
//! `metadata.max.age.ms`), not every few seconds: each evaluation fetches every topic's
//! metadata. Judged by the bytes the broker sends through the fault proxy while the member
//! idles, against the size of one full metadata response.

mod support;

use std::time::{Duration, Instant};

use rskafka_consumer::{ClientConfig, Cluster, Consumer, Event};
use support::{bootstrap, create_topic, proxy::Proxy, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_regex_member_does_not_fetch_all_topics_metadata_between_refreshes() {
    let prefix = unique("re-idle");
    create_topic(&format!("{prefix}-a"), 1);
    let proxy = Proxy::start(bootstrap());
    let cluster = Cluster::connect(ClientConfig::new(&proxy.address()).unwrap())
        .await
        .unwrap();
    let before = proxy.stats().bytes_to_client;
    cluster.metadata(None).await.unwrap();
    // The proxy counts a chunk after writing it: let the count catch up with the response.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let full = proxy.stats().bytes_to_client - before;

    let config = support::fault::config(&proxy.address(), Some(&unique("g-re-idle")), &[]);
    let consumer = Consumer::new(config).await.unwrap();
    consumer.subscribe(&[&format!("^{prefix}-.*")]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "never assigned");
        if let Some(Ok(Event::Assigned(_))) = consumer.poll_event(Duration::from_millis(200)).await
        {
            break;
        }
    }
    // Idle for 12 s (twice the old 5 s cadence, and more), polling.
    let start = proxy.stats().bytes_to_client;
    let idle_until = Instant::now() + Duration::from_secs(12);
    while Instant::now() < idle_until {
        let _ = consumer.poll_event(Duration::from_millis(200)).await;
    }
    let idle = proxy.stats().bytes_to_client - start;
    eprintln!("one full metadata response: {full} bytes; 12 s idle: {idle} bytes");
    assert!(
        idle < full,
        "{idle} bytes reached the member in 12 s idle, more than one full metadata response \
         ({full} bytes)"
    );
    consumer.close().await;
}
