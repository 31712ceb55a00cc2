//! The nemesis's plan: a deterministic sequence of faults drawn from a seed.
//!
//! Invariant: the same seed and duration give the same plan (kinds, gaps, durations, targets
//! as picks). Which member a pick names depends on which members are alive when the fault
//! runs, so a run is reproducible up to the timing of the processes it drives.
//!
//! Faults run one after another: wait the gap (8–15 s), run the fault to its end (a paused
//! member resumed, a 4th member gone again, a broker answering again), repeat until the fault
//! phase's duration is spent.

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::trace::FaultKind;

/// One fault of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// Seconds to wait before it.
    pub gap: f64,
    /// What to do.
    pub kind: FaultKind,
    /// Picks the target among the members alive at the time (`pick % alive`).
    pub pick: u32,
    /// Broker node (1..=3) for a restart.
    pub node: u32,
    /// How long a pause / partition (3–10 s) or a 4th member (10–20 s) lasts.
    pub secs: f64,
}

/// Every fault kind, in the order the plan draws them from.
pub const KINDS: [FaultKind; 6] = [
    FaultKind::BrokerRestart,
    FaultKind::MemberKill,
    FaultKind::MemberPause,
    FaultKind::MemberTerm,
    FaultKind::ExtraMember,
    FaultKind::NetworkPartition,
];

/// The plan for `seed` over `duration` seconds of faults. The first six faults are one of
/// each kind in a seeded order (so that even a short run sees every kind), then kinds are
/// drawn uniformly. The plan is cut where its gaps alone exceed `duration`; faults run longer
/// than planned, so the executor also stops at its deadline.
pub fn plan(seed: u64, duration: f64) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut first: Vec<FaultKind> = KINDS.to_vec();
    for i in (1..first.len()).rev() {
        let j = rng.random_range(0..=i);
        first.swap(i, j);
    }
    let mut out = Vec::new();
    let mut spent = 0.0;
    loop {
        let gap = rng.random_range(8.0..15.0);
        let kind = if out.len() < first.len() {
            first[out.len()]
        } else {
            KINDS[rng.random_range(0..KINDS.len())]
        };
        let secs = match kind {
            FaultKind::ExtraMember => rng.random_range(10.0..20.0),
            _ => rng.random_range(3.0..10.0),
        };
        let planned = Planned {
            gap,
            kind,
            pick: rng.random(),
            node: rng.random_range(1..=3),
            secs,
        };
        spent += gap;
        if spent > duration {
            return out;
        }
        out.push(planned);
    }
}

/// Seconds the nemesis needs for the first `n` faults of `plan`: gaps plus the time the faults
/// hold the nemesis (broker restarts run in the background and hold it for nothing).
pub fn time_for(plan: &[Planned], n: usize) -> f64 {
    plan.iter()
        .take(n)
        .map(|f| match f.kind {
            FaultKind::MemberPause | FaultKind::NetworkPartition | FaultKind::ExtraMember => {
                f.gap + f.secs
            }
            _ => f.gap,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_plan_and_other_seeds_differ() {
        assert_eq!(plan(7, 600.0), plan(7, 600.0));
        assert_ne!(plan(7, 600.0), plan(8, 600.0));
    }

    #[test]
    fn plan_begins_with_every_kind_and_keeps_gaps_and_durations_in_range() {
        let p = plan(42, 600.0);
        let mut first: Vec<FaultKind> = p[..KINDS.len()].iter().map(|f| f.kind).collect();
        first.sort();
        assert_eq!(first, KINDS.to_vec());
        for f in &p {
            assert!((8.0..15.0).contains(&f.gap), "{f:?}");
            assert!((1..=3).contains(&f.node), "{f:?}");
            let range = if f.kind == FaultKind::ExtraMember {
                10.0..20.0
            } else {
                3.0..10.0
            };
            assert!(range.contains(&f.secs), "{f:?}");
        }
        let gaps: f64 = p.iter().map(|f| f.gap).sum();
        assert!(gaps <= 600.0);
    }
}
