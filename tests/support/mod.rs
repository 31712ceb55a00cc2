//! Shared test support: the real broker, unique names, peers and the `rkc` binary.
//!
//! The broker comes from `KAFKA_BOOTSTRAP` when set; otherwise `testcontainers/kafka start` is
//! run once per test process (the launcher is idempotent and locked, so parallel test binaries
//! share one broker). Every test names its own topics and groups with [`unique`], so tests run
//! in parallel without seeing each other's data.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    thread,
    time::{SystemTime, UNIX_EPOCH},
};

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
