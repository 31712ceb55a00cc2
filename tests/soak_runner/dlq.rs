//! The runner soak's dead-letter invariants, checked over a [`Trace`] (everything the
//! members handed to the handler, from `soak/checker.rs`'s point of view) and a [`DlqRun`]
//! (the dead-letter topic read back at the end, and the runner events that concern it).
//!
//! Definitions:
//!
//! - **Poison**: a record whose value [`is_poison`] (the handler, `handler.sh`, fails it
//!   permanently with exit 1; every other record it processes).
//! - **Provenance** of a dead letter: the source (topic, partition, offset) its
//!   `__connect.errors.topic` / `.partition` / `.offset` headers name.
//!
//! Invariants:
//!
//! - **Exactly the poison** ([`DlqInvariant::MissingPoison`], [`DlqInvariant::NotPoison`]):
//!   the set of provenances equals the set of poison records the producers acknowledged or
//!   committed (records of transactions with an unknown outcome are neither required nor
//!   forbidden).
//! - **No aborted dead letter** ([`DlqInvariant::AbortedDeadLettered`]): no provenance names a
//!   record of an aborted transaction, and no dead letter carries a value written to be
//!   aborted (`t…-a`).
//! - **The original** ([`DlqInvariant::NotTheOriginal`]): every dead letter has provenance
//!   naming the source topic, and its value equals the value produced at that provenance.
//! - **Duplicates explained** ([`DlqInvariant::UnexplainedDuplicate`]): a provenance with `n`
//!   copies beyond the first is explained when the handler was handed that record at least
//!   `n + 1` times (each such handout is a duplicate the checker itself must explain by a
//!   fault), or when a member that was handed it reported `dlq_unavailable` for its partition
//!   after that (a write whose acknowledgement was lost is written again).

use std::{collections::BTreeMap, fmt};

use serde_json::Value;

use super::trace::{Fate, MemberId, Produced, Trace};

/// One in this many records is poison (see [`is_poison`]).
pub const POISON_EVERY: u64 = 97;

/// Partitions of the soak topic, as `handler.sh` numbers transactional records.
const PARTITIONS: u64 = 12;

/// Whether the handler fails `value` permanently: its number `k` (`s<k>`, or `t<n>-<p>-<c|a>`
/// with `k = n * 12 + p`) is a multiple of [`POISON_EVERY`]. `handler.sh` applies the same
/// rule.
pub fn is_poison(value: &str) -> bool {
    number(value).is_some_and(|k| k % POISON_EVERY == 0)
}

fn number(value: &str) -> Option<u64> {
    if let Some(k) = value.strip_prefix('s') {
        return k.parse().ok();
    }
    let mut parts = value.strip_prefix('t')?.split('-');
    let n: u64 = parts.next()?.parse().ok()?;
    let p: u64 = parts.next()?.parse().ok()?;
    Some(n * PARTITIONS + p)
}

/// One record of the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its partition in the dead-letter topic.
    pub partition: i32,
    /// Its offset there.
    pub offset: i64,
    /// The source (topic, partition, offset) its provenance headers name, if they do.
    pub source: Option<(String, i32, i64)>,
    /// Its value.
    pub value: String,
}

impl DeadLetter {
    /// A dead letter from a JSON line as `consume.py` (and `rkc consume`) prints it, with
    /// Kafka Connect provenance headers.
    pub fn from_json(v: &Value) -> DeadLetter {
        let header = |name: &str| {
            v["headers"].as_array().and_then(|hs| {
                hs.iter()
                    .find(|h| h[0].as_str() == Some(name))
                    .and_then(|h| h[1].as_str().map(str::to_owned))
            })
        };
        let source = (|| {
            Some((
                header("__connect.errors.topic")?,
                header("__connect.errors.partition")?.parse().ok()?,
                header("__connect.errors.offset")?.parse().ok()?,
            ))
        })();
        DeadLetter {
            partition: v["partition"].as_i64().unwrap_or(-1) as i32,
            offset: v["offset"].as_i64().unwrap_or(-1),
            source,
            value: v["value"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// What the dead-letter side of a run left behind.
#[derive(Debug, Clone, Default)]
pub struct DlqRun {
    /// The soak topic (the provenance every dead letter must name).
    pub source_topic: String,
    /// Everything in the dead-letter topic at the end (read_committed).
    pub letters: Vec<DeadLetter>,
    /// `dlq_unavailable` events: (member, receive time, source partition).
    pub unavailable: Vec<(MemberId, f64, i32)>,
    /// `dead_lettered` events the members printed.
    pub dead_lettered_events: usize,
    /// `retry` events the members printed (the handler never asks for one: a timed-out
    /// attempt).
    pub retries: usize,
    /// `circuit_open` events the members printed.
    pub circuit_opens: usize,
}

/// The dead-letter invariants, each violation names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DlqInvariant {
    /// An acknowledged or committed poison record is not in the dead-letter topic.
    MissingPoison,
    /// A dead letter whose provenance is not a poison record.
    NotPoison,
    /// A dead letter of an aborted record.
    AbortedDeadLettered,
    /// A dead letter without provenance, naming another topic, or with another value.
    NotTheOriginal,
    /// More copies of one dead letter than handouts or DLQ outages explain.
    UnexplainedDuplicate,
}

/// One broken dead-letter invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct DlqViolation {
    /// Which invariant.
    pub invariant: DlqInvariant,
    /// What exactly.
    pub detail: String,
}

/// The dead-letter numbers of a run.
#[derive(Debug, Clone, Default)]
pub struct DlqReport {
    /// Poison records the producers acknowledged or committed.
    pub poison: usize,
    /// Poison records of aborted transactions (must never be dead-lettered).
    pub aborted_poison: usize,
    /// Records in the dead-letter topic.
    pub letters: usize,
    /// Distinct provenances among them.
    pub distinct: usize,
    /// Copies beyond the first, by cause.
    pub duplicates: BTreeMap<&'static str, usize>,
    /// `dead_lettered` events, `retry` events, `circuit_open` events, `dlq_unavailable` events.
    pub events: (usize, usize, usize, usize),
}

impl fmt::Display for DlqReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "poison: {} acknowledged/committed, {} aborted (never to be dead-lettered)",
            self.poison, self.aborted_poison
        )?;
        writeln!(
            f,
            "dead-letter topic: {} records, {} distinct provenances; duplicates by cause: {:?}",
            self.letters, self.distinct, self.duplicates
        )?;
        let (dead, retries, circuit, unavailable) = self.events;
        write!(
            f,
            "runner events: {dead} dead_lettered, {retries} retry, {circuit} circuit_open, {unavailable} dlq_unavailable"
        )
    }
}

/// The outcome of [`check`].
#[derive(Debug, Clone, Default)]
pub struct DlqVerdict {
    /// Every broken invariant (empty: the dead letters hold).
    pub violations: Vec<DlqViolation>,
    /// The numbers.
    pub report: DlqReport,
}

impl DlqVerdict {
    /// Whether `invariant` was found broken.
    pub fn broke(&self, invariant: DlqInvariant) -> bool {
        self.violations.iter().any(|v| v.invariant == invariant)
    }

    /// The violations, grouped by invariant, at most `per` details each.
    pub fn summary(&self, per: usize) -> String {
        super::checker::summarize(
            self.violations
                .iter()
                .map(|v| (v.invariant, v.detail.as_str())),
            per,
        )
    }
}

/// Checks every invariant of the module documentation.
pub fn check(trace: &Trace, dlq: &DlqRun) -> DlqVerdict {
    let mut v = Vec::new();
    let mut report = DlqReport {
        letters: dlq.letters.len(),
        events: (
            dlq.dead_lettered_events,
            dlq.retries,
            dlq.circuit_opens,
            dlq.unavailable.len(),
        ),
        ..DlqReport::default()
    };
    let mut fail = |invariant, detail: String| v.push(DlqViolation { invariant, detail });

    // Copies per provenance; dead letters without a usable one.
    let mut copies: BTreeMap<(i32, i64), Vec<&DeadLetter>> = BTreeMap::new();
    for l in &dlq.letters {
        if l.value.starts_with('t') && l.value.ends_with("-a") {
            fail(
                DlqInvariant::AbortedDeadLettered,
                format!(
                    "dead letter {}/{} carries {:?}, written to be aborted",
                    l.partition, l.offset, l.value
                ),
            );
        }
        match &l.source {
            Some((topic, p, o)) if *topic == dlq.source_topic => {
                copies.entry((*p, *o)).or_default().push(l);
            }
            other => fail(
                DlqInvariant::NotTheOriginal,
                format!(
                    "dead letter {}/{} ({:?}) has provenance {other:?}, not a record of {}",
                    l.partition, l.offset, l.value, dlq.source_topic
                ),
            ),
        }
    }
    report.distinct = copies.len();

    // Exactly the poison.
    for ((p, o), Produced { value, fate, .. }) in &trace.produced {
        if !is_poison(value) {
            continue;
        }
        match fate {
            Fate::Acked | Fate::Committed => {
                report.poison += 1;
                if !copies.contains_key(&(*p, *o)) {
                    fail(
                        DlqInvariant::MissingPoison,
                        format!(
                            "poison partition {p} offset {o} ({value}, {fate:?}) is not in the dead-letter topic"
                        ),
                    );
                }
            }
            Fate::Aborted => report.aborted_poison += 1,
            Fate::Unknown => {}
        }
    }
    for ((p, o), letters) in &copies {
        let l = letters[0];
        match trace.produced.get(&(*p, *o)) {
            Some(Produced {
                fate: Fate::Aborted,
                ..
            }) => fail(
                DlqInvariant::AbortedDeadLettered,
                format!(
                    "dead letter {}/{} names partition {p} offset {o} of an aborted transaction",
                    l.partition, l.offset
                ),
            ),
            Some(Produced { value, fate, .. }) => {
                if !is_poison(value) && *fate != Fate::Unknown {
                    fail(
                        DlqInvariant::NotPoison,
                        format!(
                            "dead letter {}/{} names partition {p} offset {o} ({value}), which is not poison",
                            l.partition, l.offset
                        ),
                    );
                }
                for l in letters.iter().filter(|l| l.value != *value) {
                    fail(
                        DlqInvariant::NotTheOriginal,
                        format!(
                            "dead letter {}/{} of partition {p} offset {o} carries {:?}, produced {value:?}",
                            l.partition, l.offset, l.value
                        ),
                    );
                }
            }
            None => fail(
                DlqInvariant::NotPoison,
                format!(
                    "dead letter {}/{} ({:?}) names partition {p} offset {o}, which no producer acknowledged",
                    l.partition, l.offset, l.value
                ),
            ),
        }
    }

    // Duplicates.
    for ((p, o), letters) in &copies {
        let extra = letters.len() - 1;
        if extra == 0 {
            continue;
        }
        let handouts: Vec<_> = trace
            .handouts
            .iter()
            .filter(|h| (h.partition, h.offset) == (*p, *o))
            .collect();
        let outage = dlq.unavailable.iter().any(|&(m, t, part)| {
            part == *p && handouts.iter().any(|h| h.member == m && h.recv <= t)
        });
        let cause = if handouts.len() > extra {
            "handed out again"
        } else if outage {
            "dlq_unavailable"
        } else {
            fail(
                DlqInvariant::UnexplainedDuplicate,
                format!(
                    "partition {p} offset {o} is in the dead-letter topic {} times ({}), handed out {} time(s), with no dlq_unavailable of its partition after",
                    letters.len(),
                    letters
                        .iter()
                        .map(|l| format!("{}/{}", l.partition, l.offset))
                        .collect::<Vec<_>>()
                        .join(", "),
                    handouts.len()
                ),
            );
            "unexplained"
        };
        *report.duplicates.entry(cause).or_default() += extra;
    }

    DlqVerdict {
        violations: v,
        report,
    }
}

/// The `dlq_unavailable`, `dead_lettered`, `retry` and `circuit_open` events in the lines
/// of a member's stderr file as the harness writes it (`<recv time>\t<line>`).
pub fn read_events(member: MemberId, text: &str, into: &mut DlqRun) {
    for line in text.lines() {
        let Some((recv, json)) = line.split_once('\t') else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        match v["event"].as_str() {
            Some("dlq_unavailable") => into.unavailable.push((
                member,
                recv.parse().unwrap_or(0.0),
                v["partition"].as_i64().unwrap_or(-1) as i32,
            )),
            Some("dead_lettered") => into.dead_lettered_events += 1,
            Some("retry") => into.retries += 1,
            Some("circuit_open") => into.circuit_opens += 1,
            _ => {}
        }
    }
}
