//! Shared test support: the real broker, unique names, peers and the `rkc` binary.
//!
//! The broker comes from `KAFKA_BOOTSTRAP` when set; otherwise `testcontainers/kafka start` is
//! run once per test process (the launcher is idempotent and locked, so parallel test binaries
//! share one broker). Every test names its own topics and groups with [`unique`], so tests run
//! in parallel without seeing each other's data.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod proxy;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Output, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bootstrap string of the test cluster, starting it on first use.
pub fn bootstrap() -> &'static str {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP.get_or_init(|| {
        if let Ok(b) = std::env::var("KAFKA_BOOTSTRAP") {
            if !b.trim().is_empty() {
                return b.trim().to_owned();
            }
        }
        let launcher = repo_root().join("testcontainers/kafka");
        let out = Command::new(&launcher)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher.display()));
        assert!(
            out.status.success(),
            "testcontainers/kafka start failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .last()
            .expect("the launcher prints the bootstrap string last")
            .trim()
            .to_owned()
    })
}

/// A name no other test (or earlier run) uses: `prefix-<pid>-<time>-<n>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Python interpreter that has the peers' packages (`RKC_PYTHON`, default `python3`).
pub fn python() -> String {
    std::env::var("RKC_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs a peer script from `tests/peers/` and returns its output; panics if it fails.
pub fn peer(script: &str, args: &[&str]) -> Output {
    let path = repo_root().join("tests/peers").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "peer {script} {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Creates `topic` with `partitions` partitions through the librdkafka admin peer.
pub fn create_topic(topic: &str, partitions: u32) {
    peer(
        "admin.py",
        &["create", bootstrap(), topic, &partitions.to_string()],
    );
}

/// Path of the `rkc` binary under test.
pub fn rkc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rkc"))
}

/// Runs `rkc` with `args` and returns its output (whatever its exit status).
pub fn rkc(args: &[&str]) -> Output {
    Command::new(rkc_path())
        .args(args)
        .output()
        .expect("cannot run rkc")
}

/// A loopback address where nothing listens: connections are refused at once.
pub fn refused_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    drop(listener);
    addr.to_string()
}

/// A loopback server that accepts connections and never answers: every request stalls.
pub struct StalledBroker {
    addr: SocketAddr,
}

impl StalledBroker {
    /// Starts the server on an ephemeral port; it lives until the test process ends.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Self { addr }
    }

    /// `host:port` of the server.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Peers with JSON output (tests/peers/*.py)
// ---------------------------------------------------------------------------------------------

/// Parses every non-empty line of `out` as JSON (peers print JSON lines); panics otherwise.
pub fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Creates `topic` with `partitions` partitions and topic configs (`"key=value"`).
pub fn create_topic_with_config(topic: &str, partitions: u32, configs: &[&str]) {
    let partitions = partitions.to_string();
    let mut args = vec!["create", bootstrap(), topic, &partitions];
    args.extend_from_slice(configs);
    peer("admin.py", &args);
}

/// Produces with `tests/peers/produce.py BOOTSTRAP TOPIC ARGS…` and returns, in offset order,
/// what `rkc consume` should print for each record (see `tests/peers/rkcjson.py`).
pub fn produce(topic: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec![bootstrap(), topic];
    all.extend_from_slice(args);
    json_lines(&peer("produce.py", &all).stdout)
}

/// Reads `topic` from `tests/peers/consume.py` (librdkafka, assign(), until every partition's
/// EOF) with `args`; returns (messages, events) in the shape `rkc consume` prints.
pub fn librdkafka_consume(topic: &str, args: &[&str]) -> (Vec<Value>, Vec<Value>) {
    let mut all = vec![bootstrap(), topic];
    all.extend_from_slice(args);
    let lines = json_lines(&peer("consume.py", &all).stdout);
    lines.into_iter().partition(|v| v.get("event").is_none())
}

/// Deletes the records of `topic`/`partition` before `offset`; returns the new low watermark.
pub fn delete_records(topic: &str, partition: i32, offset: i64) -> i64 {
    let out = peer(
        "admin.py",
        &[
            "delete-records",
            bootstrap(),
            topic,
            &partition.to_string(),
            &offset.to_string(),
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("delete-records prints JSON");
    v["low_watermark"].as_i64().expect("low_watermark")
}

/// (low, high) watermark of every partition of `topic`, by partition.
pub fn watermarks(topic: &str) -> BTreeMap<i32, (i64, i64)> {
    let out = peer("admin.py", &["watermarks", bootstrap(), topic]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("watermarks prints JSON");
    v.as_object()
        .expect("object")
        .iter()
        .map(|(p, lh)| {
            (
                p.parse().expect("partition"),
                (lh[0].as_i64().unwrap(), lh[1].as_i64().unwrap()),
            )
        })
        .collect()
}

/// Whether the cluster's metadata lists `topic` (asked through librdkafka's AdminClient).
pub fn topic_exists(topic: &str) -> bool {
    let out = peer("admin.py", &["exists", bootstrap(), topic]);
    serde_json::from_slice::<Value>(&out.stdout).expect("exists prints JSON") == Value::Bool(true)
}

/// `host:port` of the leader of `topic`/`partition`.
pub fn partition_leader(topic: &str, partition: i32) -> String {
    let out = peer(
        "admin.py",
        &["leader", bootstrap(), topic, &partition.to_string()],
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("leader prints JSON");
    format!("{}:{}", v["host"].as_str().unwrap(), v["port"])
}

/// A running peer script whose stdout is read line by line and whose stdin can be written;
/// killed when dropped.
pub struct PeerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    name: String,
}

impl PeerProcess {
    /// Starts `tests/peers/SCRIPT ARGS…`; its stderr is collected for failure messages.
    pub fn spawn(script: &str, args: &[&str]) -> PeerProcess {
        let path = repo_root().join("tests/peers").join(script);
        let mut child = Command::new(python())
            .arg(&path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut buf = Vec::new();
            while let Ok(n) = reader.read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf));
                buf.clear();
            }
        });
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        PeerProcess {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            name: format!("{script} {args:?}"),
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line, parsed as JSON; panics after `timeout` or if the peer ended.
    pub fn read_json(&mut self, timeout: Duration) -> Value {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("peer {} printed non-JSON ({e}): {line}", self.name)),
            Err(RecvTimeoutError::Timeout) => panic!(
                "peer {} printed nothing within {timeout:?}; stderr:\n{}",
                self.name,
                self.stderr_text()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "peer {} ended without printing; stderr:\n{}",
                self.name,
                self.stderr_text()
            ),
        }
    }

    /// Writes `line` and a newline to the peer's stdin.
    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to peer");
        stdin.flush().expect("flush peer stdin");
    }

    /// Waits (bounded) for the peer to exit and asserts it succeeded.
    pub fn wait_success(&mut self, timeout: Duration) {
        self.stdin.take();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("peer wait") {
                assert!(
                    status.success(),
                    "peer {} failed: {status}; stderr:\n{}",
                    self.name,
                    self.stderr_text()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "peer {} still running after {timeout:?}; stderr:\n{}",
                self.name,
                self.stderr_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// rkc as a child process, with hard timeouts
// ---------------------------------------------------------------------------------------------

/// What a finished `rkc` run printed: stdout lines are messages (every one must be a JSON
/// object); stderr lines that are JSON objects with an `"event"` key are events, other stderr
/// lines (logs) are only kept in `stderr`.
#[derive(Debug)]
pub struct RkcOutput {
    pub code: i32,
    pub messages: Vec<Value>,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl RkcOutput {
    /// Events whose `"event"` is `kind` (`"partition_eof"`, `"error"`).
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }
}

/// Runs `rkc ARGS…`, kills it after `timeout` and then fails the test with its stderr.
pub fn rkc_run(args: &[&str], timeout: Duration) -> RkcOutput {
    let mut p = RkcProcess::spawn(args);
    let code = p.wait_exit(timeout);
    RkcOutput {
        code,
        messages: std::mem::take(&mut p.messages),
        events: std::mem::take(&mut p.events),
        stderr: std::mem::take(&mut p.stderr),
    }
}

enum RkcLine {
    Stdout(String),
    Stderr(String),
    StdoutClosed,
    StderrClosed,
}

/// A running `rkc` whose output is parsed as it arrives (see [`RkcOutput`] for the rules);
/// killed when dropped. Every wait is bounded and fails the test with rkc's stderr.
pub struct RkcProcess {
    child: Child,
    lines: Receiver<RkcLine>,
    open_streams: u8,
    exit: Option<i32>,
    args: Vec<String>,
    /// Messages printed so far (stdout), in order.
    pub messages: Vec<Value>,
    /// Events printed so far (stderr), in order.
    pub events: Vec<Value>,
    /// All of stderr so far.
    pub stderr: String,
}

impl RkcProcess {
    /// Starts `rkc ARGS…` with stdin closed.
    pub fn spawn(args: &[&str]) -> RkcProcess {
        let mut child = Command::new(rkc_path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run rkc");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(RkcLine::Stdout(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(RkcLine::StdoutClosed);
        });
        thread::spawn(move || {
            // Lossy: a log line that is not UTF-8 must not end the reading.
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                        if tx2.send(RkcLine::Stderr(line)).is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = tx2.send(RkcLine::StderrClosed);
        });
        RkcProcess {
            child,
            lines,
            open_streams: 2,
            exit: None,
            args: args.iter().map(|s| s.to_string()).collect(),
            messages: Vec::new(),
            events: Vec::new(),
            stderr: String::new(),
        }
    }

    /// Events whose `"event"` is `kind`.
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }

    /// `partition_eof` events of `topic`/`partition`, as their offsets, in order.
    pub fn eofs(&self, topic: &str, partition: i64) -> Vec<i64> {
        eof_offsets(&self.events, topic, partition)
    }

    /// A description for failure messages: arguments, counts, the end of stderr.
    pub fn describe(&self) -> String {
        let tail: String = {
            let chars: Vec<char> = self.stderr.chars().collect();
            chars[chars.len().saturating_sub(6000)..].iter().collect()
        };
        format!(
            "rkc {:?}\nexit: {:?}; {} messages, events: {}\n--- stderr (end) ---\n{tail}",
            self.args,
            self.exit,
            self.messages.len(),
            serde_json::to_string(&self.events).unwrap_or_default()
        )
    }

    fn take(&mut self, line: RkcLine) {
        match line {
            RkcLine::Stdout(l) => {
                if l.trim().is_empty() {
                    return;
                }
                match serde_json::from_str::<Value>(&l) {
                    Ok(v) if v.is_object() => self.messages.push(v),
                    _ => panic!(
                        "rkc printed a stdout line that is not a JSON object: {l:?}\n{}",
                        self.describe()
                    ),
                }
            }
            RkcLine::Stderr(l) => {
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    if v.get("event").is_some() {
                        self.events.push(v);
                    }
                }
                self.stderr.push_str(&l);
                self.stderr.push('\n');
            }
            RkcLine::StdoutClosed | RkcLine::StderrClosed => self.open_streams -= 1,
        }
    }

    /// Takes in what arrives until `deadline`, or returns false at once when both streams
    /// are closed and nothing is left.
    fn pump_until(&mut self, deadline: Instant) -> bool {
        if self.open_streams == 0 {
            return false;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => {
                self.take(line);
                true
            }
            Err(_) => false,
        }
    }

    fn poll_exit(&mut self) -> Option<i32> {
        if self.exit.is_none() {
            if let Some(status) = self.child.try_wait().expect("wait for rkc") {
                self.exit = Some(status.code().unwrap_or(-1));
            }
        }
        self.exit
    }

    /// Takes in output until `cond` holds; fails the test after `timeout`, or if rkc ended
    /// first. `what` names the condition in the failure message.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&RkcProcess) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            if cond(self) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {timeout:?} waiting for: {what}\n{}",
                    self.describe()
                );
            }
            let step = (Instant::now() + Duration::from_millis(100)).min(deadline);
            if !self.pump_until(step) && self.open_streams == 0 {
                // Both streams closed and drained: nothing more can arrive.
                if cond(self) {
                    return;
                }
                let _ = self.child.wait();
                self.poll_exit();
                panic!("rkc ended before: {what}\n{}", self.describe());
            }
        }
    }

    /// Takes in whatever arrives during `duration` (to assert that something does NOT
    /// happen: more events, more messages). Returns early if rkc ended.
    pub fn observe_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if !self.pump_until(deadline) && self.open_streams == 0 {
                return;
            }
        }
    }

    /// Waits for rkc to exit and its output to be read completely; returns the exit code
    /// (-1 if killed by a signal). Kills it and fails the test after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if self.open_streams > 0 {
                self.pump_until((Instant::now() + Duration::from_millis(50)).min(deadline));
            } else if let Some(code) = self.poll_exit() {
                return code;
            } else {
                thread::sleep(Duration::from_millis(10));
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let drain_deadline = Instant::now() + Duration::from_secs(2);
                while self.pump_until(drain_deadline) {}
                panic!(
                    "rkc did not exit within {timeout:?}; killed\n{}",
                    self.describe()
                );
            }
        }
    }
}

impl Drop for RkcProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Looking at printed messages and events
// ---------------------------------------------------------------------------------------------

/// (partition, offset) of a printed message.
pub fn position(m: &Value) -> (i64, i64) {
    (
        m["partition"].as_i64().expect("partition"),
        m["offset"].as_i64().expect("offset"),
    )
}

/// Offsets of the messages of `partition`, in printed order.
pub fn offsets_of(messages: &[Value], partition: i64) -> Vec<i64> {
    messages
        .iter()
        .filter(|m| m["partition"].as_i64() == Some(partition))
        .map(|m| m["offset"].as_i64().expect("offset"))
        .collect()
}

/// Offsets of the `partition_eof` events of `topic`/`partition`, in printed order.
pub fn eof_offsets(events: &[Value], topic: &str, partition: i64) -> Vec<i64> {
    events
        .iter()
        .filter(|e| {
            e["event"] == "partition_eof"
                && e["topic"] == topic
                && e["partition"].as_i64() == Some(partition)
        })
        .map(|e| e["offset"].as_i64().expect("eof offset"))
        .collect()
}

/// Asserts that per topic and partition the printed offsets strictly increase (no
/// duplicates, no going back).
pub fn assert_offsets_increase(messages: &[Value]) {
    let mut last: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for m in messages {
        let (p, o) = position(m);
        let t = m["topic"].as_str().expect("topic").to_owned();
        if let Some(prev) = last.insert((t.clone(), p), o) {
            assert!(o > prev, "{t} [{p}]: offset {o} printed after {prev}");
        }
    }
}
