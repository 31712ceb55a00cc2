//! The soak's invariants, checked over a [`Trace`], and the per-run report.
//!
//! Definitions (times as in [`super::trace`]; `SKEW` = [`SKEW`] allows for the reading
//! threads' delay between a member writing a line and the test receiving it):
//!
//! - **Ownership period** of (member, partition): from the `assigned` event naming the
//!   partition to the next `revoked`/`lost` event of that member naming it, or to the member's
//!   exit. Events are timed by their receive time.
//! - **Handout time** of a record: its receive time; except a record the member printed after
//!   a SIGCONT that was appended before the matching SIGSTOP, which may have sat in the
//!   member's stdout buffer while it was stopped: its handout time is the SIGSTOP time.
//! - Each record belongs to the member's period of its partition that contains its handout
//!   time (± SKEW). A record in no period is **handed out unowned**.
//! - **Offsets increase**: within one period, offsets strictly increase in printed order.
//! - **No overlapping owners**: for periods A and B of one partition on different members, no
//!   record of A may be handed out within B's claim (B.start, B.claim_end): it is flagged when
//!   its earliest possible handout time (its handout time − SKEW; for a record appended while
//!   A was SIGSTOPped and printed after the SIGCONT, no earlier than the SIGCONT) is after
//!   B.start (B's event is read no earlier than it happened) and its handout time is before
//!   B.claim_end − SKEW; nor may A's handout interval [first, last] contain B's claim. B's
//!   claim ends with its period when B
//!   revoked the partition or exited; when B lost it or was killed, B may learn that late, so
//!   its claim ends at its own last handout in the period (its start if none).
//! - **Nothing lost**: every record the idempotent producer had acknowledged and every record
//!   of a committed transaction is handed out, with the value it was written with. A record
//!   acknowledged without an offset ([`Trace::unplaced`]) must be handed out in its partition
//!   with its value at some offset.
//! - **No aborted record**: no record of an aborted transaction is handed out.
//! - **Duplicates explained**: every handout of a (partition, offset) after its first is a
//!   duplicate. It is explained when (1) it lies in a later ownership period than the previous
//!   handout, (2) its offset is at or above the group's committed offset sampled last before
//!   that period began, and (3) a fault separates the two: the previous period ended `lost`
//!   or by the member's death, or its member was stopped/partitioned/killed, or reported an
//!   error, between the previous handout and the new period's start, or a broker restart,
//!   kill, pause or network partition was under way then (± SKEW). A SIGTERM or a member
//!   joining/leaving alone explains nothing: a clean revocation commits what was handed out.
//! - **Committed == log end**: after the producers stopped and the members drained and left,
//!   the group's committed offset of every partition equals its log end offset.
//! - **Clean exits**: every member not SIGKILLed exits with code 0 (all get SIGTERM at last).
//! - **Rebalances** (distinct generations the coordinator stabilized) ≤ 2 × membership changes
//!   (member starts and exits, plus two per pause or network partition longer than the
//!   session timeout: an expiry and a rejoin).
//! - **Pauses**: for consecutive handouts of a partition at t1 < t2 (all members), the pause is
//!   t2 − max(t1, append time of the record at t2, its acknowledgement time when known). The
//!   topic uses LogAppendTime, so a producer stall is not counted; and a record is readable
//!   only once the high watermark passes it, which with acks=all is no later than its
//!   acknowledgement: a cluster that cannot advance the high watermark (a broker down until
//!   the leader shrinks the ISR, `replica.lag.time.max.ms`) stalls the producer's
//!   acknowledgements too, and is not counted against the consumer. No pause may exceed the
//!   session timeout + 2 s unless the member that handed out at t1 was stopped, partitioned
//!   or dead during the gap.

use std::{
    collections::BTreeMap,
    fmt::{self, Write as _},
};

use super::trace::{Exit, Fate, FaultKind, GroupChange, Handout, MemberId, Produced, Trace};

/// The reading threads' allowance (seconds); see the module documentation.
pub const SKEW: f64 = 0.2;

/// The invariants, each violation names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// An acknowledged or committed record was never handed out (or with another value).
    Lost,
    /// A record of an aborted transaction was handed out.
    AbortedVisible,
    /// A duplicate no fault explains.
    UnexplainedDuplicate,
    /// Committed offset ≠ log end at the end.
    CommitNotAtEnd,
    /// Offsets went back or repeated within one ownership period.
    OffsetsNotIncreasing,
    /// Two members handed out one partition at the same time.
    OverlappingOwners,
    /// A member handed out a partition it did not own.
    HandedOutUnowned,
    /// A member not SIGKILLed exited with a code other than 0.
    UncleanExit,
    /// More rebalances than 2 × membership changes.
    RebalanceStorm,
    /// A partition paused longer than the session timeout + 2 s with its owner alive.
    LongPause,
}

/// One broken invariant, with the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// Which invariant.
    pub invariant: Invariant,
    /// What exactly.
    pub detail: String,
}

/// Why a duplicate happened (or that nothing explains it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DuplicateCause {
    /// The previous owner reported the partition lost.
    PreviousOwnerLost,
    /// The previous owner died (SIGKILL).
    PreviousOwnerKilled,
    /// The previous owner was stopped or partitioned.
    PreviousOwnerDisabled,
    /// The previous owner reported an error (e.g. a failed commit).
    PreviousOwnerError,
    /// A fault of this kind was under way.
    Fault(FaultKind),
    /// Nothing explains it.
    Unexplained,
}

/// The per-run numbers.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Faults by kind.
    pub faults: BTreeMap<String, u32>,
    /// Records handed out (all handouts, duplicates included).
    pub handouts: usize,
    /// Distinct records handed out.
    pub distinct: usize,
    /// Records the producers know: acked, committed, aborted, unknown.
    pub produced: BTreeMap<String, usize>,
    /// Duplicates by cause.
    pub duplicates: BTreeMap<String, usize>,
    /// Rebalances the coordinator stabilized (distinct generations), if read.
    pub rebalances: Option<u32>,
    /// "Preparing to rebalance" lines, if read.
    pub preparing_rebalance: Option<u32>,
    /// Membership changes (see the module documentation).
    pub membership_changes: u32,
    /// Longest pause per partition (seconds) and whether a disabled owner excuses it.
    pub longest_pause: BTreeMap<i32, (f64, bool)>,
    /// Error events members printed.
    pub member_errors: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "faults by kind: {:?}", self.faults)?;
        writeln!(
            f,
            "records: {} handed out, {} distinct; produced: {:?}",
            self.handouts, self.distinct, self.produced
        )?;
        writeln!(f, "duplicates by cause: {:?}", self.duplicates)?;
        writeln!(
            f,
            "rebalances (coordinator, stabilized generations): {:?}, 'Preparing to rebalance' lines: {:?}, membership changes: {}",
            self.rebalances, self.preparing_rebalance, self.membership_changes
        )?;
        let mut pauses = String::new();
        for (p, (s, excused)) in &self.longest_pause {
            let _ = write!(
                pauses,
                "{p}:{s:.1}s{} ",
                if *excused { "(owner down)" } else { "" }
            );
        }
        writeln!(f, "longest pause per partition: {pauses}")?;
        write!(f, "error events printed by members: {}", self.member_errors)
    }
}

/// (invariant, detail) pairs grouped by invariant, at most `per` details each: the summary
/// of every soak checker's verdict.
pub fn summarize<'a, I: Ord + fmt::Debug>(
    violations: impl IntoIterator<Item = (I, &'a str)>,
    per: usize,
) -> String {
    let mut by: BTreeMap<I, Vec<&str>> = BTreeMap::new();
    for (invariant, detail) in violations {
        by.entry(invariant).or_default().push(detail);
    }
    let mut s = String::new();
    for (inv, details) in by {
        let _ = writeln!(s, "{inv:?}: {} violation(s)", details.len());
        for d in details.iter().take(per) {
            let _ = writeln!(s, "  - {d}");
        }
    }
    s
}

/// The outcome of [`check`].
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Every broken invariant (empty: the run holds).
    pub violations: Vec<Violation>,
    /// The numbers.
    pub report: Report,
}

impl Verdict {
    /// Whether `invariant` was found broken.
    pub fn broke(&self, invariant: Invariant) -> bool {
        self.violations.iter().any(|v| v.invariant == invariant)
    }

    /// The violations, grouped by invariant, at most `per` details each.
    pub fn summary(&self, per: usize) -> String {
        summarize(
            self.violations
                .iter()
                .map(|v| (v.invariant, v.detail.as_str())),
            per,
        )
    }
}

/// How an ownership period ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Revoked,
    Lost,
    Killed,
    Exited,
    Running,
}

#[derive(Debug, Clone)]
struct Period {
    member: MemberId,
    partition: i32,
    start: f64,
    end: f64,
    ended: End,
    /// Indices into `trace.handouts`, in printed order.
    records: Vec<usize>,
}

/// Checks every invariant of the module documentation over `trace`.
pub fn check(trace: &Trace) -> Verdict {
    let mut v = Vec::new();
    let mut report = Report::default();
    let fail =
        |v: &mut Vec<Violation>, invariant, detail: String| v.push(Violation { invariant, detail });

    let times: Vec<f64> = trace
        .handouts
        .iter()
        .map(|h| handout_time(trace, h))
        .collect();
    let mut periods = periods(trace);

    // Records into periods; unowned handouts.
    let mut order: Vec<usize> = (0..trace.handouts.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
    let mut period_of = vec![usize::MAX; trace.handouts.len()];
    for &i in &order {
        let h = &trace.handouts[i];
        let t = times[i];
        // The period that holds `t`; only if none does, one within the skew of the reading
        // threads. A member that loses a partition and is assigned it again milliseconds later
        // (a stop just past its session) has two adjacent periods: what it prints after the
        // new assignment belongs to the new one.
        let mine = |p: &&Period| p.member == h.member && p.partition == h.partition;
        let found = periods
            .iter()
            .position(|p| mine(&p) && p.start <= t && t <= p.end)
            .or_else(|| {
                periods
                    .iter()
                    .position(|p| mine(&p) && p.start - SKEW <= t && t <= p.end + SKEW)
            });
        match found {
            Some(k) => {
                periods[k].records.push(i);
                period_of[i] = k;
            }
            None => fail(
                &mut v,
                Invariant::HandedOutUnowned,
                format!(
                    "member {} handed out partition {} offset {} at {:.3} outside any of its ownership periods",
                    h.member, h.partition, h.offset, t
                ),
            ),
        }
    }
    // Printed order within a period is receive order (one reading thread per stdout).
    for p in &mut periods {
        p.records.sort_by(|&a, &b| {
            trace.handouts[a]
                .recv
                .total_cmp(&trace.handouts[b].recv)
                .then(a.cmp(&b))
        });
    }

    // Offsets increase per period.
    for p in &periods {
        for w in p.records.windows(2) {
            let (a, b) = (&trace.handouts[w[0]], &trace.handouts[w[1]]);
            if b.offset <= a.offset {
                fail(
                    &mut v,
                    Invariant::OffsetsNotIncreasing,
                    format!(
                        "member {} partition {} (period from {:.3}): offset {} printed after {}",
                        p.member, p.partition, p.start, b.offset, a.offset
                    ),
                );
            }
        }
    }

    // No two owners at once.
    for a in &periods {
        let (Some(&first), Some(&last)) = (a.records.first(), a.records.last()) else {
            continue;
        };
        let span = a
            .records
            .iter()
            .map(|&i| times[i])
            .fold((times[first], times[last]), |(lo, hi), t| {
                (lo.min(t), hi.max(t))
            });
        for b in &periods {
            if b.member == a.member || b.partition != a.partition {
                continue;
            }
            let (start, end) = (b.start, claim_end(b, &times));
            let inside: Vec<&Handout> = a
                .records
                .iter()
                .filter(|&&i| {
                    earliest(trace, &trace.handouts[i], times[i]) > start && times[i] < end - SKEW
                })
                .map(|&i| &trace.handouts[i])
                .collect();
            if !inside.is_empty() || (span.0 < start && span.1 > end) {
                let after_assign = inside
                    .first()
                    .map(|h| {
                        format!(
                            "; first at {:.3} s after its assignment (offset {})",
                            handout_time(trace, h) - b.start,
                            h.offset
                        )
                    })
                    .unwrap_or_default();
                let owner = trace.member(a.member);
                let while_stopped = inside
                    .iter()
                    .filter(|h| {
                        owner
                            .stopped
                            .iter()
                            .any(|&(stop, cont)| h.create > stop && h.create < cont)
                    })
                    .count();
                let after_assign = if while_stopped > 0 {
                    format!(
                        "{after_assign}; {while_stopped} of them appended while member {} was SIGSTOPped, so handed out after its SIGCONT",
                        a.member
                    )
                } else {
                    after_assign
                };
                fail(
                    &mut v,
                    Invariant::OverlappingOwners,
                    format!(
                        "partition {}: member {} handed out from {:.3} to {:.3} while member {} owned it from {:.3} to {:.3} ({:?}) ({} of its records inside that ownership{after_assign})",
                        a.partition,
                        a.member,
                        span.0,
                        span.1,
                        b.member,
                        b.start,
                        claim_end(b, &times),
                        b.ended,
                        inside.len()
                    ),
                );
            }
        }
    }

    // Nothing lost, nothing aborted visible.
    let mut seen: BTreeMap<(i32, i64), Vec<usize>> = BTreeMap::new();
    for &i in &order {
        let h = &trace.handouts[i];
        seen.entry((h.partition, h.offset)).or_default().push(i);
    }
    report.handouts = trace.handouts.len();
    report.distinct = seen.len();
    for ((p, o), Produced { value, fate, .. }) in &trace.produced {
        *report
            .produced
            .entry(format!("{fate:?}").to_lowercase())
            .or_default() += 1;
        match fate {
            Fate::Acked | Fate::Committed => match seen.get(&(*p, *o)) {
                None => fail(
                    &mut v,
                    Invariant::Lost,
                    format!("partition {p} offset {o} ({value}, {fate:?}) was never handed out"),
                ),
                Some(idx) => {
                    let got = &trace.handouts[idx[0]].value;
                    if got != value {
                        fail(
                            &mut v,
                            Invariant::Lost,
                            format!(
                                "partition {p} offset {o}: produced {value:?}, handed out {got:?}"
                            ),
                        );
                    }
                }
            },
            Fate::Aborted => {
                if let Some(idx) = seen.get(&(*p, *o)) {
                    let h = &trace.handouts[idx[0]];
                    fail(
                        &mut v,
                        Invariant::AbortedVisible,
                        format!(
                            "partition {p} offset {o} ({value}) of an aborted transaction was handed out by member {}",
                            h.member
                        ),
                    );
                }
            }
            Fate::Unknown => {}
        }
    }
    // Records acknowledged without an offset: by value within their partition.
    let values: std::collections::BTreeSet<(i32, &str)> = trace
        .handouts
        .iter()
        .map(|h| (h.partition, h.value.as_str()))
        .collect();
    for (p, Produced { value, fate, .. }) in &trace.unplaced {
        *report
            .produced
            .entry(format!("{fate:?}").to_lowercase())
            .or_default() += 1;
        let handed_out = values.contains(&(*p, value.as_str()));
        match fate {
            Fate::Acked | Fate::Committed if !handed_out => fail(
                &mut v,
                Invariant::Lost,
                format!(
                    "partition {p}: {value} ({fate:?}, acknowledged without an offset) was never handed out"
                ),
            ),
            Fate::Aborted if handed_out => fail(
                &mut v,
                Invariant::AbortedVisible,
                format!("partition {p}: {value} of an aborted transaction was handed out"),
            ),
            _ => {}
        }
    }
    for h in &trace.handouts {
        let aborted_by_value = h.value.starts_with('t') && h.value.ends_with("-a");
        let known = trace.produced.contains_key(&(h.partition, h.offset));
        if aborted_by_value && !known {
            fail(
                &mut v,
                Invariant::AbortedVisible,
                format!(
                    "partition {} offset {} ({}) written to be aborted was handed out by member {}",
                    h.partition, h.offset, h.value, h.member
                ),
            );
        }
    }

    // Duplicates.
    for ((p, o), idx) in &seen {
        for w in idx.windows(2) {
            let (prev, next) = (w[0], w[1]);
            let cause = duplicate_cause(trace, &periods, &period_of, &times, prev, next);
            let name = match &cause {
                Ok(c) => format!("{c:?}"),
                Err(_) => format!("{:?}", DuplicateCause::Unexplained),
            };
            *report.duplicates.entry(name).or_default() += 1;
            if let Err(why) = cause {
                fail(
                    &mut v,
                    Invariant::UnexplainedDuplicate,
                    format!(
                        "partition {p} offset {o}: handed out by member {} at {:.3} and again by member {} at {:.3}: {why}",
                        trace.handouts[prev].member,
                        times[prev],
                        trace.handouts[next].member,
                        times[next]
                    ),
                );
            }
        }
    }

    // Committed == log end.
    for p in 0..trace.partitions {
        let end = trace.log_end.get(&p).copied();
        let committed = trace.final_committed.get(&p).copied();
        if committed != end {
            let short = match (committed, end) {
                (Some(c), Some(e)) => format!(" ({} short)", e - c),
                _ => String::new(),
            };
            fail(
                &mut v,
                Invariant::CommitNotAtEnd,
                format!("partition {p}: committed {committed:?}, log end {end:?}{short}"),
            );
        }
    }

    // Clean exits.
    for m in &trace.members {
        if m.killed.is_none() && m.exit != Exit::Code(0) && m.exit != Exit::Running {
            fail(
                &mut v,
                Invariant::UncleanExit,
                format!(
                    "member {} ended {:?} (SIGTERM sent at {:?})",
                    m.id, m.exit, m.terminated
                ),
            );
        }
    }

    // Rebalances vs membership changes.
    let session = trace.session_timeout;
    let long = |iv: &[(f64, f64)]| iv.iter().filter(|(a, b)| b - a > session).count() as u32;
    report.membership_changes = trace
        .members
        .iter()
        .map(|m| 1 + u32::from(m.ended.is_some()) + 2 * (long(&m.stopped) + long(&m.partitioned)))
        .sum();
    report.rebalances = trace.rebalances;
    report.preparing_rebalance = trace.preparing_rebalance;
    if let Some(r) = trace.rebalances
        && r > 2 * report.membership_changes
    {
        fail(
            &mut v,
            Invariant::RebalanceStorm,
            format!(
                "{r} rebalances ({:?} 'Preparing to rebalance') for {} membership changes (at most {} allowed)",
                trace.preparing_rebalance,
                report.membership_changes,
                2 * report.membership_changes
            ),
        );
    }

    // Pauses.
    for p in 0..trace.partitions {
        let mut at: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| trace.handouts[i].partition == p)
            .collect();
        at.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
        let mut longest = (0.0f64, false);
        for w in at.windows(2) {
            let (a, b) = (w[0], w[1]);
            let next = &trace.handouts[b];
            let ack = trace
                .produced
                .get(&(next.partition, next.offset))
                .and_then(|r| r.ack)
                .unwrap_or(f64::NEG_INFINITY);
            let pause = times[b] - times[a].max(next.create).max(ack);
            if pause <= longest.0 {
                continue;
            }
            let owner = trace.member(trace.handouts[a].member);
            let excused = owner.disabled_during(times[a], times[b]);
            longest = (pause, excused);
            if pause > session + 2.0 && !excused {
                fail(
                    &mut v,
                    Invariant::LongPause,
                    format!(
                        "partition {p} paused {pause:.1} s (from {:.3}, last handed out by member {}, next by member {} at offset {}) with its owner alive and running; owned during the pause by {}",
                        times[a],
                        owner.id,
                        trace.handouts[b].member,
                        trace.handouts[b].offset,
                        owners_during(&periods, p, times[a], times[b])
                    ),
                );
            }
        }
        report.longest_pause.insert(p, longest);
    }

    for f in &trace.faults {
        *report.faults.entry(format!("{:?}", f.kind)).or_default() += 1;
    }
    report.member_errors = trace.members.iter().map(|m| m.errors.len()).sum();
    Verdict {
        violations: v,
        report,
    }
}

/// Who owned `partition` during (`from`, `to`), as `member N (from–to)` items, or "nobody"
/// (a member whose group membership ended while it kept running shows as a gap here).
fn owners_during(periods: &[Period], partition: i32, from: f64, to: f64) -> String {
    let owners: Vec<String> = periods
        .iter()
        .filter(|q| q.partition == partition && q.start < to && q.end > from)
        .map(|q| {
            format!(
                "member {} ({:.3}–{:.3}, {:?})",
                q.member, q.start, q.end, q.ended
            )
        })
        .collect();
    if owners.is_empty() {
        "nobody".to_owned()
    } else {
        owners.join(", ")
    }
}

/// Until when `p`'s member claims its partition: its `revoked` event or exit; but a member
/// that lost the partition (or died) may learn it late, so its claim ends at its last handout
/// of the period (its start if none).
fn claim_end(p: &Period, times: &[f64]) -> f64 {
    match p.ended {
        End::Revoked | End::Exited | End::Running => p.end,
        End::Lost | End::Killed => p.records.iter().map(|&i| times[i]).fold(p.start, f64::max),
    }
}

/// The earliest time `h` can have been handed out, given its handout time `t`: a record
/// appended after its member was stopped and printed after it resumed was handed out after
/// the SIGCONT; otherwise `t − SKEW`.
fn earliest(trace: &Trace, h: &Handout, t: f64) -> f64 {
    let m = trace.member(h.member);
    for &(stop, cont) in &m.stopped {
        if h.create > stop && h.create < cont && h.recv >= cont {
            return cont.max(t - SKEW);
        }
    }
    t - SKEW
}

/// The handout time of `h` (see the module documentation).
fn handout_time(trace: &Trace, h: &Handout) -> f64 {
    let m = trace.member(h.member);
    for &(stop, cont) in &m.stopped {
        if h.create < stop
            && h.recv >= cont
            && h.recv <= cont + SKEW + 1.0
            && !assigned_between(trace, h, cont, h.recv)
        {
            return stop;
        }
    }
    h.recv
}

/// Whether `h`'s member was assigned `h`'s partition after `from` and before `to`: a record
/// printed after that was handed out under the new assignment (a copy handed out again from
/// the committed offset), not flushed from before a stop.
fn assigned_between(trace: &Trace, h: &Handout, from: f64, to: f64) -> bool {
    trace.events.iter().any(|e| {
        e.member == h.member
            && e.change == GroupChange::Assigned
            && e.recv > from
            && e.recv <= to
            && e.partitions.contains(&h.partition)
    })
}

/// Ownership periods of every member, from its events (see the module documentation).
fn periods(trace: &Trace) -> Vec<Period> {
    let mut out = Vec::new();
    for m in &trace.members {
        let mut events: Vec<_> = trace.events.iter().filter(|e| e.member == m.id).collect();
        events.sort_by(|a, b| a.recv.total_cmp(&b.recv));
        let mut open: BTreeMap<i32, f64> = BTreeMap::new();
        for e in events {
            for &p in &e.partitions {
                match e.change {
                    GroupChange::Assigned => {
                        open.entry(p).or_insert(e.recv);
                    }
                    GroupChange::Revoked | GroupChange::Lost => {
                        if let Some(start) = open.remove(&p) {
                            out.push(Period {
                                member: m.id,
                                partition: p,
                                start,
                                end: e.recv,
                                ended: if e.change == GroupChange::Lost {
                                    End::Lost
                                } else {
                                    End::Revoked
                                },
                                records: Vec::new(),
                            });
                        }
                    }
                }
            }
        }
        let (end, ended) = match (m.ended, m.killed) {
            (Some(t), Some(_)) => (t, End::Killed),
            (Some(t), None) => (t, End::Exited),
            (None, _) => (f64::INFINITY, End::Running),
        };
        for (p, start) in open {
            out.push(Period {
                member: m.id,
                partition: p,
                start,
                end,
                ended,
                records: Vec::new(),
            });
        }
    }
    out
}

/// Why the handout `next` repeats the handout `prev` of the same record.
fn duplicate_cause(
    trace: &Trace,
    periods: &[Period],
    period_of: &[usize],
    times: &[f64],
    prev: usize,
    next: usize,
) -> Result<DuplicateCause, String> {
    let (pp, np) = (period_of[prev], period_of[next]);
    if pp == usize::MAX || np == usize::MAX {
        return Err("handed out outside an ownership period".into());
    }
    if pp == np {
        return Err("twice within one ownership period".into());
    }
    let (before, after) = (&periods[pp], &periods[np]);
    if after.start <= before.start {
        return Err(format!(
            "again by an ownership older than the first one (member {} since {:.3}, member {} since {:.3}): a zombie owner",
            after.member, after.start, before.member, before.start
        ));
    }
    let h = &trace.handouts[next];
    let committed = trace
        .committed_samples
        .iter()
        .filter(|(t, _)| *t <= after.start - SKEW)
        .filter_map(|(_, c)| c.get(&h.partition).copied())
        .next_back();
    if let Some(c) = committed
        && h.offset < c
    {
        return Err(format!(
            "below the offset {c} committed before the new ownership began at {:.3}",
            after.start
        ));
    }
    match before.ended {
        End::Lost => return Ok(DuplicateCause::PreviousOwnerLost),
        End::Killed => return Ok(DuplicateCause::PreviousOwnerKilled),
        _ => {}
    }
    let (from, to) = (times[prev], after.start);
    let owner = trace.member(before.member);
    if owner.disabled_during(from, to) {
        return Ok(DuplicateCause::PreviousOwnerDisabled);
    }
    if owner
        .errors
        .iter()
        .any(|(t, _)| *t >= from - SKEW && *t <= to + SKEW)
    {
        return Ok(DuplicateCause::PreviousOwnerError);
    }
    let explaining = [
        FaultKind::BrokerRestart,
        FaultKind::MemberKill,
        FaultKind::MemberPause,
        FaultKind::NetworkPartition,
    ];
    if let Some(f) = trace
        .faults
        .iter()
        .find(|f| explaining.contains(&f.kind) && f.from <= to + SKEW && f.to >= from - SKEW)
    {
        return Ok(DuplicateCause::Fault(f.kind));
    }
    Err(format!(
        "member {} gave it up ({:?} at {:.3}) with no fault under way, and member {} handed it out again from its ownership beginning at {:.3}",
        before.member, before.ended, before.end, after.member, after.start
    ))
}
