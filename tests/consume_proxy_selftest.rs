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

/// A fake broker: for every connection, after reading `hello`, writes `frames` and keeps the
/// connection open for a while. Returns its address.
fn fake_broker(frames: Vec<u8>, connections: usize) -> (String, thread::JoinHandle<()>) {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = upstream.local_addr().unwrap().to_string();
    let server = thread::spawn(move || {
        let mut open = Vec::new();
        for _ in 0..connections {
            let (mut s, _) = upstream.accept().unwrap();
            let mut request = [0u8; 5];
            s.read_exact(&mut request).unwrap();
            s.write_all(&frames).unwrap();
            open.push(s);
        }
        thread::sleep(Duration::from_secs(3));
    });
    (address, server)
}

/// Connects through `proxy`, says `hello`, and reads until EOF or 5 s of silence.
fn read_through(proxy: &Proxy) -> (Vec<u8>, bool, Duration) {
    let mut client = TcpStream::connect(proxy.address()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    client.write_all(b"hello").unwrap();
    let mut got = Vec::new();
    let mut first_byte = None;
    let mut buf = [0u8; 1024];
    let closed = loop {
        match client.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                got.extend_from_slice(&buf[..n]);
                if got.len() >= 208 {
                    break false;
                }
            }
            Err(_) => break false,
        }
    };
    (got, closed, first_byte.unwrap_or_default())
}

#[test]
fn proxy_delays_each_response_and_cuts_the_next_ones_halfway() {
    let body = [7u8; 100];
    let mut frames = frame(&body);
    frames.extend_from_slice(&frame(&body));
    let (upstream, server) = fake_broker(frames.clone(), 3);
    let proxy = Proxy::start(&upstream);

    proxy.delay_responses(Duration::from_millis(300));
    let (got, closed, first) = read_through(&proxy);
    assert_eq!(got, frames, "delayed, not changed");
    assert!(!closed);
    assert!(
        first >= Duration::from_millis(300),
        "first byte after {first:?}"
    );
    assert!(proxy.stats().delayed >= 1, "{:?}", proxy.stats());

    proxy.clear_faults();
    proxy.cut_next_responses(1);
    let (got, closed, _) = read_through(&proxy);
    assert!(closed, "the connection is closed after the cut");
    assert_eq!(got, frames[..4 + 50], "the size prefix and half the body");
    assert_eq!(proxy.stats().cuts, 1);

    // The cut was the last one asked for: the next connection gets everything.
    let (got, closed, _) = read_through(&proxy);
    assert_eq!(got, frames);
    assert!(!closed);
    assert_eq!(proxy.stats().cuts, 1);
    drop(proxy);
    let _ = server.join();
}
