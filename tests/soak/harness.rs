//! Runs one soak: a private 3-broker cluster, the producers, the `rkc consume -G` members
//! (each behind its own loopback proxies, so its network can be cut), the committed-offset
//! sampler and the nemesis; then drains, stops everything and returns the [`Trace`].
//!
//! Every member's stdout and stderr lines are written, prefixed with their receive time, to
//! `<dir>/member-<n>.{out,err}`; the producers' records to `<dir>/produced-*.jsonl`; the nemesis's
//! log to `<dir>/nemesis.log`; the whole [`Trace`] the checker judges to `<dir>/trace.json`
//! (judge it again with `RKC_SOAK_RECHECK=<dir>/trace.json cargo test --test soak
//! recheck_saved_run -- --ignored --nocapture`). `<dir>` is printed at the start of the run.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use rskafka_consumer::{ClientConfig, Cluster, group::admin};
use serde_json::Value;

use super::{
    nemesis::{Planned, plan},
    trace::{
        Exit, Fate, Fault, FaultKind, GroupChange, GroupEvent, Handout, MemberId, MemberLife,
        Produced, Trace,
    },
};
use crate::support::{
    PeerProcess, PrivateCluster, now_secs, proxy::Proxy, repo_root, rkc_path, unique,
};

/// Partitions of the soak topic.
pub const PARTITIONS: i32 = 12;
/// The members' session timeout.
pub const SESSION_MS: u64 = 6000;
/// Records per second of the idempotent producer.
const PLAIN_RATE: u32 = 240;
/// Transactions per second (each writes one record per partition).
const TXN_RATE: u32 = 5;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seeds the nemesis.
    pub seed: u64,
    /// Seconds of faults.
    pub fault_seconds: f64,
    /// First port of the private cluster (nodes on `port..port + 3`).
    pub port: u16,
}

/// Shared between a member's reading threads and the harness.
#[derive(Default)]
struct Collected {
    handouts: Vec<Handout>,
    events: Vec<GroupEvent>,
    members: Vec<MemberLife>,
}

struct Member {
    id: MemberId,
    child: Child,
    proxies: Vec<Proxy>,
    extra: bool,
}

struct Soak {
    members: Arc<dyn Members>,
    settings: Settings,
    dir: PathBuf,
    cluster: Arc<PrivateCluster>,
    /// A broker restart under way (restarts run beside the other faults, one at a time).
    restarting: Option<thread::JoinHandle<Fault>>,
    topic: String,
    group: String,
    collected: Arc<Mutex<Collected>>,
    live: Vec<Member>,
    faults: Vec<Fault>,
    log: File,
}

/// Runs a soak of `rkc consume -G` members with `settings`; returns everything the checker
/// needs.
pub fn run(settings: Settings) -> Trace {
    run_with(settings, Arc::new(ConsumeMembers))
}

/// Who the members are: how one starts, and what a run prepares and collects around them
/// while the cluster is up. A member prints each record it hands out on stdout as a JSON
/// line with `partition`, `offset`, `value` and `timestamp` (ms), and its group events on
/// stderr as `rkc` does (`{"event":"assigned"|"revoked"|"lost"|"error",…}`).
pub trait Members: Send + Sync {
    /// Where the private cluster's controllers listen: `port + this` (the launcher's
    /// default, 100, when `None`), to keep a run within its port range.
    fn controller_offset(&self) -> Option<u16> {
        None
    }
    /// Records per second of the idempotent producer and transactions per second of the
    /// transactional one (each writes one record per partition).
    fn rates(&self) -> (u32, u32) {
        (PLAIN_RATE, TXN_RATE)
    }
    /// Before the members start; the soak topic exists (e.g. create more topics).
    fn prepare(&self, _cluster: &PrivateCluster, _topic: &str, _dir: &Path) {}
    /// The program and arguments of member `id`, connecting through `bootstrap` (its
    /// proxies); the harness sets its stdio and spawns it.
    fn command(
        &self,
        id: MemberId,
        bootstrap: &str,
        topic: &str,
        group: &str,
        dir: &Path,
    ) -> Command;
    /// After every member left, before the cluster stops (e.g. read what they wrote).
    fn finish(&self, _cluster: &PrivateCluster, _topic: &str, _dir: &Path) {}
}

/// `rkc consume -G` members with `--commit sync` (the soak of issue 16).
pub struct ConsumeMembers;

impl Members for ConsumeMembers {
    fn command(
        &self,
        _id: MemberId,
        bootstrap: &str,
        topic: &str,
        group: &str,
        _dir: &Path,
    ) -> Command {
        let session = format!("session.timeout.ms={SESSION_MS}");
        let mut command = Command::new(rkc_path());
        command.args([
            "consume",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-G",
            group,
            "-o",
            "beginning",
            "-X",
            "partition.assignment.strategy=cooperative-sticky",
            "--commit",
            "sync",
            "-X",
            &session,
        ]);
        command
    }
}

/// [`run`] with other members.
pub fn run_with(settings: Settings, members: Arc<dyn Members>) -> Trace {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("soak"));
    std::fs::create_dir_all(&dir).expect("create the soak dir");
    eprintln!("[soak] seed {} — files in {}", settings.seed, dir.display());
    let cluster =
        PrivateCluster::start_with_controllers(3, settings.port, members.controller_offset());
    let topic = unique("soak");
    let group = unique("soak-g");
    cluster.create_topic(
        &topic,
        PARTITIONS as u32,
        3,
        &[
            "min.insync.replicas=2",
            "message.timestamp.type=LogAppendTime",
        ],
    );
    members.prepare(&cluster, &topic, &dir);
    let log = File::create(dir.join("nemesis.log")).expect("nemesis log");
    let mut soak = Soak {
        members,
        settings,
        dir,
        cluster: Arc::new(cluster),
        restarting: None,
        topic,
        group,
        collected: Arc::default(),
        live: Vec::new(),
        faults: Vec::new(),
        log,
    };
    for _ in 0..3 {
        soak.spawn_member(false);
    }
    soak.wait_assigned(Duration::from_secs(90));
    soak.note("all 12 partitions assigned");

    let plain_file = soak.dir.join("produced-plain.jsonl");
    let txn_file = soak.dir.join("produced-txn.jsonl");
    let (plain_rate, txn_rate) = soak.members.rates();
    let mut plain = soak.producer("plain", plain_rate, &plain_file);
    let mut txn = soak.producer("txn", txn_rate, &txn_file);
    let sampler = Sampler::start(soak.cluster.bootstrap(), &soak.group);

    thread::sleep(Duration::from_secs(10));
    soak.nemesis();
    thread::sleep(Duration::from_secs(10));

    for (name, p) in [("plain", &mut plain), ("txn", &mut txn)] {
        p.send_line("stop");
        let summary = p.read_json(Duration::from_secs(200));
        soak.note(&format!("producer {name} stopped: {summary}"));
        p.wait_success(Duration::from_secs(30));
    }
    let mut produced = BTreeMap::new();
    let mut unplaced = Vec::new();
    read_produced(&plain_file, &mut produced, &mut unplaced);
    read_produced(&txn_file, &mut produced, &mut unplaced);

    soak.drain(&produced, &unplaced, Duration::from_secs(120));
    let ids: Vec<MemberId> = soak.live.iter().map(|m| m.id).collect();
    for id in ids {
        soak.terminate(id);
    }
    let committed_samples = sampler.stop();
    let (final_committed, log_end) = lag(soak.cluster.bootstrap(), &soak.group)
        .expect("the group's committed offsets and log ends at the end");
    let (rebalances, preparing) = soak.coordinator_log();
    soak.members.finish(&soak.cluster, &soak.topic, &soak.dir);

    let collected = std::mem::take(&mut *soak.collected.lock().unwrap());
    let trace = Trace {
        partitions: PARTITIONS,
        session_timeout: SESSION_MS as f64 / 1000.0,
        handouts: collected.handouts,
        events: collected.events,
        members: collected.members,
        faults: std::mem::take(&mut soak.faults),
        produced,
        unplaced,
        committed_samples,
        final_committed,
        log_end,
        rebalances: Some(rebalances),
        preparing_rebalance: Some(preparing),
    };
    let saved = soak.dir.join("trace.json");
    match File::create(&saved)
        .map_err(|e| e.to_string())
        .and_then(|f| {
            serde_json::to_writer(std::io::BufWriter::new(f), &trace).map_err(|e| e.to_string())
        }) {
        Ok(()) => eprintln!("[soak] trace saved to {}", saved.display()),
        Err(e) => eprintln!("[soak] could not save {}: {e}", saved.display()),
    }
    trace
}

impl Soak {
    fn note(&mut self, what: &str) {
        let line = format!("{:.3} {what}", now_secs());
        eprintln!("[soak] {line}");
        let _ = writeln!(self.log, "{line}");
    }

    fn producer(&self, mode: &str, rate: u32, out: &Path) -> PeerProcess {
        PeerProcess::spawn(
            "soak_produce.py",
            &[
                mode,
                self.cluster.bootstrap(),
                &self.topic,
                &PARTITIONS.to_string(),
                &rate.to_string(),
                out.to_str().expect("UTF-8 path"),
            ],
        )
    }

    /// Starts a member behind three proxies (one per broker, each rewriting every broker's
    /// advertised endpoint to its proxy).
    fn spawn_member(&mut self, extra: bool) -> MemberId {
        let proxies: Vec<Proxy> = (1..=3)
            .map(|n| Proxy::start(&self.cluster.node_address(n)))
            .collect();
        for a in &proxies {
            for b in &proxies {
                if !std::ptr::eq(a, b) {
                    a.also_rewrite(b);
                }
            }
        }
        let bootstrap: Vec<String> = proxies.iter().map(Proxy::address).collect();
        let id = self.collected.lock().unwrap().members.len();
        let mut child = self
            .members
            .command(
                id,
                &bootstrap.join(","),
                &self.topic,
                &self.group,
                &self.dir,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run rkc");
        let id = {
            let mut c = self.collected.lock().unwrap();
            let id = c.members.len();
            c.members.push(MemberLife::new(id, now_secs()));
            id
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (c1, c2) = (Arc::clone(&self.collected), Arc::clone(&self.collected));
        let out = File::create(self.dir.join(format!("member-{id}.out"))).expect("member file");
        let err = File::create(self.dir.join(format!("member-{id}.err"))).expect("member file");
        thread::spawn(move || read_stdout(id, stdout, out, c1));
        thread::spawn(move || read_stderr(id, stderr, err, c2));
        self.live.push(Member {
            id,
            child,
            proxies,
            extra,
        });
        self.note(&format!(
            "member {id} started{}",
            if extra { " (extra)" } else { "" }
        ));
        id
    }

    /// Waits until the live members' events cover every partition.
    fn wait_assigned(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let owned = self.owned();
            if owned.len() == PARTITIONS as usize {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the members own only {owned:?} after {timeout:?} (files in {})",
                self.dir.display()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    fn owned(&self) -> BTreeSet<i32> {
        let c = self.collected.lock().unwrap();
        let mut owned = BTreeMap::<MemberId, BTreeSet<i32>>::new();
        for e in &c.events {
            let set = owned.entry(e.member).or_default();
            for p in &e.partitions {
                match e.change {
                    GroupChange::Assigned => set.insert(*p),
                    _ => set.remove(p),
                };
            }
        }
        let live: BTreeSet<MemberId> = self.live.iter().map(|m| m.id).collect();
        owned
            .into_iter()
            .filter(|(m, _)| live.contains(m))
            .flat_map(|(_, s)| s)
            .collect()
    }

    fn pick(&self, pick: u32) -> MemberId {
        let regular: Vec<MemberId> = self
            .live
            .iter()
            .filter(|m| !m.extra)
            .map(|m| m.id)
            .collect();
        regular[pick as usize % regular.len()]
    }

    fn member(&mut self, id: MemberId) -> &mut Member {
        self.live
            .iter_mut()
            .find(|m| m.id == id)
            .expect("a live member")
    }

    fn signal(&mut self, id: MemberId, signal: &str) {
        let pid = self.member(id).child.id();
        let ok = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} member {id} ({pid}) failed");
    }

    /// SIGTERMs `id` and waits (60 s, then SIGKILL) for it to exit; records how it ended.
    fn terminate(&mut self, id: MemberId) {
        let at = now_secs();
        self.collected.lock().unwrap().members[id].terminated = Some(at);
        self.signal(id, "TERM");
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            if let Some(status) = self.member(id).child.try_wait().expect("wait") {
                break status.code().map_or(Exit::Signalled, Exit::Code);
            }
            if Instant::now() > deadline {
                let _ = self.member(id).child.kill();
                let _ = self.member(id).child.wait();
                break Exit::Signalled;
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.ended(id, exit);
        self.note(&format!(
            "member {id} terminated: {exit:?} after {:.1} s",
            now_secs() - at
        ));
    }

    fn ended(&mut self, id: MemberId, exit: Exit) {
        {
            let mut c = self.collected.lock().unwrap();
            c.members[id].ended = Some(now_secs());
            c.members[id].exit = exit;
        }
        // Connections through each of its proxies (broker 1..3): a proxy that refused
        // connections (its lifetime limit) would have cut the member off, a harness fault.
        let stats: Vec<String> = self
            .member(id)
            .proxies
            .iter()
            .map(|p| {
                let s = p.stats();
                format!("{}/{}/{}", s.connections, s.hung_up, s.rejected)
            })
            .collect();
        self.live.retain(|m| m.id != id);
        self.note(&format!(
            "member {id} ended; connections/hung up/refused by its proxies: {}",
            stats.join(" ")
        ));
    }

    fn nemesis(&mut self) {
        let deadline = Instant::now() + Duration::from_secs_f64(self.settings.fault_seconds);
        for step in plan(self.settings.seed, self.settings.fault_seconds) {
            if Instant::now() + Duration::from_secs_f64(step.gap) > deadline {
                break;
            }
            thread::sleep(Duration::from_secs_f64(step.gap));
            self.fault(&step);
        }
        self.finish_restart();
    }

    /// Waits for the broker restart under way, if any, and records it.
    fn finish_restart(&mut self) {
        if let Some(restart) = self.restarting.take() {
            let fault = restart.join().expect("the broker restart");
            self.note(&format!(
                "{} answers again after {:.1} s",
                fault.target,
                fault.to - fault.from
            ));
            self.faults.push(fault);
        }
    }

    fn fault(&mut self, step: &Planned) {
        let from = now_secs();
        let target = match step.kind {
            FaultKind::BrokerRestart => {
                self.finish_restart();
                self.note(&format!(
                    "fault: restart broker {} (in the background)",
                    step.node
                ));
                let (cluster, node) = (Arc::clone(&self.cluster), step.node);
                self.restarting = Some(thread::spawn(move || {
                    cluster.stop_node(node);
                    cluster.start_node(node);
                    Fault {
                        kind: FaultKind::BrokerRestart,
                        from,
                        to: now_secs(),
                        target: format!("broker {node}"),
                    }
                }));
                return;
            }
            FaultKind::MemberKill => {
                let id = self.pick(step.pick);
                self.note(&format!("fault: SIGKILL member {id}"));
                self.collected.lock().unwrap().members[id].killed = Some(now_secs());
                let m = self.member(id);
                let _ = m.child.kill();
                let _ = m.child.wait();
                self.ended(id, Exit::Signalled);
                self.spawn_member(false);
                format!("member {id}")
            }
            FaultKind::MemberPause => {
                let id = self.pick(step.pick);
                self.note(&format!(
                    "fault: SIGSTOP member {id} for {:.1} s",
                    step.secs
                ));
                // The interval is timed conservatively for the checker: `stop` once the
                // process is surely stopped, `cont` before it may run again.
                self.signal(id, "STOP");
                let stop = now_secs();
                thread::sleep(Duration::from_secs_f64(step.secs));
                let cont = now_secs();
                self.signal(id, "CONT");
                self.collected.lock().unwrap().members[id]
                    .stopped
                    .push((stop, cont));
                format!("member {id}")
            }
            FaultKind::MemberTerm => {
                let id = self.pick(step.pick);
                self.note(&format!("fault: SIGTERM member {id}"));
                self.terminate(id);
                self.spawn_member(false);
                format!("member {id}")
            }
            FaultKind::ExtraMember => {
                self.note(&format!("fault: a 4th member for {:.1} s", step.secs));
                let id = self.spawn_member(true);
                thread::sleep(Duration::from_secs_f64(step.secs));
                self.terminate(id);
                format!("member {id}")
            }
            FaultKind::NetworkPartition => {
                let id = self.pick(step.pick);
                self.note(&format!(
                    "fault: cut member {id}'s network for {:.1} s",
                    step.secs
                ));
                let start = now_secs();
                self.member(id).proxies.iter().for_each(Proxy::stall_all);
                thread::sleep(Duration::from_secs_f64(step.secs));
                // Heal: everything held (or opened during the cut) is closed, then traffic flows.
                for p in &self.member(id).proxies {
                    p.drop_all();
                    p.resume();
                }
                let end = now_secs();
                self.collected.lock().unwrap().members[id]
                    .partitioned
                    .push((start, end));
                format!("member {id}")
            }
        };
        let to = now_secs();
        self.faults.push(Fault {
            kind: step.kind,
            from,
            to,
            target,
        });
    }

    /// Waits until every acknowledged or committed record has been handed out, or until
    /// nothing new is handed out for 15 s, or `timeout`.
    fn drain(
        &mut self,
        produced: &BTreeMap<(i32, i64), Produced>,
        unplaced: &[(i32, Produced)],
        timeout: Duration,
    ) {
        let required = |r: &Produced| matches!(r.fate, Fate::Acked | Fate::Committed);
        let want: BTreeSet<(i32, i64)> = produced
            .iter()
            .filter(|(_, r)| required(r))
            .map(|(k, _)| *k)
            .collect();
        let want_values: BTreeSet<(i32, &str)> = unplaced
            .iter()
            .filter(|(_, r)| required(r))
            .map(|(p, r)| (*p, r.value.as_str()))
            .collect();
        let start = Instant::now();
        let (mut last_count, mut last_change) = (0, Instant::now());
        loop {
            let (seen, missing_values) = {
                let c = self.collected.lock().unwrap();
                let seen: BTreeSet<(i32, i64)> =
                    c.handouts.iter().map(|h| (h.partition, h.offset)).collect();
                let values: BTreeSet<(i32, &str)> = c
                    .handouts
                    .iter()
                    .map(|h| (h.partition, h.value.as_str()))
                    .collect();
                (seen, want_values.difference(&values).count())
            };
            let missing = want.difference(&seen).count() + missing_values;
            if missing == 0 {
                self.note(&format!(
                    "drained in {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
                self.wait_committed(Duration::from_secs(20));
                return;
            }
            if seen.len() != last_count {
                (last_count, last_change) = (seen.len(), Instant::now());
            }
            if last_change.elapsed() > Duration::from_secs(15) || start.elapsed() > timeout {
                self.note(&format!(
                    "drain gave up with {missing} records not handed out"
                ));
                return;
            }
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// Gives the members up to `timeout` to commit the log end of every partition (so the
    /// check after they leave does not race their last commits).
    fn wait_committed(&mut self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some((committed, end)) = lag(self.cluster.bootstrap(), &self.group)
                && end.len() == PARTITIONS as usize
                && end.iter().all(|(p, e)| committed.get(p) == Some(e))
            {
                self.note("every partition committed at its log end");
                return;
            }
            thread::sleep(Duration::from_millis(500));
        }
        self.note(&format!("commits not at the log end after {timeout:?}"));
    }

    /// Counts in every node's server.log the group coordinator's lines about this group:
    /// distinct generations it stabilized ("Stabilized group G generation N with M members.")
    /// and "Preparing to rebalance group G in state …" lines.
    fn coordinator_log(&self) -> (u32, u32) {
        let state = repo_root()
            .join("target/fault-kafka")
            .join(format!("port-{}", self.settings.port));
        let stabilized = format!("Stabilized group {} generation ", self.group);
        let preparing = format!("Preparing to rebalance group {} in state", self.group);
        let mut generations = BTreeSet::new();
        let mut prepared = 0;
        for n in 1..=3 {
            let path = state.join(format!("node-{n}/logs/server.log"));
            let Ok(file) = File::open(&path) else {
                continue;
            };
            for line in BufReader::new(file).lines().map_while(Result::ok) {
                if let Some(i) = line.find(&stabilized) {
                    let rest = &line[i + stabilized.len()..];
                    if let Some(g) = rest.split(' ').next().and_then(|g| g.parse::<u32>().ok()) {
                        generations.insert(g);
                    }
                } else if line.contains(&preparing) {
                    prepared += 1;
                }
            }
        }
        (generations.len() as u32, prepared)
    }
}

impl Drop for Soak {
    fn drop(&mut self) {
        for m in &mut self.live {
            let _ = m.child.kill();
            let _ = m.child.wait();
        }
    }
}

fn read_stdout(id: MemberId, stdout: impl std::io::Read, mut file: File, c: Arc<Mutex<Collected>>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let recv = now_secs();
        let _ = writeln!(file, "{recv:.6}\t{line}");
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(partition), Some(offset)) = (v["partition"].as_i64(), v["offset"].as_i64())
        else {
            continue;
        };
        c.lock().unwrap().handouts.push(Handout {
            member: id,
            partition: partition as i32,
            offset,
            value: v["value"].as_str().unwrap_or_default().to_owned(),
            create: v["timestamp"].as_i64().unwrap_or(0) as f64 / 1000.0,
            recv,
        });
    }
}

fn read_stderr(id: MemberId, stderr: impl std::io::Read, mut file: File, c: Arc<Mutex<Collected>>) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut buf) {
        if n == 0 {
            break;
        }
        let recv = now_secs();
        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        buf.clear();
        let _ = writeln!(file, "{recv:.6}\t{line}");
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let change = match v["event"].as_str() {
            Some("assigned") => GroupChange::Assigned,
            Some("revoked") => GroupChange::Revoked,
            Some("lost") => GroupChange::Lost,
            // `commit_failed` and `dlq_unavailable` are `rkc run`'s.
            Some("error" | "commit_failed" | "dlq_unavailable") => {
                c.lock().unwrap().members[id]
                    .errors
                    .push((recv, v["error"].to_string()));
                continue;
            }
            _ => continue,
        };
        let partitions = v["partitions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["partition"].as_i64())
                    .map(|p| p as i32)
                    .collect()
            })
            .unwrap_or_default();
        c.lock().unwrap().events.push(GroupEvent {
            member: id,
            change,
            partitions,
            recv,
        });
    }
}

/// Reads a producer's file: records with an offset into `into`, records acknowledged without
/// one (librdkafka reports no offset for some successful deliveries) into `unplaced`.
fn read_produced(
    path: &Path,
    into: &mut BTreeMap<(i32, i64), Produced>,
    unplaced: &mut Vec<(i32, Produced)>,
) {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let fate = match v["kind"].as_str() {
            Some("acked") => Fate::Acked,
            Some("committed") => Fate::Committed,
            Some("aborted") => Fate::Aborted,
            _ => Fate::Unknown,
        };
        let record = Produced::new(v["v"].as_str().unwrap_or_default(), fate, v["t"].as_f64());
        let partition = v["p"].as_i64().unwrap_or(-1) as i32;
        match v["o"].as_i64().filter(|&o| o >= 0) {
            Some(offset) => {
                into.insert((partition, offset), record);
            }
            None => unplaced.push((partition, record)),
        }
    }
}

type Offsets = BTreeMap<i32, i64>;

/// The group's committed offsets and the log end offsets, through the project's admin API
/// (bounded: 10 s).
fn lag(bootstrap: &str, group: &str) -> Option<(Offsets, Offsets)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            let cluster = Cluster::connect(ClientConfig::new(bootstrap).ok()?)
                .await
                .ok()?;
            let lag = admin::group_lag(&cluster, group).await.ok()?;
            let committed = lag
                .iter()
                .filter_map(|l| l.committed.map(|c| (l.partition, c)))
                .collect();
            let end = lag.iter().map(|l| (l.partition, l.log_end)).collect();
            Some((committed, end))
        })
        .await
        .ok()
        .flatten()
    })
}

/// Samples the group's committed offsets about once a second.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<(f64, Offsets)>>,
}

impl Sampler {
    fn start(bootstrap: &str, group: &str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, bootstrap, group) = (Arc::clone(&stop), bootstrap.to_owned(), group.to_owned());
        let thread = thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                // Timed when the answer arrived: it holds no commit made later.
                if let Some((committed, _)) = lag(&bootstrap, &group) {
                    samples.push((now_secs(), committed));
                }
                thread::sleep(Duration::from_secs(1));
            }
            samples
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> Vec<(f64, Offsets)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the sampler")
    }
}
