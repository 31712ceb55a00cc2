//! Java's `ConstrainedAssignmentBuilder`: every member subscribes to the same topics.
//!
//! Invariant: with `P` partitions and `N` members every member ends with `P / N` or one more,
//! exactly `P % N` of them with one more, and a member keeps as many of its owned partitions
//! as its quota allows.

use std::collections::{HashMap, HashSet, VecDeque};

use super::Prepared;
use crate::group::assignor::Tp;

/// Java's `ConstrainedAssignmentBuilder` (all members subscribe to the same topics). Returns the
/// assignment and the partitions given to a member other than their current owner.
pub(super) fn constrained(p: &Prepared) -> (Vec<Vec<Tp>>, HashMap<Tp, usize>) {
    let n = p.members;
    let total = p.total_partitions();
    let min_quota = total / n;
    let max_quota = total.div_ceil(n);
    let expected_over_min = total % n;
    let mut current_over_min = 0;

    let mut assignment: Vec<Vec<Tp>> = vec![Vec::new(); n];
    let mut maybe_revoked: HashMap<Tp, usize> = HashMap::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut exactly_min: VecDeque<usize> = VecDeque::new();
    let mut assigned: HashSet<Tp> = HashSet::new();

    // Keep previously owned partitions up to the quota.
    for &m in &p.java_order {
        let mut owned = p.owned[m].clone();
        owned.sort_by_key(|&(t, partition)| (partition, t));
        owned.retain(|tp| !p.multiply_owned.contains(tp));
        let keep = if owned.len() < min_quota {
            under_min.push(m);
            owned.len()
        } else if owned.len() >= max_quota && current_over_min < expected_over_min {
            current_over_min += 1;
            if current_over_min == expected_over_min {
                exactly_min.clear();
            }
            max_quota
        } else {
            if current_over_min < expected_over_min {
                exactly_min.push_back(m);
            }
            min_quota
        };
        for &tp in &owned[keep..] {
            maybe_revoked.insert(tp, m);
        }
        assigned.extend(&owned[..keep]);
        assignment[m].extend_from_slice(&owned[..keep]);
    }

    under_min.sort_unstable();
    exactly_min.make_contiguous().sort_unstable();

    // Deal the rest round robin to the members below quota, then to those at the minimum.
    let mut transferring = HashMap::new();
    let mut cursor = 0;
    let unassigned = (0..p.counts.len())
        .flat_map(|t| (0..p.counts[t]).map(move |q| (t, q)))
        .filter(|tp| !assigned.contains(tp));
    for tp in unassigned {
        let (member, from_under_min) = if cursor < under_min.len() {
            cursor += 1;
            (under_min[cursor - 1], true)
        } else if under_min.is_empty() {
            debug_assert!(!exactly_min.is_empty(), "no member left for {tp:?}");
            match exactly_min.pop_front() {
                Some(m) => (m, false),
                None => break,
            }
        } else {
            cursor = 1;
            (under_min[0], true)
        };
        assignment[member].push(tp);
        if maybe_revoked.get(&tp).is_some_and(|&owner| owner != member)
            || p.multiply_owned.contains(&tp)
        {
            transferring.insert(tp, member);
        }
        let count = assignment[member].len();
        if count == min_quota {
            if from_under_min {
                cursor -= 1;
                under_min.remove(cursor);
            }
            exactly_min.push_back(member);
        }
    }
    (assignment, transferring)
}
