//! The status page's routes and the error ring behind its "recent errors" table.

use std::{sync::Arc, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    TopicPartition,
    hooks::{ErrorKind, ErrorReport, Hooks},
    observe::{ERROR_RING, FiringAlert, MAX_ERROR_TEXT, Metrics, Observer, server},
};

fn handler_error(observer: &Observer, offset: i64, message: &str) {
    let tp = TopicPartition {
        topic: "orders".into(),
        partition: 2,
    };
    observer.on_error(&ErrorReport {
        kind: ErrorKind::Handler,
        partition: Some(&tp),
        offset: Some(offset),
        broker: None,
        message: &message,
    });
}

/// `GET path` from a router served on a loopback port: (status line, headers, body).
async fn get(observer: Arc<Observer>, path: &str) -> (String, String, String) {
    let state = server::ServerState {
        metrics: Arc::new(Metrics::new(Arc::clone(&observer))),
        observer,
        startup_grace: Duration::ZERO,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(server::serve(
        listener,
        server::router(state),
        std::future::pending(),
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    task.abort();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        body.to_owned(),
    )
}

#[test]
fn the_error_ring_keeps_the_newest_events_first_and_bounded() {
    let observer = Observer::new();
    for offset in 0..(ERROR_RING as i64 + 5) {
        handler_error(&observer, offset, &format!("rejected {offset}"));
    }
    let errors = observer.statistics().errors;
    assert_eq!(errors.len(), ERROR_RING);
    assert_eq!(errors[0].offset, Some(ERROR_RING as i64 + 4));
    assert_eq!(errors[0].message, format!("rejected {}", ERROR_RING + 4));
    assert_eq!(errors[0].kind, "handler");
    assert_eq!(errors[0].topic.as_deref(), Some("orders"));
    assert_eq!(errors[0].partition, Some(2));
    assert_eq!(
        errors.last().unwrap().offset,
        Some(5),
        "the oldest went first"
    );
}

#[test]
fn an_overlong_error_text_is_cut() {
    let observer = Observer::new();
    handler_error(&observer, 1, &"é".repeat(MAX_ERROR_TEXT * 3));
    let message = &observer.statistics().errors[0].message;
    assert_eq!(message.chars().count(), MAX_ERROR_TEXT + 1);
    assert!(message.ends_with('…'));
}

#[tokio::test]
async fn the_page_is_one_self_contained_html_document() {
    let (status, headers, body) = get(Arc::new(Observer::new()), "/").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(body.starts_with("<!DOCTYPE html>"));
    assert!(body.contains("<style>") && body.contains("<script>"));
    for external in ["http://", "https://", "src=", "href=", "@import", "url("] {
        assert!(!body.contains(external), "the page references {external}");
    }
    assert!(body.contains(r#"fetch("api/status""#), "relative data URL");
}

#[tokio::test]
async fn api_status_serves_the_snapshot_with_errors_and_firing_alerts() {
    let observer = Arc::new(Observer::new());
    handler_error(&observer, 7, "rejected 7");
    observer.set_firing_alerts(vec![FiringAlert {
        name: "lag".into(),
        severity: "warning".into(),
        since_ms: 1,
        summary: "lag 500 > 100 for 1m".into(),
    }]);
    let (status, headers, body) = get(observer, "/api/status").await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(headers.contains("application/json"), "{headers}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["errors"][0]["message"], "rejected 7");
    assert_eq!(json["errors"][0]["offset"], 7);
    assert_eq!(json["alerts"][0]["name"], "lag");
    assert_eq!(json["runner"]["circuit"], "closed");
    assert!(json["partitions"].as_array().unwrap().is_empty());
}
