//! What a soak run leaves behind, as the checker reads it: every record each member handed
//! out, every group event it reported, each member's life (start, faults, exit), what the
//! producers had acknowledged, and the committed offsets sampled during and after the run.
//!
//! Times are wall-clock seconds since the epoch (`f64`), taken by the test's reading threads as
//! each line arrives (`recv`), by the nemesis as it acts, or by the producer (`create`, the
//! record's CreateTime, or `ack`, when the producer learnt the record was acknowledged). They
//! are comparable because everything runs on one machine.
//!
//! A whole trace serializes to JSON (`trace.json` in a run's directory), so a finished run can
//! be judged again by a newer checker; maps keyed by tuples are written as lists of pairs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A member process, numbered from 0 in start order.
pub type MemberId = usize;

/// One record a member printed on stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handout {
    /// Who printed it.
    pub member: MemberId,
    /// Partition of the soak topic.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its value (the producers' values are unique: `s<seq>`, `t<txn>-<p>-<c|a>`).
    pub value: String,
    /// The record's CreateTime (seconds), set by the producer before it was appended.
    pub create: f64,
    /// When the test's reading thread received the line.
    pub recv: f64,
}

/// What an `assigned` / `revoked` / `lost` event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupChange {
    /// The member now owns the partitions.
    Assigned,
    /// The member handed the partitions back (after committing what it handed out).
    Revoked,
    /// The member learnt it no longer owns the partitions (fenced, session expired).
    Lost,
}

/// One group event a member printed on stderr.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupEvent {
    /// Who printed it.
    pub member: MemberId,
    /// What changed.
    pub change: GroupChange,
    /// Partitions of the soak topic it names.
    pub partitions: Vec<i32>,
    /// When the test's reading thread received the line.
    pub recv: f64,
}

/// How a member's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Exit {
    /// Still running when the trace was taken (only in synthetic traces).
    Running,
    /// Exited by itself with this code.
    Code(i32),
    /// Killed by a signal (SIGKILL by the nemesis, or the harness at a timeout).
    Signalled,
}

/// One member's life as the nemesis and harness saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberLife {
    /// Its number.
    pub id: MemberId,
    /// When it was spawned.
    pub started: f64,
    /// When it exited (or was killed); `None` while running.
    pub ended: Option<f64>,
    /// How it ended.
    pub exit: Exit,
    /// When it was sent SIGTERM, if ever (a clean exit with code 0 is then required).
    pub terminated: Option<f64>,
    /// When it was SIGKILLed, if ever.
    pub killed: Option<f64>,
    /// Its SIGSTOP→SIGCONT intervals.
    pub stopped: Vec<(f64, f64)>,
    /// Intervals during which its network was cut (all of its connections stalled).
    pub partitioned: Vec<(f64, f64)>,
    /// Error events it printed: (recv, text).
    pub errors: Vec<(f64, String)>,
}

impl MemberLife {
    /// A member started at `started`, still running.
    pub fn new(id: MemberId, started: f64) -> MemberLife {
        MemberLife {
            id,
            started,
            ended: None,
            exit: Exit::Running,
            terminated: None,
            killed: None,
            stopped: Vec::new(),
            partitioned: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Whether it was stopped, partitioned or dead at some time in `[from, to]`.
    pub fn disabled_during(&self, from: f64, to: f64) -> bool {
        let overlaps = |&(a, b): &(f64, f64)| a <= to && b >= from;
        self.stopped.iter().any(overlaps)
            || self.partitioned.iter().any(overlaps)
            || self.killed.is_some_and(|k| k <= to)
    }
}

/// The kinds of fault the nemesis injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    /// A broker stopped (SIGTERM, controlled shutdown) and started again.
    BrokerRestart,
    /// A member SIGKILLed and a replacement started.
    MemberKill,
    /// A member SIGSTOPped for 3–10 s, then SIGCONTed.
    MemberPause,
    /// A member SIGTERMed (it must leave cleanly and exit 0) and a replacement started.
    MemberTerm,
    /// A 4th member joined for 10–20 s, then left (SIGTERM).
    ExtraMember,
    /// A member's network cut (every connection stalled) for 3–10 s, then healed.
    NetworkPartition,
}

/// One fault as executed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// What it was.
    pub kind: FaultKind,
    /// When it began.
    pub from: f64,
    /// When it was over (the broker answered again, the member resumed, …).
    pub to: f64,
    /// A description (`broker 2`, `member 4`, …).
    pub target: String,
}

/// What one acknowledged or transactional record's producer says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fate {
    /// Acknowledged by the idempotent producer (acks=all).
    Acked,
    /// Part of a committed transaction.
    Committed,
    /// Part of an aborted transaction: must never be handed out under read_committed.
    Aborted,
    /// Part of a transaction whose outcome the producer could not learn: not checked.
    Unknown,
}

/// What a producer says about one record it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Produced {
    /// The value it was written with (unique over the run).
    pub value: String,
    /// Its fate.
    pub fate: Fate,
    /// When the producer learnt the outcome (the delivery report of the idempotent producer,
    /// the return of commit/abort of the transactional one); `None` in traces without it.
    /// A record is readable (below the high watermark) no later than its acknowledgement.
    #[serde(default)]
    pub ack: Option<f64>,
}

impl Produced {
    /// A record of `value` with `fate`, acknowledged at `ack` (if known).
    pub fn new(value: impl Into<String>, fate: Fate, ack: Option<f64>) -> Produced {
        Produced {
            value: value.into(),
            fate,
            ack,
        }
    }
}

/// Everything the checker judges.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trace {
    /// Number of partitions of the soak topic.
    pub partitions: i32,
    /// The group's session timeout (seconds).
    pub session_timeout: f64,
    /// Records handed out, over all members, in no particular order.
    pub handouts: Vec<Handout>,
    /// Group events, over all members, in no particular order.
    pub events: Vec<GroupEvent>,
    /// Every member that ever ran.
    pub members: Vec<MemberLife>,
    /// The faults injected.
    pub faults: Vec<Fault>,
    /// (partition, offset) → what the producers learnt about every record with a known offset.
    #[serde(with = "pairs")]
    pub produced: BTreeMap<(i32, i64), Produced>,
    /// Records acknowledged without an offset (librdkafka reports none for some successful
    /// deliveries, e.g. a retried batch the broker answers as a duplicate): (partition, what
    /// the producer learnt). They are matched by value within their partition.
    #[serde(default)]
    pub unplaced: Vec<(i32, Produced)>,
    /// Committed offsets sampled during the run: (time, partition → offset).
    pub committed_samples: Vec<(f64, BTreeMap<i32, i64>)>,
    /// The group's committed offset of every partition after the members drained and left.
    pub final_committed: BTreeMap<i32, i64>,
    /// The log end offset (high watermark) of every partition at the end.
    pub log_end: BTreeMap<i32, i64>,
    /// Rebalances the group coordinator logged ("Stabilized group … generation N"), distinct
    /// generations; `None` when the broker logs were not read (synthetic traces).
    pub rebalances: Option<u32>,
    /// "Preparing to rebalance group" lines the coordinator logged.
    pub preparing_rebalance: Option<u32>,
}

impl Trace {
    /// The life of `member`.
    pub fn member(&self, member: MemberId) -> &MemberLife {
        &self.members[member]
    }
}

/// Serializes a map with tuple keys (which JSON objects cannot have) as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
