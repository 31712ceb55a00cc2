//! Incremental fetch sessions (KIP-227): once caught up, a consumer of many partitions sends
//! small incremental Fetch requests instead of listing every partition each time. Measured on
//! the wire with the loopback proxy.

mod support;

use std::time::Duration;

use support::{RkcProcess, create_topic, partition_leader, proxy::Proxy, unique};

#[test]
fn idle_fetches_of_many_partitions_are_incremental_once_the_session_exists() {
    let topic = unique("sessions");
    let partitions: i64 = 60;
    create_topic(&topic, partitions as u32);
    let proxy = Proxy::start(&partition_leader(&topic, 0));
    let mut rkc = RkcProcess::spawn(&[
        "consume",
        "-b",
        &proxy.address(),
        "-t",
        &topic,
        "-o",
        "beginning",
        "-X",
        "enable.partition.eof=true",
        "-X",
        "fetch.wait.max.ms=200",
    ]);
    rkc.wait_until(Duration::from_secs(45), "EOF on every partition", |r| {
        (0..partitions).all(|p| !r.eofs(&topic, p).is_empty())
    });
    // Now idle: every request long-polls for 200 ms. A full request lists all 60 partitions
    // (≈ 35 bytes each, > 2 KB per request); an incremental one lists none (< 150 bytes).
    let before = proxy.stats().bytes_to_broker;
    std::thread::sleep(Duration::from_secs(3));
    let sent = proxy.stats().bytes_to_broker - before;
    // ~15 requests in 3 s: full ones would be > 30 KB.
    assert!(sent > 0, "the consumer kept fetching");
    assert!(
        sent < 6_000,
        "idle fetching sent {sent} bytes in 3 s: requests are not incremental"
    );
    assert!(rkc.messages.is_empty());
}
