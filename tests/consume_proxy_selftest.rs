//! The fault-injection proxy (`tests/support/proxy.rs`) proves itself here, without rkc: on a
//! fake upstream (split reads, framing) and with librdkafka (confluent-kafka) as the client.
//! The corruption tests of `rkc consume` rely on exactly these properties.

mod support;

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    thread,
    time::Duration,
};

use serde_json::Value;
use support::{create_topic, json_lines, partition_leader, peer, produce, proxy::Proxy, unique};

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn proxy_matches_patterns_split_across_reads_and_never_holds_back_a_complete_frame() {
    // A fake broker that answers one request with two frames, written one byte at a time.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let up_port = upstream.local_addr().unwrap().port();
    let marker = b"CORRUPT-ME-0123456789abcdefghijk";
    let mut endpoint = b"127.0.0.1".to_vec();
    endpoint.extend_from_slice(&i32::from(up_port).to_be_bytes());
    let mut body1 = b"head".to_vec();
    body1.extend_from_slice(&endpoint);
    body1.extend_from_slice(b"--");
    body1.extend_from_slice(marker);
    body1.extend_from_slice(b"tail");
    // The second frame ends with a partial marker: it must still be delivered in full.
    let mut body2 = b"x".to_vec();
    body2.extend_from_slice(&marker[..10]);
    let mut wire = frame(&body1);
    wire.extend_from_slice(&frame(&body2));
    let server_wire = wire.clone();
    let server = thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut request = [0u8; 5];
        s.read_exact(&mut request).unwrap();
        assert_eq!(&request, b"hello", "client→broker bytes pass unchanged");
        for b in &server_wire {
            s.write_all(&[*b]).unwrap();
            s.flush().unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        // Keep the connection open: the client must get the frames without the stream ending.
        thread::sleep(Duration::from_secs(10));
    });

    let proxy = Proxy::start(&format!("127.0.0.1:{up_port}"));
    proxy.corrupt_after(marker);
    let mut client = TcpStream::connect(proxy.address()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(b"hello").unwrap();
    let mut got = vec![0u8; wire.len()];
    client
        .read_exact(&mut got)
        .expect("both frames arrive in full while the connection stays open");

    let proxy_port: u16 = proxy.address().rsplit(':').next().unwrap().parse().unwrap();
    let mut expected_body1 = b"head127.0.0.1".to_vec();
    expected_body1.extend_from_slice(&i32::from(proxy_port).to_be_bytes());
    expected_body1.extend_from_slice(b"--");
    let mut flipped = marker.to_vec();
    flipped[0] ^= 0xFF;
    expected_body1.extend_from_slice(&flipped);
    expected_body1.extend_from_slice(b"tail");
    let mut expected = frame(&expected_body1);
    expected.extend_from_slice(&frame(&body2));
    assert_eq!(got, expected);
    let stats = proxy.stats();
    assert_eq!(stats.endpoint_rewrites, 1, "{stats:?}");
    assert_eq!(stats.corruptions, 1, "{stats:?}");
    assert_eq!(stats.connections, 1, "{stats:?}");
    drop(client);
    drop(proxy);
    let _ = server.join();
}

#[test]
fn librdkafka_reads_everything_through_the_proxy_because_advertised_endpoints_are_rewritten() {
    let topic = unique("proxy-pass");
    create_topic(&topic, 1);
    let value = "v".repeat(1000);
    let produced = produce(&topic, &["--count", "20", "--value", &value]);
    assert_eq!(produced.len(), 20);

    let proxy = Proxy::start(&partition_leader(&topic, 0));
    let lines = json_lines(&peer("consume.py", &[&proxy.address(), &topic]).stdout);
    let (messages, events): (Vec<Value>, Vec<Value>) =
        lines.into_iter().partition(|v| v.get("event").is_none());
    assert_eq!(messages, produced);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "partition_eof");
    assert_eq!(events[0]["offset"], 20);

    let stats = proxy.stats();
    assert!(stats.connections >= 1, "{stats:?}");
    assert!(stats.endpoint_rewrites >= 1, "{stats:?}");
    // The 20 kB of values came through the proxy: the fetches went to the rewritten endpoint,
    // not straight to the broker (Metadata answers alone are a few hundred bytes).
    assert!(stats.bytes_to_client > 20_000, "{stats:?}");
    assert_eq!(stats.corruptions, 0);
}

#[test]
fn librdkafka_reports_a_crc_error_for_a_batch_the_proxy_corrupts_and_reads_it_once_cleared() {
    let topic = unique("proxy-crc");
    create_topic(&topic, 1);
    let marker = format!("CORRUPT-ME-{}", unique("m"));
    let mut produced = produce(&topic, &["--count", "3", "--flush-every", "1"]);
    produced.extend(produce(&topic, &["--count", "1", "--value", &marker]));
    produced.extend(produce(
        &topic,
        &["--count", "2", "--start", "4", "--flush-every", "1"],
    ));
    let marker_offset = produced[3]["offset"].as_i64().unwrap();
    assert_eq!(produced[3]["value"], marker.as_str());

    let proxy = Proxy::start(&partition_leader(&topic, 0));
    proxy.corrupt_after(marker.as_bytes());
    let lines = json_lines(
        &peer(
            "consume.py",
            &[
                &proxy.address(),
                &topic,
                "--check-crcs",
                "--stop-on-error",
                "--timeout",
                "20",
            ],
        )
        .stdout,
    );
    let errors: Vec<&Value> = lines.iter().filter(|v| v["event"] == "error").collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    let text = errors[0]["error"].as_str().unwrap().to_lowercase();
    assert!(text.contains("crc"), "{}", errors[0]);
    assert_eq!(errors[0]["partition"], 0);
    let before: Vec<&Value> = lines.iter().filter(|v| v.get("event").is_none()).collect();
    assert!(
        before
            .iter()
            .all(|m| m["offset"].as_i64().unwrap() < marker_offset),
        "{before:?}"
    );
    assert!(proxy.stats().corruptions >= 1);

    proxy.clear_faults();
    let lines = json_lines(
        &peer(
            "consume.py",
            &[&proxy.address(), &topic, "--check-crcs", "--stop-on-error"],
        )
        .stdout,
    );
    let messages: Vec<Value> = lines
        .into_iter()
        .filter(|v| v.get("event").is_none())
        .collect();
    assert_eq!(messages, produced);
}
