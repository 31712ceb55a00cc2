//! The fault-injection proxy (`tests/support/proxy.rs`) proves itself here, without rkc: on a
//! fake upstream (split reads, framing), with librdkafka (confluent-kafka) as the client, and
//! with raw ApiVersions requests to the real broker (delayed responses: in order, each delayed
//! from its own arrival; cut responses: a true prefix, then the connection closed). The
//! corruption tests of `rkc consume` and the network-fault suite (`fault_network.rs`) rely on
//! exactly these properties.

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

/// An ApiVersions v0 request frame (header v1, client id "proxy-selftest", empty body).
fn api_versions_request(correlation_id: i32) -> Vec<u8> {
    let client_id = b"proxy-selftest";
    let mut body = 18i16.to_be_bytes().to_vec(); // api key ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes()); // version 0
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    frame(&body)
}

/// Reads one whole response frame (size prefix included).
fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("a response size");
    let mut f = size.to_vec();
    f.resize(4 + i32::from_be_bytes(size) as usize, 0);
    stream.read_exact(&mut f[4..]).expect("a whole response");
    f
}

/// `response` as it would be for `correlation_id` (the id follows the size prefix).
fn with_correlation(response: &[u8], correlation_id: i32) -> Vec<u8> {
    let mut r = response.to_vec();
    r[4..8].copy_from_slice(&correlation_id.to_be_bytes());
    r
}

fn connect(proxy: &Proxy) -> TcpStream {
    let s = TcpStream::connect(proxy.address()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

#[test]
fn broker_responses_are_each_delayed_from_their_own_arrival_in_order_until_the_delay_is_cleared() {
    let proxy = Proxy::start(support::bootstrap());
    let mut client = connect(&proxy);
    client.write_all(&api_versions_request(1)).unwrap();
    let undelayed = read_frame(&mut client);
    assert_eq!(proxy.stats().delayed, 0);

    // Three requests 200 ms apart, all sent before the first response is due: each response
    // must come DELAY after its own request, not after the one before it (3 × DELAY).
    const DELAY: Duration = Duration::from_millis(1500);
    proxy.delay_responses(DELAY);
    let mut sent = Vec::new();
    for id in 2..=4 {
        if id > 2 {
            thread::sleep(Duration::from_millis(200));
        }
        // Timed before the write: a client thread descheduled right after it could otherwise
        // take the time after the proxy already read the response (seen once under load).
        sent.push(std::time::Instant::now());
        client.write_all(&api_versions_request(id)).unwrap();
    }
    let mut waited = Vec::new();
    for (id, sent) in (2..=4).zip(sent) {
        let response = read_frame(&mut client);
        waited.push(sent.elapsed());
        assert_eq!(
            response,
            with_correlation(&undelayed, id),
            "delayed responses come unchanged and in order"
        );
    }
    assert!(
        waited.iter().all(|w| *w >= DELAY),
        "a response came before its delay: {waited:?} after their requests"
    );
    assert!(
        waited.iter().all(|w| *w < DELAY * 2),
        "each response must wait only its own delay, not the earlier ones' too: {waited:?} after their requests"
    );
    assert_eq!(proxy.stats().delayed, 3, "{:?}", proxy.stats());

    proxy.delay_responses(Duration::ZERO);
    let sent = std::time::Instant::now();
    client.write_all(&api_versions_request(5)).unwrap();
    assert_eq!(read_frame(&mut client), with_correlation(&undelayed, 5));
    let took = sent.elapsed();
    assert!(
        took < DELAY,
        "delay switched off, yet the response took {took:?}"
    );
    assert_eq!(proxy.stats().delayed, 3, "{:?}", proxy.stats());
}

#[test]
fn the_next_broker_responses_over_all_connections_are_cut_halfway_and_their_connections_closed() {
    let proxy = Proxy::start(support::bootstrap());
    let mut first = connect(&proxy);
    first.write_all(&api_versions_request(1)).unwrap();
    let whole = read_frame(&mut first);
    let size = whole.len() - 4;
    assert!(size > 16, "an ApiVersions response has a body: {whole:?}");

    // Two cuts: one for a new connection, one for the connection already open.
    proxy.cut_next_responses(2);
    let mut second = connect(&proxy);
    for (stream, id) in [(&mut second, 7), (&mut first, 8)] {
        stream.write_all(&api_versions_request(id)).unwrap();
        let mut got = Vec::new();
        stream
            .read_to_end(&mut got)
            .expect("the connection is closed after the cut");
        assert_eq!(
            got.len(),
            4 + size / 2,
            "the size prefix and half the body: {got:?}"
        );
        assert_eq!(
            got,
            with_correlation(&whole, id)[..got.len()],
            "a true prefix"
        );
    }
    assert_eq!(proxy.stats().cuts, 2, "{:?}", proxy.stats());

    // No cut left: a new connection gets whole responses.
    let mut third = connect(&proxy);
    third.write_all(&api_versions_request(9)).unwrap();
    assert_eq!(read_frame(&mut third), with_correlation(&whole, 9));
    proxy.cut_next_responses(0);
    assert_eq!(proxy.stats().cuts, 2, "{:?}", proxy.stats());
}
