//! The status page (`GET /` of `[metrics] listen`) in a real headless browser: Chromium from
//! Debian's packages loads it from a running `rkc run` against the real broker, runs its
//! JavaScript, and the DOM it leaves must show the live numbers (checked against a Prometheus
//! scrape of the same process). A screenshot is kept in `target/test-artifacts/`.
//!
//! Skipped, saying so, only when `chromium` is not installed (`.ci/run` installs it).

mod support;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus_parse::Scrape;
use rskafka_consumer::observe::{Observer, page::INDEX_HTML};
use support::exposition::{http_get, scrape_until, value};
use support::{RkcProcess, bootstrap, create_topic, produce, repo_root, unique};

// --- the browser ---

/// The Chromium binary, if installed.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` with `args` (a private profile, no sandbox: tests may run
/// as root in a container).
fn run_chromium(chromium: &Path, url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("a UTF-8 DOM")
}

/// The DOM after the page's scripts ran for `virtual_ms` of (virtual) time.
fn dump_dom(chromium: &Path, url: &str, virtual_ms: u32) -> String {
    run_chromium(
        chromium,
        url,
        &[&format!("--virtual-time-budget={virtual_ms}"), "--dump-dom"],
    )
}

/// A 1280×900 screenshot of `url` into `path`.
fn screenshot(chromium: &Path, url: &str, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    run_chromium(
        chromium,
        url,
        &[
            "--virtual-time-budget=5000",
            "--window-size=1280,900",
            &format!("--screenshot={}", path.display()),
        ],
    );
    let png = std::fs::read(path).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
}

// --- reading the DOM (Chromium serializes it canonically: attributes quoted with ") ---

/// Text content of an HTML fragment: tags dropped, the few entities Chromium writes decoded.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The text of the element with `id` (one without nested elements of its own kind).
fn text_of(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element #{id} in\n{dom}"));
    let open_end = start + dom[start..].find('>').unwrap() + 1;
    let close = open_end + dom[open_end..].find("</").unwrap();
    strip_tags(&dom[open_end..close])
}

/// The body rows of the table with `id`, each as its cells' texts.
fn rows_of(dom: &str, id: &str) -> Vec<Vec<String>> {
    let start = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no table #{id} in\n{dom}"));
    let table = &dom[start..start + dom[start..].find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").expect("a tbody")..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            row.split(['<'])
                .filter(|part| part.starts_with("td") || part.starts_with("th"))
                .map(|cell| strip_tags(&format!("<{cell}")))
                .collect()
        })
        .collect()
}

/// Every `src=`/`href=` value and every `http://`/`https://` occurrence in `html`.
fn external_references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=", "href=", "http://", "https://", "url(", "@import"] {
        let mut at = 0;
        while let Some(i) = html[at..].find(attr) {
            let i = at + i;
            found.push(html[i..(i + 60).min(html.len())].to_owned());
            at = i + attr.len();
        }
    }
    found
}

// --- HTTP and the exposition ---

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn artifacts() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from)
        .join("test-artifacts")
}

/// The exec handler: the message at partition 0 offset POISON fails for good (its stderr
/// line is the error text); every other message is processed.
const HANDLER: &str = r#"#!/bin/sh
cat >/dev/null
if [ "$RKC_PARTITION" = 0 ] && [ "$RKC_OFFSET" = "$1" ]; then
  echo "poison pill at offset $RKC_OFFSET: cannot parse the order" >&2
  exit 1
fi
exit 0
"#;

#[test]
fn the_status_page_shows_the_live_group_partitions_dlq_and_last_error_in_headless_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let topic = unique("page");
    let group = format!("{topic}-g");
    create_topic(&topic, 2);
    create_topic(&format!("{topic}.dlq"), 1);
    produce(&topic, &["--partition", "0", "--count", "25"]);
    produce(&topic, &["--partition", "1", "--count", "12"]);
    let dir = tempfile::tempdir().unwrap();
    let handler = dir.path().join("handler.sh");
    std::fs::write(&handler, HANDLER).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{group}"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = ["sh", "{handler}", "7"]
[metrics]
listen = "{addr}"
"#,
            bootstrap = bootstrap(),
            handler = handler.display(),
        ),
    )
    .unwrap();
    let mut p = RkcProcess::spawn(&["run", "--config", config.to_str().unwrap()]);
    let committed = |s: &Scrape, partition: &str| {
        value(
            s,
            "rkc_partition_committed_offset",
            &[("topic", &topic), ("partition", partition)],
        )
    };
    let scrape = scrape_until(&mut p, addr, "the backlog committed", |s| {
        committed(s, "0") == Some(25.0) && committed(s, "1") == Some(12.0)
    });
    let g = [("group", group.as_str())];
    assert_eq!(value(&scrape, "rkc_dlq_records_total", &g), Some(1.0));
    let generation = value(&scrape, "rkc_group_generation", &g).expect("a generation");

    // The raw page: self-contained.
    let (status, html) = http_get(addr, "/");
    assert_eq!(status, 200);
    assert_eq!(external_references(&html), Vec::<String>::new());

    let url = format!("http://{addr}/");
    let dom = dump_dom(&chromium, &url, 5000);
    assert!(
        dom.contains(r#"data-loaded="true""#),
        "the page rendered a snapshot:\n{dom}"
    );
    assert_eq!(text_of(&dom, "group-id"), group);
    assert_eq!(text_of(&dom, "group-state"), "stable");
    assert_eq!(text_of(&dom, "group-generation"), format!("{generation}"));
    let member = text_of(&dom, "group-member");
    assert!(member.len() > 8 && member != "–", "a member id: {member}");
    assert_eq!(text_of(&dom, "group-assigned"), "2");
    assert_eq!(text_of(&dom, "dlq-count"), "1");
    assert_eq!(text_of(&dom, "retries"), "0");
    assert_eq!(text_of(&dom, "circuit"), "closed");
    assert_eq!(text_of(&dom, "lag"), "0");
    assert!(text_of(&dom, "freshness").starts_with("Live"), "{dom}");

    // Topic, partition, position, committed, end, lag, committed lag, records/s, paused.
    let rows = rows_of(&dom, "partitions");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (row, (partition, count)) in rows.iter().zip([(0, 25), (1, 12)]) {
        let scraped = |metric: &str| {
            value(
                &scrape,
                metric,
                &[("topic", &topic), ("partition", &partition.to_string())],
            )
            .map(|v| format!("{v}"))
        };
        assert_eq!(row[0], topic);
        assert_eq!(row[1], partition.to_string());
        assert_eq!(row[2], count.to_string(), "position: {row:?}");
        assert_eq!(row[3], count.to_string(), "committed: {row:?}");
        assert_eq!(
            Some(&row[3]),
            scraped("rkc_partition_committed_offset").as_ref()
        );
        assert_eq!(row[4], count.to_string(), "end offset: {row:?}");
        assert_eq!(row[5], "0", "lag: {row:?}");
        assert_eq!(row[6], "0", "committed lag: {row:?}");
        assert_eq!(row[8], "no", "paused: {row:?}");
    }

    let errors = rows_of(&dom, "errors");
    assert!(!errors.is_empty(), "an error row");
    assert_eq!(errors[0][1], "handler", "{errors:?}");
    assert_eq!(errors[0][2], format!("{topic} [0] @7"), "{errors:?}");
    assert!(
        errors[0][3].contains("poison pill at offset 7: cannot parse the order"),
        "the last error's text: {errors:?}"
    );
    let alerts = rows_of(&dom, "alerts");
    assert_eq!(alerts, vec![vec!["No alert is firing.".to_owned()]]);
    assert_eq!(
        external_references(&dom),
        Vec::<String>::new(),
        "in the DOM"
    );

    let png = artifacts().join("status-page.png");
    screenshot(&chromium, &url, &png);
    eprintln!("screenshot: {}", png.display());

    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}

/// The page says its data is stale once the process stops answering: served here by a
/// stand-in whose `/api/status` answers once and then fails.
#[test]
fn the_status_page_marks_its_data_stale_when_the_process_stops_answering() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let observer = Arc::new(Observer::new());
    let counter = Arc::clone(&served);
    let router = Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], INDEX_HTML) }),
        )
        .route(
            "/api/status",
            get(move || {
                let observer = Arc::clone(&observer);
                let counter = Arc::clone(&counter);
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        axum::Json(observer.statistics()).into_response()
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                }
            }),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, router).await });

    let dom = dump_dom(&chromium, &format!("http://{addr}/"), 12_000);
    assert!(served.load(Ordering::SeqCst) >= 2, "the page refreshed");
    assert!(dom.contains(r#"data-loaded="true""#), "{dom}");
    assert!(
        dom.contains(r#"class="stale""#),
        "the body is marked stale:\n{dom}"
    );
    let freshness = text_of(&dom, "freshness");
    assert!(
        freshness.starts_with("Stale: no answer from the consumer since"),
        "{freshness}"
    );
    assert_eq!(
        text_of(&dom, "group-id"),
        "(no group)",
        "the last data stays shown"
    );
}
