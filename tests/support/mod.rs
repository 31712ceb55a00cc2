//! Shared test support: the real broker, unique names, peers and the `rkc` binary.
//!
//! The broker comes from `KAFKA_BOOTSTRAP` when set; otherwise `testcontainers/kafka start` is
//! run once per test process (the launcher is idempotent and locked, so parallel test binaries
//! share one broker). Every test names its own topics and groups with [`unique`], so tests run
//! in parallel without seeing each other's data.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod exposition;
pub mod fault;
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
        if let Ok(b) = std::env::var("KAFKA_BOOTSTRAP")
            && !b.trim().is_empty()
        {
            return b.trim().to_owned();
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
        RkcProcess::spawn_with_env(args, &[])
    }

    /// Starts `rkc ARGS…` with stdin closed and `env` (`(name, value)`) added to its
    /// environment (for example `RKC_LOG` to read its debug logs).
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> RkcProcess {
        let mut child = Command::new(rkc_path())
            .args(args)
            .envs(env.iter().copied())
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
                if let Ok(v) = serde_json::from_str::<Value>(&l)
                    && v.get("event").is_some()
                {
                    self.events.push(v);
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
        if self.exit.is_none()
            && let Some(status) = self.child.try_wait().expect("wait for rkc")
        {
            self.exit = Some(status.code().unwrap_or(-1));
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

// ---------------------------------------------------------------------------------------------
// Consumer groups: librdkafka group members (tests/peers/group_member.py), our library
// consumer with its rebalance events recorded, and what the group looks like from the outside
// ---------------------------------------------------------------------------------------------

/// Wall-clock seconds since the epoch, comparable with the `"ts"` the group peers print.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl PeerProcess {
    /// The next stdout line parsed as JSON if one arrives within `timeout`; `None` on timeout
    /// or when the peer's stdout is closed (see [`PeerProcess::ended`]).
    pub fn try_json(&mut self, timeout: Duration) -> Option<Value> {
        let line = if timeout.is_zero() {
            self.lines.try_recv().ok()?
        } else {
            self.lines.recv_timeout(timeout).ok()?
        };
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("peer {} printed non-JSON ({e}): {line}", self.name)),
        )
    }

    /// Whether the peer process has exited.
    pub fn ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The peer's stderr so far (for failure messages).
    pub fn stderr_so_far(&self) -> String {
        self.stderr_text()
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `(topic, partition)` pairs of a group event's `"partitions"`, in either shape: the peers'
/// `[[topic, p], …]` or rkc's `[{"topic", "partition"}, …]`.
pub fn event_partitions(event: &Value) -> Vec<(String, i32)> {
    event["partitions"]
        .as_array()
        .unwrap_or_else(|| panic!("event without partitions: {event}"))
        .iter()
        .map(|p| match p {
            Value::Array(tp) => (
                tp[0].as_str().expect("topic").to_owned(),
                tp[1].as_i64().expect("partition") as i32,
            ),
            obj => (
                obj["topic"].as_str().expect("topic").to_owned(),
                obj["partition"].as_i64().expect("partition") as i32,
            ),
        })
        .collect()
}

/// The assignment that `events` (assigned / revoked / lost, in order, either shape) leave.
pub fn owned_after(events: &[Value]) -> std::collections::BTreeSet<(String, i32)> {
    let mut owned = std::collections::BTreeSet::new();
    for e in events {
        match e["event"].as_str() {
            Some("assigned") => owned.extend(event_partitions(e)),
            Some("revoked") | Some("lost") => {
                for tp in event_partitions(e) {
                    owned.remove(&tp);
                }
            }
            _ => {}
        }
    }
    owned
}

/// Whether the members' assignments (each a set of `(topic, partition)`) are disjoint, cover
/// every partition `0..partitions` of `topic` and nothing else, and none is empty.
pub fn disjoint_and_complete(
    assignments: &[&std::collections::BTreeSet<(String, i32)>],
    topic: &str,
    partitions: i32,
) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    for a in assignments {
        if a.is_empty() {
            return false;
        }
        for (t, p) in a.iter() {
            if t != topic || !seen.insert(*p) {
                return false;
            }
        }
    }
    seen.len() == partitions as usize && seen.iter().all(|p| (0..partitions).contains(p))
}

/// Just the partition numbers of an assignment.
pub fn partition_numbers(set: &std::collections::BTreeSet<(String, i32)>) -> Vec<i32> {
    set.iter().map(|(_, p)| *p).collect()
}

/// A librdkafka consumer-group member (`tests/peers/group_member.py`): its printed lines are
/// taken in as they arrive and its assignment is tracked from its rebalance callbacks.
pub struct GroupPeer {
    pub process: PeerProcess,
    /// Every line printed so far, in order.
    pub lines: Vec<Value>,
    /// The assignment its assigned / revoked / lost callbacks leave.
    pub owned: std::collections::BTreeSet<(String, i32)>,
    closed: bool,
}

impl GroupPeer {
    /// Starts `group_member.py BOOTSTRAP GROUP TOPICS STRATEGY EXTRA…` (`topics`
    /// comma-separated; see the script for `extra`).
    pub fn spawn(group: &str, topics: &str, strategy: &str, extra: &[&str]) -> GroupPeer {
        let mut args = vec![bootstrap(), group, topics, strategy];
        args.extend_from_slice(extra);
        GroupPeer {
            process: PeerProcess::spawn("group_member.py", &args),
            lines: Vec::new(),
            owned: std::collections::BTreeSet::new(),
            closed: false,
        }
    }

    fn take(&mut self, v: Value) {
        match v["event"].as_str() {
            Some("assigned") => self.owned.extend(event_partitions(&v)),
            Some("revoked") | Some("lost") => {
                for tp in event_partitions(&v) {
                    self.owned.remove(&tp);
                }
            }
            Some("closed") => self.closed = true,
            _ => {}
        }
        self.lines.push(v);
    }

    /// Takes in every line already printed, without waiting.
    pub fn pump(&mut self) {
        while let Some(v) = self.process.try_json(Duration::ZERO) {
            self.take(v);
        }
    }

    /// Takes in lines for `duration` (blocking).
    pub fn pump_for(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.pump();
                return;
            }
            match self.process.try_json(left.min(Duration::from_millis(50))) {
                Some(v) => self.take(v),
                None if self.process.ended() => {
                    self.pump();
                    return;
                }
                None => {}
            }
        }
    }

    /// Takes in lines until `cond` holds (blocking); fails the test after `timeout`.
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut cond: impl FnMut(&GroupPeer) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if cond(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for the librdkafka member: {what}\n{}",
                self.describe()
            );
            if let Some(v) = self.process.try_json(Duration::from_millis(50)) {
                self.take(v);
            }
        }
    }

    /// Lines whose `"event"` is `kind`.
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.lines.iter().filter(|e| e["event"] == kind).collect()
    }

    /// Rebalance events (assigned / revoked / lost), in order.
    pub fn rebalance_events(&self) -> Vec<&Value> {
        self.lines
            .iter()
            .filter(|e| matches!(e["event"].as_str(), Some("assigned" | "revoked" | "lost")))
            .collect()
    }

    /// `(partition, offset)` of every message consumed so far, in order.
    pub fn messages(&self) -> Vec<(i32, i64)> {
        self.lines
            .iter()
            .filter(|e| e["event"] == "message")
            .map(|e| {
                (
                    e["partition"].as_i64().expect("partition") as i32,
                    e["offset"].as_i64().expect("offset"),
                )
            })
            .collect()
    }

    /// Whether it printed `{"event":"closed"}` (close() returned).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Lines and stderr, for failure messages.
    pub fn describe(&self) -> String {
        let lines: Vec<String> = self
            .lines
            .iter()
            .filter(|l| l["event"] != "message")
            .map(|l| l.to_string())
            .collect();
        format!(
            "librdkafka member: {} lines ({} messages), owns {:?}\nnon-message lines:\n{}\n--- stderr ---\n{}",
            self.lines.len(),
            self.messages().len(),
            self.owned,
            lines.join("\n"),
            self.process.stderr_so_far()
        )
    }

    /// Asks it to close (stdin "stop"); does not wait.
    pub fn request_stop(&mut self) {
        if !self.process.ended() {
            let _ = self
                .process
                .stdin
                .as_mut()
                .map(|s| writeln!(s, "stop").and(s.flush()));
        }
    }

    /// Asks it to close, waits (bounded) for `{"event":"closed"}` and a successful exit.
    pub fn stop(&mut self, timeout: Duration) {
        self.request_stop();
        self.wait_until(timeout, "closed", |p| p.closed());
        self.process.wait_success(timeout);
        self.pump();
    }
}

/// `tests/peers/group_admin.py describe`: the group's state, protocol and members as
/// librdkafka's AdminClient reports them.
pub fn describe_group(group: &str) -> Value {
    let out = peer("group_admin.py", &["describe", bootstrap(), group]);
    serde_json::from_slice(&out.stdout).expect("describe prints JSON")
}

/// The group's committed offsets by partition of `topic` (AdminClient).
pub fn group_offsets(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    group_offsets_at(bootstrap(), group, topic)
}

/// A producer writing to every partition of a topic in turn (`produce_steady.py`) until
/// [`SteadyProducer::finish`].
pub struct SteadyProducer {
    process: PeerProcess,
}

impl SteadyProducer {
    /// One record per partition of `topic` (`partitions` of them) every `interval`.
    pub fn start(topic: &str, partitions: i32, interval: Duration) -> SteadyProducer {
        SteadyProducer::start_at(bootstrap(), topic, partitions, interval)
    }

    /// [`SteadyProducer::start`] against the cluster at `bootstrap`.
    pub fn start_at(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        interval: Duration,
    ) -> SteadyProducer {
        SteadyProducer {
            process: PeerProcess::spawn(
                "produce_steady.py",
                &[
                    bootstrap,
                    topic,
                    &partitions.to_string(),
                    &interval.as_millis().to_string(),
                ],
            ),
        }
    }

    /// Stops producing, waits for every delivery; returns the next offset (one past the last
    /// record written) of each partition.
    pub fn finish(mut self) -> BTreeMap<i32, i64> {
        self.process.send_line("stop");
        // After broker restarts the last deliveries may wait for partitions' ISRs (flush: 90 s).
        let v = self.process.read_json(Duration::from_secs(100));
        self.process.wait_success(Duration::from_secs(10));
        assert_eq!(v["failed"], serde_json::json!([]), "deliveries failed: {v}");
        v["next"]
            .as_object()
            .expect("next")
            .iter()
            .map(|(p, o)| (p.parse().expect("partition"), o.as_i64().expect("offset")))
            .collect()
    }
}

impl RkcProcess {
    /// The process id of `rkc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a `kill` name: `TERM`, `INT`, `KILL`, …) to `rkc`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    /// The assignment its assigned / revoked / lost events leave so far.
    pub fn owned(&self) -> std::collections::BTreeSet<(String, i32)> {
        owned_after(&self.events)
    }
}

/// Our library consumer in a group, with every rebalance callback recorded (with the time it
/// ran on the group task) and every event it returns from `poll_event` taken in.
pub struct OurMember {
    pub name: String,
    pub consumer: rskafka_consumer::Consumer,
    pub listener: Arc<RecordingListener>,
    /// Rebalance events returned by `poll_event`, as JSON lines in the peers' shape
    /// (`{"event","partitions":[[t,p],…],"ts"}`), in order.
    pub events: Vec<Value>,
    /// `(partition, offset, ts)` of every message returned, in order.
    pub messages: Vec<(i32, i64, f64)>,
    /// Errors returned in line, as text.
    pub errors: Vec<String>,
    /// The assignment its returned events leave.
    pub owned: std::collections::BTreeSet<(String, i32)>,
}

/// A [`rskafka_consumer::group::member::RebalanceListener`] that records every call with the
/// wall-clock time, in the peers' JSON shape.
#[derive(Default)]
pub struct RecordingListener {
    pub log: Mutex<Vec<Value>>,
}

impl RecordingListener {
    fn record(&self, kind: &str, partitions: &[rskafka_consumer::TopicPartition]) {
        let tps: Vec<Value> = partitions
            .iter()
            .map(|tp| serde_json::json!([&*tp.topic, tp.partition]))
            .collect();
        self.log.lock().unwrap().push(serde_json::json!({
            "event": kind, "partitions": tps, "ts": now_secs()
        }));
    }

    /// The calls so far.
    pub fn calls(&self) -> Vec<Value> {
        self.log.lock().unwrap().clone()
    }
}

impl rskafka_consumer::group::member::RebalanceListener for RecordingListener {
    fn on_assigned(&self, partitions: &[rskafka_consumer::TopicPartition]) {
        self.record("assigned", partitions);
    }
    fn on_revoked(&self, partitions: &[rskafka_consumer::TopicPartition]) {
        self.record("revoked", partitions);
    }
    fn on_lost(&self, partitions: &[rskafka_consumer::TopicPartition]) {
        self.record("lost", partitions);
    }
}

/// A consumer config for group tests: `group.id`, earliest, session 6 s, heartbeat 0.5 s,
/// then `extra` (`key=value`, later wins).
pub fn group_config(group: &str, extra: &[&str]) -> rskafka_consumer::ConsumerConfig {
    let mut config = rskafka_consumer::ConsumerConfig::new(bootstrap()).unwrap();
    let base = [
        format!("group.id={group}"),
        "auto.offset.reset=earliest".into(),
        "session.timeout.ms=6000".into(),
        "heartbeat.interval.ms=500".into(),
    ];
    config
        .apply_pairs(base.iter().map(String::as_str).chain(extra.iter().copied()))
        .unwrap();
    config
}

impl OurMember {
    /// Creates the consumer with `config` (not subscribed yet).
    pub async fn with_config(name: &str, config: rskafka_consumer::ConsumerConfig) -> OurMember {
        OurMember {
            name: name.to_owned(),
            consumer: rskafka_consumer::Consumer::new(config).await.unwrap(),
            listener: Arc::new(RecordingListener::default()),
            events: Vec::new(),
            messages: Vec::new(),
            errors: Vec::new(),
            owned: std::collections::BTreeSet::new(),
        }
    }

    /// Creates the consumer ([`group_config`]) and subscribes to `topics` with the recording
    /// listener.
    pub async fn start(name: &str, group: &str, topics: &[&str], extra: &[&str]) -> OurMember {
        let m = OurMember::with_config(name, group_config(group, extra)).await;
        m.subscribe(topics);
        m
    }

    /// Subscribes to `topics` with the recording listener.
    pub fn subscribe(&self, topics: &[&str]) {
        let listener: Arc<dyn rskafka_consumer::group::member::RebalanceListener> =
            self.listener.clone();
        self.consumer
            .subscribe_with(topics, Some(listener))
            .unwrap();
    }

    fn take(&mut self, event: rskafka_consumer::Result<rskafka_consumer::Event>) {
        use rskafka_consumer::Event;
        let group_event = |kind: &str, tps: &[rskafka_consumer::TopicPartition]| {
            let tps: Vec<Value> = tps
                .iter()
                .map(|tp| serde_json::json!([&*tp.topic, tp.partition]))
                .collect();
            serde_json::json!({"event": kind, "partitions": tps, "ts": now_secs()})
        };
        match event {
            Ok(Event::Message(m)) => self.messages.push((m.partition, m.offset, now_secs())),
            Ok(Event::Assigned(tps)) => {
                self.owned
                    .extend(tps.iter().map(|tp| (tp.topic.to_string(), tp.partition)));
                self.events.push(group_event("assigned", &tps));
            }
            Ok(Event::Revoked(tps)) => {
                for tp in &tps {
                    self.owned.remove(&(tp.topic.to_string(), tp.partition));
                }
                self.events.push(group_event("revoked", &tps));
            }
            Ok(Event::Lost(tps)) => {
                for tp in &tps {
                    self.owned.remove(&(tp.topic.to_string(), tp.partition));
                }
                self.events.push(group_event("lost", &tps));
            }
            Ok(_) => {}
            Err(e) => self.errors.push(e.to_string()),
        }
    }

    /// Polls for about `budget`: takes in whatever arrives (keeps the member polling, so
    /// max.poll.interval.ms is satisfied).
    pub async fn pump_for(&mut self, budget: Duration) {
        let deadline = tokio::time::Instant::now() + budget;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            match self.consumer.poll_event(left).await {
                Some(event) => self.take(event),
                None => return,
            }
        }
    }

    /// Polls briefly (≤ 20 ms).
    pub async fn pump(&mut self) {
        self.pump_for(Duration::from_millis(20)).await;
    }

    /// Rebalance events (from `poll_event`) of `kind`.
    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == kind).collect()
    }

    /// Assignment (from events) and what the consumer reports, for failure messages.
    pub fn describe(&self) -> String {
        let lines: Vec<String> = self.events.iter().map(|l| l.to_string()).collect();
        format!(
            "our member {}: owns {:?} (assignment() = {:?}), {} messages, errors {:?}\nevents:\n{}\nlistener calls: {}",
            self.name,
            self.owned,
            self.consumer
                .assignment()
                .iter()
                .map(|tp| tp.partition)
                .collect::<Vec<_>>(),
            self.messages.len(),
            self.errors,
            lines.join("\n"),
            serde_json::to_string(&self.listener.calls()).unwrap_or_default()
        )
    }

    /// Whether the assignment tracked from events matches `Consumer::assignment()`.
    pub fn events_match_assignment(&self) -> bool {
        let reported: std::collections::BTreeSet<(String, i32)> = self
            .consumer
            .assignment()
            .iter()
            .map(|tp| (tp.topic.to_string(), tp.partition))
            .collect();
        reported == self.owned
    }
}

// ---------------------------------------------------------------------------------------------
// A private cluster for tests that stop brokers (never the shared `bootstrap()` one)
// ---------------------------------------------------------------------------------------------

/// `produce.py` against the cluster at `bootstrap` (see [`produce`]).
pub fn produce_at(bootstrap: &str, topic: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec![bootstrap, topic];
    all.extend_from_slice(args);
    json_lines(&peer("produce.py", &all).stdout)
}

/// Everything in `topic` at `bootstrap`, read by the librdkafka reference reader
/// (`consume.py`, assign(), read_committed, until every partition's end): the messages only.
pub fn read_all_at(bootstrap: &str, topic: &str) -> Vec<Value> {
    let out = peer("consume.py", &[bootstrap, topic, "--timeout", "40"]);
    json_lines(&out.stdout)
        .into_iter()
        .filter(|v| v.get("event").is_none())
        .collect()
}

/// The committed offsets of `group` at `bootstrap`, by partition of `topic`.
pub fn group_offsets_at(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let out = peer("group_admin.py", &["offsets", bootstrap, group]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("offsets prints JSON");
    v.as_object()
        .expect("object")
        .iter()
        .filter_map(|(k, o)| {
            let (t, p) = k.rsplit_once(':')?;
            (t == topic).then(|| (p.parse().expect("partition"), o.as_i64().expect("offset")))
        })
        .collect()
}

/// A Kafka cluster of its own, started through `testcontainers/kafka` with a private
/// `RKC_KAFKA_STATE_DIR` (under `target/fault-kafka/port-<port>`) and port range; stopped (data
/// removed) when dropped. Node `n` (1-based) listens on `127.0.0.1:<port + n - 1>`.
pub struct PrivateCluster {
    state: PathBuf,
    port: u16,
    brokers: u32,
    bootstrap: String,
    /// `KAFKA_CONTROLLER_OFFSET` for the launcher, when not its default (100).
    controller_offset: Option<u16>,
}

impl PrivateCluster {
    /// Starts `brokers` (1 or 3) brokers on ports `port..`; panics if the launcher fails.
    pub fn start(brokers: u32, port: u16) -> PrivateCluster {
        Self::start_with_controllers(brokers, port, None)
    }

    /// [`PrivateCluster::start`] with the controllers on ports `port + controller_offset..`
    /// (default 100), to keep a cluster's ports within one range.
    pub fn start_with_controllers(
        brokers: u32,
        port: u16,
        controller_offset: Option<u16>,
    ) -> PrivateCluster {
        let state = repo_root()
            .join("target/fault-kafka")
            .join(format!("port-{port}"));
        std::fs::create_dir_all(&state).expect("create the state dir");
        let mut cluster = PrivateCluster {
            state,
            port,
            brokers,
            bootstrap: String::new(),
            controller_offset,
        };
        let args = [
            "start",
            "--brokers",
            &brokers.to_string(),
            "--port",
            &port.to_string(),
        ];
        // A port taken by another process for a moment makes a node exit during startup
        // (BindException); the launcher has cleaned up by then, so starting again is safe.
        let mut out = cluster.run_launcher(&args);
        for _ in 0..2 {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() || !stderr.contains("BindException") {
                break;
            }
            eprintln!("[cluster {port}] a port was taken during startup; starting again");
            out = cluster.run_launcher(&args);
        }
        let out = cluster.check_launcher(&args, out);
        cluster.bootstrap = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("the launcher prints the bootstrap string last")
            .trim()
            .to_owned();
        cluster
    }

    fn launcher(&self, args: &[&str]) -> Output {
        let out = self.run_launcher(args);
        self.check_launcher(args, out)
    }

    fn run_launcher(&self, args: &[&str]) -> Output {
        let launcher = repo_root().join("testcontainers/kafka");
        let started = Instant::now();
        let mut command = Command::new(&launcher);
        command
            .args(args)
            .env("RKC_KAFKA_STATE_DIR", &self.state)
            .env_remove("KAFKA_BOOTSTRAP");
        if let Some(offset) = self.controller_offset {
            command.env("KAFKA_CONTROLLER_OFFSET", offset.to_string());
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher.display()));
        eprintln!(
            "[cluster {}] kafka {} took {:.1} s",
            self.port,
            args.join(" "),
            started.elapsed().as_secs_f64()
        );
        out
    }

    fn check_launcher(&self, args: &[&str], out: Output) -> Output {
        assert!(
            out.status.success(),
            "testcontainers/kafka {args:?} (state {}) failed:\n{}",
            self.state.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The bootstrap string (every node).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Number of nodes.
    pub fn brokers(&self) -> u32 {
        self.brokers
    }

    /// `host:port` of node `n`.
    pub fn node_address(&self, n: u32) -> String {
        format!("127.0.0.1:{}", self.port as u32 + n - 1)
    }

    /// SIGTERMs node `n` and waits for it to exit (its data is kept).
    pub fn stop_node(&self, n: u32) {
        self.launcher(&["stop-node", &n.to_string()]);
    }

    /// Starts node `n` again and waits until it answers.
    pub fn start_node(&self, n: u32) {
        self.launcher(&["start-node", &n.to_string()]);
    }

    /// Runs a Kafka CLI tool (`kafka-topics`, …) against this cluster's jars; its stdout.
    pub fn tool(&self, args: &[&str]) -> String {
        let mut all = vec!["tool"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.launcher(&all).stdout).into_owned()
    }

    /// Stops every node (data kept) and starts them again; returns when the cluster answers.
    pub fn restart(&self) {
        self.launcher(&["restart"]);
    }

    /// Creates `topic` (replication factor `rf`, topic configs `key=value`), waits for leaders.
    pub fn create_topic(&self, topic: &str, partitions: u32, rf: u32, configs: &[&str]) {
        let (p, r) = (partitions.to_string(), rf.to_string());
        let mut args = vec!["create", self.bootstrap(), topic, &p, &r];
        args.extend_from_slice(configs);
        peer("admin.py", &args);
    }

    /// `produce.py` against this cluster (see [`produce`]).
    pub fn produce(&self, topic: &str, args: &[&str]) -> Vec<Value> {
        produce_at(self.bootstrap(), topic, args)
    }

    /// Everything in `topic` (see [`read_all_at`]).
    pub fn read_all(&self, topic: &str) -> Vec<Value> {
        read_all_at(self.bootstrap(), topic)
    }

    /// The group's committed offsets by partition of `topic`.
    pub fn group_offsets(&self, group: &str, topic: &str) -> BTreeMap<i32, i64> {
        group_offsets_at(self.bootstrap(), group, topic)
    }

    /// `tests/peers/fault_admin.py CMD BOOTSTRAP ARGS…`; its stdout.
    pub fn admin(&self, cmd: &str, args: &[&str]) -> Vec<u8> {
        let mut all = vec![cmd, self.bootstrap()];
        all.extend_from_slice(args);
        peer("fault_admin.py", &all).stdout
    }

    /// Leader node id of every partition of `topic`.
    pub fn leaders(&self, topic: &str) -> BTreeMap<i32, i64> {
        let v: Value =
            serde_json::from_slice(&self.admin("leaders", &[topic])).expect("leaders prints JSON");
        v.as_object()
            .expect("object")
            .iter()
            .map(|(p, l)| (p.parse().expect("partition"), l.as_i64().expect("id")))
            .collect()
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("testcontainers/kafka"))
            .arg("stop")
            .env("RKC_KAFKA_STATE_DIR", &self.state)
            .output();
    }
}
