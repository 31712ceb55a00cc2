//! Test oracle: the first, straightforward port of Java's `GeneralAssignmentBuilder` (quadratic
//! or worse), which [`super::general`] must match on every input.

use std::collections::{BTreeSet, HashMap};

use super::{Prepared, movements::Movements};
use crate::group::assignor::Tp;

/// The reference general algorithm.
pub(super) struct ReferenceGeneral<'p> {
    p: &'p Prepared,
    /// Members subscribed to each topic.
    potential: Vec<Vec<usize>>,
    current: Vec<Vec<Tp>>,
    /// Members left out of the balancing (they cannot gain or give anything).
    fixed: Vec<bool>,
    owner: HashMap<Tp, usize>,
    /// Members not fixed, by (number of partitions, member index).
    sorted: BTreeSet<(usize, usize)>,
    movements: Movements,
    moves_left: usize,
}

impl<'p> ReferenceGeneral<'p> {
    pub(super) fn run(p: &'p Prepared) -> Vec<Vec<Tp>> {
        let n = p.members;
        let topics = p.counts.len();
        let potential: Vec<Vec<usize>> = (0..topics)
            .map(|t| (0..n).filter(|&m| p.subscribes(m, t)).collect())
            .collect();

        // Partitions ordered by how many members may take their topic, then topic, partition.
        let mut topic_order: Vec<usize> = (0..topics).collect();
        topic_order.sort_by_key(|&t| (potential[t].len(), t));
        let sorted_all: Vec<Tp> = topic_order
            .iter()
            .flat_map(|&t| (0..p.counts[t]).map(move |q| (t, q)))
            .collect();

        // The newest claim from a generation older than the current one, per partition.
        let mut previous: HashMap<Tp, (usize, i32)> = HashMap::new();
        for &m in &p.java_order {
            let generation = match p.generation[m] {
                Some(g) if g < p.max_generation => g,
                None if p.max_generation > -1 => -1,
                _ => continue,
            };
            for &tp in &p.owned_raw[m] {
                previous
                    .entry(tp)
                    .and_modify(|e| {
                        if generation > e.1 {
                            *e = (m, generation);
                        }
                    })
                    .or_insert((m, generation));
            }
        }

        // Keep what members own and still subscribe to.
        let mut current = p.owned.clone();
        let mut revocation_required = false;
        for (m, partitions) in current.iter_mut().enumerate() {
            partitions.retain(|&(t, _)| {
                let keep = p.subscribes(m, t);
                revocation_required |= !keep;
                keep
            });
        }
        let owner: HashMap<Tp, usize> = current
            .iter()
            .enumerate()
            .flat_map(|(m, tps)| tps.iter().map(move |&tp| (tp, m)))
            .collect();
        let unassigned: Vec<Tp> = sorted_all
            .iter()
            .copied()
            .filter(|tp| !owner.contains_key(tp))
            .collect();
        let sorted = (0..n).map(|m| (current[m].len(), m)).collect();
        let total = p.total_partitions();
        let mut builder = ReferenceGeneral {
            p,
            potential,
            current,
            fixed: vec![false; n],
            owner,
            sorted,
            movements: Movements::default(),
            moves_left: (total + 1).saturating_mul(n + 1).saturating_mul(4),
        };
        builder.balance(&previous, sorted_all, unassigned, revocation_required);
        builder.current
    }

    fn len(&self, member: usize) -> usize {
        self.current[member].len()
    }

    fn balance(
        &mut self,
        previous: &HashMap<Tp, (usize, i32)>,
        mut sorted_all: Vec<Tp>,
        mut unassigned: Vec<Tp>,
        revocation_required: bool,
    ) {
        let initializing = self.sorted.last().is_none_or(|&(size, _)| size == 0);

        // Each unassigned partition to the least loaded subscriber.
        for &tp in &unassigned {
            let Some(&(size, member)) = self
                .sorted
                .iter()
                .find(|&&(_, m)| self.p.subscribes(m, tp.0))
            else {
                continue;
            };
            self.sorted.remove(&(size, member));
            self.current[member].push(tp);
            self.owner.insert(tp, member);
            self.sorted.insert((size + 1, member));
        }

        // Only topics with two or more subscribers, and members that can give or take, move.
        let movable = |tp: &Tp| self.potential[tp.0].len() >= 2;
        sorted_all.retain(movable);
        unassigned.retain(movable);
        for m in 0..self.p.members {
            if !self.can_participate(m) {
                self.sorted.remove(&(self.len(m), m));
                self.fixed[m] = true;
            }
        }

        let before = (self.current.clone(), self.owner.clone());
        if !revocation_required {
            self.perform_reassignments(&unassigned, previous);
        }
        let reassigned = self.perform_reassignments(&sorted_all, previous);
        if !initializing
            && reassigned
            && self.balance_score(&self.current) >= self.balance_score(&before.0)
        {
            (self.current, self.owner) = before;
        }
    }

    fn can_participate(&self, member: usize) -> bool {
        self.len(member) < self.p.max_assignment_size(member)
            || self.current[member]
                .iter()
                .any(|tp| self.potential[tp.0].len() >= 2)
    }

    /// Sum over pairs of members taking part in the balancing of their size difference.
    fn balance_score(&self, assignment: &[Vec<Tp>]) -> usize {
        let mut sizes: Vec<usize> = (0..self.p.members)
            .filter(|&m| !self.fixed[m])
            .map(|m| assignment[m].len())
            .collect();
        sizes.sort_unstable();
        // With sizes ascending, element i is larger than the i before it.
        let mut score = 0;
        let mut prefix = 0;
        for (i, &s) in sizes.iter().enumerate() {
            score += s * i - prefix;
            prefix += s;
        }
        score
    }

    /// Whether no partition can move to a member with at least two fewer partitions.
    fn is_balanced(&self) -> bool {
        let (Some(&(min, _)), Some(&(max, _))) = (self.sorted.first(), self.sorted.last()) else {
            return true;
        };
        if min + 1 >= max {
            return true;
        }
        for &(size, member) in &self.sorted {
            if size == self.p.max_assignment_size(member) {
                continue;
            }
            for &t in &self.p.member_topics[member] {
                for q in 0..self.p.counts[t] {
                    match self.owner.get(&(t, q)) {
                        Some(&other)
                            if other != member
                                && !self.fixed[other]
                                && size + 1 < self.len(other) =>
                        {
                            return false;
                        }
                        _ => {}
                    }
                }
            }
        }
        true
    }

    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        previous: &HashMap<Tp, (usize, i32)>,
    ) -> bool {
        let mut reassigned = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.moves_left == 0 || self.is_balanced() {
                    break;
                }
                let Some(&member) = self.owner.get(&tp) else {
                    continue;
                };
                // Back to its previous-generation owner if that one has far fewer.
                if let Some(&(prev, _)) = previous.get(&tp)
                    && !self.fixed[prev]
                    && self.p.subscribes(prev, tp.0)
                    && self.len(member) > self.len(prev) + 1
                {
                    self.reassign(tp, prev);
                    reassigned = true;
                    modified = true;
                    continue;
                }
                let size = self.len(member);
                if self.potential[tp.0].iter().any(|&o| size > self.len(o) + 1) {
                    let least_loaded = self
                        .sorted
                        .iter()
                        .find(|&&(_, m)| self.p.subscribes(m, tp.0))
                        .map(|&(_, m)| m);
                    if let Some(to) = least_loaded {
                        self.reassign(tp, to);
                        reassigned = true;
                        modified = true;
                    }
                }
            }
            if !modified || self.moves_left == 0 {
                return reassigned;
            }
        }
    }

    fn reassign(&mut self, tp: Tp, to: usize) {
        let from = self.owner[&tp];
        let tp = self
            .movements
            .partition_to_move(tp, from, to, &self.p.topic_hashes);
        let from = self.owner[&tp];
        self.sorted.remove(&(self.len(from), from));
        self.sorted.remove(&(self.len(to), to));
        self.movements.record_move(tp, from, to);
        if let Some(i) = self.current[from].iter().position(|&x| x == tp) {
            self.current[from].remove(i);
        }
        self.current[to].push(tp);
        self.owner.insert(tp, to);
        self.sorted.insert((self.len(to), to));
        self.sorted.insert((self.len(from), from));
        self.moves_left -= 1;
    }
}
