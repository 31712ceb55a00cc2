//! HTTP and Prometheus-exposition helpers for the tests of `rkc run`'s metrics endpoint
//! (`/metrics`, the probes, the status page): one plain HTTP/1.1 GET per connection and the
//! exposition parsed by a real Prometheus text parser (`prometheus-parse`), never by string
//! matching.

use std::{
    io::{Read, Write},
    net::SocketAddr,
    time::{Duration, Instant},
};

use prometheus_parse::{Scrape, Value};

use super::RkcProcess;

/// `GET path` from `addr` (HTTP/1.1, `Connection: close`): (status, body); `None` when the
/// endpoint does not answer (not listening yet, or gone).
pub fn try_http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// [`try_http_get`] of an endpoint that must answer.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_http_get(addr, path).unwrap_or_else(|| panic!("no HTTP answer from {addr}{path}"))
}

/// Parses an exposition.
pub fn parse(body: &str) -> Scrape {
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("the exposition parses")
}

/// The value of `metric` with `labels` (a histogram: its count).
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.last().map_or(0.0, |c| c.count),
            Value::Summary(_) => f64::NAN,
        })
}

/// Scrapes rkc's `/metrics` at `addr` (taking in its output meanwhile) until `cond`; fails
/// after 90 s.
pub fn scrape_until(
    p: &mut RkcProcess,
    addr: SocketAddr,
    what: &str,
    cond: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let answer = try_http_get(addr, "/metrics");
        if let Some((200, body)) = &answer {
            let s = parse(body);
            if cond(&s) {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last answer: {answer:?}\n{}",
            p.describe()
        );
        p.observe_for(Duration::from_millis(200));
    }
}
