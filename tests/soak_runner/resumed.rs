//! A runner-only invariant over a soak [`Trace`]: a member resumed after a SIGSTOP longer
//! than the session starts nothing for the partitions it then reports lost.
//!
//! `soak/checker.rs` allows a record appended before a SIGSTOP and printed up to 1.2 s after
//! the SIGCONT to count as handed out at the SIGSTOP, since `rkc consume` may have written it
//! to its stdout buffer before it was stopped. The runner's exec handler prints each record
//! itself as it starts (its processes are not stopped with their parent), so here a line
//! received after the SIGCONT was handed out after it: for a member stopped longer than the
//! session, every handout of a partition between the SIGCONT and the first `lost` event after
//! it that names the partition (read within [`LOST_WITHIN`] s) is a [`ResumedViolation`].

use super::trace::{GroupChange, MemberId, Trace};

/// How long after a SIGCONT a `lost` event still counts as the stall's.
pub const LOST_WITHIN: f64 = 10.0;

/// A record a resumed member started for a partition it had lost during its stall.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumedViolation {
    /// The member.
    pub member: MemberId,
    /// The partition and offset it started.
    pub record: (i32, i64),
    /// When it was received, after the SIGCONT at `cont` and before the `lost` event at
    /// `lost`.
    pub at: (f64, f64, f64),
}

/// Every record a resumed member started for a partition it then reported lost.
pub fn check(trace: &Trace) -> Vec<ResumedViolation> {
    let mut out = Vec::new();
    for m in &trace.members {
        for &(_, cont) in m
            .stopped
            .iter()
            .filter(|(s, c)| c - s > trace.session_timeout)
        {
            let mut lost_at = std::collections::BTreeMap::new();
            for e in trace.events.iter().filter(|e| {
                e.member == m.id
                    && e.change == GroupChange::Lost
                    && e.recv >= cont
                    && e.recv <= cont + LOST_WITHIN
            }) {
                for &p in &e.partitions {
                    let t: &mut f64 = lost_at.entry(p).or_insert(e.recv);
                    *t = t.min(e.recv);
                }
            }
            for h in trace.handouts.iter().filter(|h| h.member == m.id) {
                if let Some(&lost) = lost_at.get(&h.partition)
                    && h.recv >= cont
                    && h.recv < lost
                {
                    out.push(ResumedViolation {
                        member: m.id,
                        record: (h.partition, h.offset),
                        at: (h.recv, cont, lost),
                    });
                }
            }
        }
    }
    out
}
