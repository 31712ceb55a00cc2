//! Alerts against the real broker: `rkc run` with `[[alerts]]`, `[alerting] webhook` (a
//! loopback HTTP server in the test) and `[metrics]`; and the shipped Prometheus rules and
//! Grafana dashboard checked against the exposition of a running `rkc run` (parsed with
//! `prometheus-parse`). confluent-kafka produces.

mod support;

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener},
    path::Path,
    sync::mpsc,
    thread,
    time::Duration,
};

use serde_json::Value;
use support::exposition::{parse, scrape_until, try_http_get, value};
use support::{PeerProcess, RkcProcess, bootstrap, create_topic, produce, repo_root, unique};

// --- HTTP helpers ---

/// A loopback webhook: answers 503 to the first `fail_first` requests, 200 to the rest, and
/// sends every accepted body (parsed as JSON) on the channel.
fn webhook(fail_first: usize) -> (SocketAddr, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut seen = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen += 1;
            assert!(request_line.starts_with("POST /alerts "), "{request_line}");
            let status = if seen <= fail_first {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            if seen > fail_first {
                let _ = tx.send(serde_json::from_slice(&body).expect("a JSON payload"));
            }
        }
    });
    (addr, rx)
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// An `rkc run` configuration: exec handler `command`, metrics on `metrics`, `extra`
/// appended.
fn config(dir: &Path, topic: &str, command: &[&str], metrics: SocketAddr, extra: &str) -> String {
    let text = format!(
        r#"[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "{topic}-g"
"auto.offset.reset" = "earliest"
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
"queued.max.messages.kbytes" = 1
[source]
topics = ["{topic}"]
[handler]
kind = "exec"
command = {command}
timeout = "10m"
[metrics]
listen = "{metrics}"
{extra}
"#,
        bootstrap = bootstrap(),
        command = serde_json::to_string(command).unwrap(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_lag_alert_fires_while_a_backlog_is_held_back_and_resolves_after_catch_up() {
    let topic = unique("alert-lag");
    create_topic(&topic, 1);
    // The runner takes in a few hundred messages and the 1 KiB buffer budget pauses the
    // partition: the rest of the backlog stays behind the position.
    produce(&topic, &["--count", "1000"]);
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    // Every message waits until the gate file exists: the backlog stays behind the position.
    let wait = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; cat >/dev/null",
        gate.display()
    );
    // The first delivery attempt fails: the payload arrives through a retry.
    let (hook, payloads) = webhook(1);
    let metrics = free_addr();
    let file = config(
        dir.path(),
        &topic,
        &["sh", "-c", &wait],
        metrics,
        &format!(
            r#"[[alerts]]
name = "backlog"
kind = "lag"
threshold = 50
for = "1s"
severity = "warning"
[[alerts]]
name = "dlq-circuit"
kind = "circuit_open"
severity = "critical"
[alerting]
webhook = "http://{hook}/alerts"
"#
        ),
    );
    let mut p = RkcProcess::spawn(&["run", "--config", &file]);

    p.wait_until(Duration::from_secs(60), "the lag alert fires", |p| {
        !p.events_of("alert_firing").is_empty()
    });
    let firing = p.events_of("alert_firing")[0].clone();
    assert_eq!(firing["alert"], "backlog", "{firing}");
    assert_eq!(firing["kind"], "lag");
    assert_eq!(firing["severity"], "warning");
    assert_eq!(firing["threshold"], 50.0);
    assert!(firing["value"].as_f64().unwrap() > 50.0, "{firing}");
    assert_eq!(firing["group"], format!("{topic}-g"));
    humantime::parse_rfc3339(firing["since"].as_str().unwrap()).expect("since is RFC 3339");
    let s = scrape_until(&mut p, metrics, "rkc_alert_firing 1", |s| {
        value(s, "rkc_alert_firing", &[("alert", "backlog")]) == Some(1.0)
    });
    assert_eq!(
        value(&s, "rkc_alert_firing", &[("alert", "dlq-circuit")]),
        Some(0.0)
    );
    assert!(
        value(&s, "rkc_partition_lag", &[("topic", &topic)]).unwrap() > 50.0,
        "the backlog is still there"
    );
    let delivered = payloads
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook receives the firing payload");
    assert_eq!(delivered, firing, "the payload is the event");

    std::fs::write(&gate, b"").unwrap();
    p.wait_until(Duration::from_secs(90), "the lag alert resolves", |p| {
        !p.events_of("alert_resolved").is_empty()
    });
    let resolved = p.events_of("alert_resolved")[0].clone();
    assert_eq!(resolved["alert"], "backlog", "{resolved}");
    assert!(resolved["value"].as_f64().unwrap() <= 50.0, "{resolved}");
    assert_eq!(resolved["since"], firing["since"]);
    scrape_until(&mut p, metrics, "rkc_alert_firing 0", |s| {
        value(s, "rkc_alert_firing", &[("alert", "backlog")]) == Some(0.0)
    });
    let delivered = payloads
        .recv_timeout(Duration::from_secs(30))
        .expect("the webhook receives the resolved payload");
    assert_eq!(delivered, resolved);

    // Caught up: the whole backlog processed, and nothing more is reported.
    scrape_until(&mut p, metrics, "everything processed", |s| {
        value(s, "rkc_handler_outcomes_total", &[("outcome", "processed")]) == Some(1000.0)
    });
    p.observe_for(Duration::from_secs(3));
    assert_eq!(p.events_of("alert_firing").len(), 1, "{}", p.describe());
    assert_eq!(p.events_of("alert_resolved").len(), 1, "{}", p.describe());
    assert_eq!(
        p.stderr.matches("alert backlog firing").count(),
        1,
        "one WARN log line per transition\n{}",
        p.describe()
    );
    assert_eq!(p.stderr.matches("alert backlog resolved").count(), 1);
    assert!(
        payloads.recv_timeout(Duration::from_millis(500)).is_err(),
        "no further payloads"
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}

#[test]
fn an_alert_rule_added_by_a_reload_fires_without_a_restart_and_a_kept_rule_stays_firing() {
    let topic = unique("alert-reload");
    create_topic(&topic, 1);
    // As in the test above: the buffer budget keeps most of the backlog behind the position.
    produce(&topic, &["--count", "2000"]);
    let dir = tempfile::tempdir().unwrap();
    let gate = dir.path().join("gate");
    let wait = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; cat >/dev/null",
        gate.display()
    );
    let metrics = free_addr();
    let command = ["sh", "-c", wait.as_str()];
    let backlog = r#"[[alerts]]
name = "backlog"
kind = "lag"
threshold = 50
for = "1s"
"#;
    let file = config(dir.path(), &topic, &command, metrics, backlog);
    let mut p = RkcProcess::spawn(&["run", "--config", &file]);
    p.wait_until(Duration::from_secs(60), "the first rule fires", |p| {
        p.events_of("alert_firing").len() == 1
    });

    // Add a second rule; the first is unchanged.
    let added = format!(
        "{backlog}[[alerts]]\nname = \"backlog-critical\"\nkind = \"lag\"\nthreshold = 10\nfor = \"1s\"\nseverity = \"critical\"\n"
    );
    config(dir.path(), &topic, &command, metrics, &added);
    p.wait_until(Duration::from_secs(30), "the reload", |p| {
        !p.events_of("config_reloaded").is_empty()
    });
    let reloaded = p.events_of("config_reloaded")[0].clone();
    let alert_changes: Vec<&Value> = reloaded["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["key"].as_str().unwrap_or("").starts_with("alerts"))
        .collect();
    assert!(
        !alert_changes.is_empty() && alert_changes.iter().all(|c| c["applied"] == "live"),
        "[[alerts]] is applied live: {reloaded}"
    );
    p.wait_until(Duration::from_secs(30), "the added rule fires", |p| {
        p.events_of("alert_firing")
            .iter()
            .any(|e| e["alert"] == "backlog-critical")
    });
    scrape_until(&mut p, metrics, "both rules on the board", |s| {
        value(s, "rkc_alert_firing", &[("alert", "backlog-critical")]) == Some(1.0)
            && value(s, "rkc_alert_firing", &[("alert", "backlog")]) == Some(1.0)
    });
    assert_eq!(
        p.events_of("alert_firing")
            .iter()
            .filter(|e| e["alert"] == "backlog")
            .count(),
        1,
        "the unchanged rule kept its state: no second firing event\n{}",
        p.describe()
    );
    std::fs::write(&gate, b"").unwrap();
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(60)), 0, "{}", p.describe());
}

/// Runs `openssl ARGS…` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

#[test]
fn alerts_reach_an_https_webhook_that_a_private_ca_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A CA and a leaf certificate for localhost it signed.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rkc-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let leaf = d.join("leaf.pem").display().to_string();
    let key = d.join("leaf.key").display().to_string();
    let mut hook = PeerProcess::spawn("https_webhook.py", &[&leaf, &key]);
    let port = hook.read_json(Duration::from_secs(20))["ready"]
        .as_u64()
        .unwrap();

    let topic = unique("alert-https");
    create_topic(&topic, 1);
    // Not yet in the group at start: fires at the first evaluation, resolves on assignment.
    let file = config(
        d,
        &topic,
        &["sh", "-c", "cat >/dev/null"],
        free_addr(),
        &format!(
            r#"[[alerts]]
name = "unassigned"
kind = "not_in_group"
[alerting]
webhook = "https://localhost:{port}/rkc"
ca_location = "{ca}"
"#,
            ca = d.join("ca.pem").display()
        ),
    );
    let mut p = RkcProcess::spawn(&["run", "--config", &file]);
    p.wait_until(
        Duration::from_secs(60),
        "the alert fires and resolves",
        |p| !p.events_of("alert_resolved").is_empty(),
    );
    let firing = hook.read_json(Duration::from_secs(30));
    assert_eq!(firing["path"], "/rkc");
    assert_eq!(firing["body"], *p.events_of("alert_firing")[0]);
    let resolved = hook.read_json(Duration::from_secs(30));
    assert_eq!(resolved["body"], *p.events_of("alert_resolved")[0]);
    assert_eq!(resolved["body"]["alert"], "unassigned");
    assert!(!p.stderr.contains("webhook failed"), "{}", p.describe());
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}

// --- deploy/ kept in sync with the exposition ---

/// Metric names (`rkc_…`) in a PromQL expression: identifiers outside quoted strings
/// (label values) that start with `rkc_`.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in expr.chars().chain([' ']) {
        if c == '"' {
            quoted = !quoted;
            word.clear();
        } else if quoted {
        } else if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("rkc_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

/// The family a series name belongs to in `exported` (histograms: without `_bucket`,
/// `_sum`, `_count`).
fn family<'a>(name: &'a str, exported: &BTreeSet<String>) -> &'a str {
    if exported.contains(name) {
        return name;
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && exported.contains(base)
        {
            return base;
        }
    }
    name
}

#[test]
fn every_metric_in_the_shipped_prometheus_rules_and_grafana_dashboard_is_exported() {
    let rules = std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap();
    let dashboard =
        std::fs::read_to_string(repo_root().join("deploy/grafana/rkc-dashboard.json")).unwrap();
    // The expressions only: comments and annotations may mention anything.
    let rule_exprs: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr:").map(str::to_owned))
        .collect();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let mut dashboard_exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            dashboard_exprs.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for t in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = t["definition"].as_str() {
            dashboard_exprs.push(q.to_owned());
        }
    }
    assert!(rule_exprs.len() >= 6, "one rule per built-in kind");
    assert!(dashboard_exprs.len() >= 14);

    let topic = unique("alert-names");
    create_topic(&topic, 1);
    produce(&topic, &["--count", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_addr();
    let file = config(
        dir.path(),
        &topic,
        &["sh", "-c", "cat >/dev/null"],
        metrics,
        r#"[[alerts]]
name = "any-lag"
kind = "lag"
threshold = 1000000
"#,
    );
    let mut p = RkcProcess::spawn(&["run", "--config", &file]);
    let mut exported = BTreeSet::new();
    scrape_until(&mut p, metrics, "a stable member that processed", |s| {
        value(s, "rkc_handler_outcomes_total", &[("outcome", "processed")]) == Some(5.0)
            && value(s, "rkc_commits_total", &[]).is_some_and(|c| c >= 1.0)
    });
    // The family names of the exposition (`# TYPE` lines), as a Prometheus server sees them.
    let (_, body) = try_http_get(metrics, "/metrics").expect("a scrape");
    let scrape = parse(&body);
    for s in &scrape.samples {
        exported.insert(s.metric.clone());
    }
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            let kind = rest.split(' ').nth(1).unwrap_or("");
            exported.insert(if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_owned()
            });
        }
    }
    let mut missing = Vec::new();
    for (file, exprs) in [
        ("deploy/prometheus/alerts.yml", &rule_exprs),
        ("deploy/grafana/rkc-dashboard.json", &dashboard_exprs),
    ] {
        let names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
        assert!(!names.is_empty(), "{file} names no metric");
        for name in &names {
            if !exported.contains(family(name, &exported)) {
                missing.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not in the exposition: {missing:?}\nexported: {exported:?}"
    );
    // The tokenizer itself: histogram series map to their family, labels are not names.
    assert_eq!(
        metric_names("rate(rkc_handler_duration_seconds_bucket{x=\"rkc_no\"}[5m]) / rkc_a_1"),
        BTreeSet::from([
            "rkc_a_1".to_owned(),
            "rkc_handler_duration_seconds_bucket".to_owned(),
        ])
    );
    p.signal("TERM");
    assert_eq!(p.wait_exit(Duration::from_secs(30)), 0, "{}", p.describe());
}
