//! Java's `GeneralAssignmentBuilder`: members subscribe to different topics.
//!
//! 1. Members keep the partitions they own and still subscribe to.
//! 2. Each unassigned partition goes to the least loaded subscriber of its topic (topics with
//!    the fewest subscribers first).
//! 3. Members that can neither gain nor give a partition leave the balancing ("fixed").
//! 4. Passes over the movable partitions (topics with two or more subscribers) move a partition
//!    back to its previous-generation owner, or to the least loaded subscriber, while its owner
//!    holds at least two more than that member; a pass stops as soon as the assignment is
//!    balanced, and passes repeat while they move something.
//! 5. If the balancing of an existing assignment did not lower the sum of pairwise size
//!    differences, it is undone.
//!
//! The choices (which partition, which member, in which order) are Java's; what differs is
//! their cost: least loaded subscribers and the balance check come from [`Growing`] and
//! [`Loads`] instead of scans of every member and partition, so step 2 costs O(log members)
//! per partition and a pass O(partitions) plus O(classes × log members) per move, where
//! Java's pass costs O(partitions × members × partitions).

use std::collections::HashMap;

use super::{
    Prepared,
    load::{Growing, Loads, TopicClasses},
    movements::Movements,
};
use crate::group::assignor::Tp;

/// Marks a partition nobody holds in [`General::owner`].
const NOBODY: usize = usize::MAX;

/// Java's `GeneralAssignmentBuilder` (members subscribe to different topics).
pub(super) struct General<'p> {
    p: &'p Prepared,
    /// Index of each topic's partition 0 in `owner`.
    offsets: Vec<usize>,
    current: Vec<Vec<Tp>>,
    /// Members left out of the balancing (they cannot gain or give anything).
    fixed: Vec<bool>,
    /// The member holding each partition (by `offsets[topic] + partition`), or [`NOBODY`].
    owner: Vec<usize>,
    loads: Loads,
    movements: Movements,
    moves_left: usize,
}

impl<'p> General<'p> {
    pub(super) fn run(p: &'p Prepared) -> Vec<Vec<Tp>> {
        let n = p.members;
        let topics = p.counts.len();
        let mut subscribers = vec![0usize; topics];
        for member_topics in &p.member_topics {
            for &t in member_topics {
                subscribers[t] += 1;
            }
        }
        let mut offsets = Vec::with_capacity(topics);
        let mut total = 0usize;
        for &count in &p.counts {
            offsets.push(total);
            total += count as usize;
        }

        // Partitions ordered by how many members may take their topic, then topic, partition.
        let mut topic_order: Vec<usize> = (0..topics).collect();
        topic_order.sort_by_key(|&t| (subscribers[t], t));
        let sorted_all: Vec<Tp> = topic_order
            .iter()
            .flat_map(|&t| (0..p.counts[t]).map(move |q| (t, q)))
            .collect();

        let previous = previous_generation_claims(p);

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
        let mut owner = vec![NOBODY; total];
        for (m, tps) in current.iter().enumerate() {
            for &(t, q) in tps {
                owner[offsets[t] + q as usize] = m;
            }
        }
        let mut unassigned: Vec<Tp> = sorted_all
            .iter()
            .copied()
            .filter(|&(t, q)| owner[offsets[t] + q as usize] == NOBODY)
            .collect();
        let initializing = current.iter().all(Vec::is_empty);

        // Each unassigned partition to the least loaded subscriber.
        let classes = TopicClasses::new(p);
        let mut size: Vec<usize> = current.iter().map(Vec::len).collect();
        let mut growing = Growing::new(&classes, &size);
        for &(t, q) in &unassigned {
            if let Some(member) = growing.give(&classes, t, &mut size) {
                current[member].push((t, q));
                owner[offsets[t] + q as usize] = member;
            }
        }

        // Only topics with two or more subscribers, and members that can give or take, move.
        let movable = |tp: &Tp| subscribers[tp.0] >= 2;
        let mut sorted_all = sorted_all;
        sorted_all.retain(movable);
        unassigned.retain(movable);
        let fixed: Vec<bool> = (0..n)
            .map(|m| {
                let can_participate =
                    current[m].len() < p.max_assignment_size(m) || current[m].iter().any(movable);
                !can_participate
            })
            .collect();

        let loads = Loads::new(classes, &current, &fixed);
        let mut builder = General {
            p,
            offsets,
            current,
            fixed,
            owner,
            loads,
            movements: Movements::default(),
            moves_left: (total + 1).saturating_mul(n + 1).saturating_mul(4),
        };
        builder.balance(
            &previous,
            &sorted_all,
            &unassigned,
            revocation_required,
            initializing,
        );
        builder.current
    }

    fn len(&self, member: usize) -> usize {
        self.current[member].len()
    }

    fn index(&self, (t, q): Tp) -> usize {
        self.offsets[t] + q as usize
    }

    /// Steps 4 and 5: the balancing passes, undone if they did not help.
    fn balance(
        &mut self,
        previous: &HashMap<Tp, (usize, i32)>,
        sorted_all: &[Tp],
        unassigned: &[Tp],
        revocation_required: bool,
        initializing: bool,
    ) {
        let before = (self.current.clone(), self.owner.clone());
        if !revocation_required {
            self.perform_reassignments(unassigned, previous);
        }
        let reassigned = self.perform_reassignments(sorted_all, previous);
        if !initializing
            && reassigned
            && self.balance_score(&self.current) >= self.balance_score(&before.0)
        {
            (self.current, self.owner) = before;
        }
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

    /// One `performReassignments`: passes over `partitions` until one moves nothing. Returns
    /// whether anything moved.
    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        previous: &HashMap<Tp, (usize, i32)>,
    ) -> bool {
        let mut reassigned = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.moves_left == 0 || self.loads.is_balanced() {
                    break;
                }
                let member = self.owner[self.index(tp)];
                if member == NOBODY {
                    continue;
                }
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
                // To the least loaded subscriber if it has far fewer. Fixed members subscribe
                // to no movable topic, so the active subscribers are all of them.
                if let Some((to, size)) = self.loads.least_loaded(tp.0)
                    && self.len(member) > size + 1
                {
                    self.reassign(tp, to);
                    reassigned = true;
                    modified = true;
                }
            }
            if !modified || self.moves_left == 0 {
                return reassigned;
            }
        }
    }

    fn reassign(&mut self, tp: Tp, to: usize) {
        let from = self.owner[self.index(tp)];
        let tp = self
            .movements
            .partition_to_move(tp, from, to, &self.p.topic_hashes);
        let i = self.index(tp);
        let from = self.owner[i];
        self.movements.record_move(tp, from, to);
        if let Some(k) = self.current[from].iter().position(|&x| x == tp) {
            self.current[from].swap_remove(k);
        }
        self.current[to].push(tp);
        self.owner[i] = to;
        self.loads.remove(from, tp.0);
        self.loads.add(to, tp.0);
        self.moves_left -= 1;
    }
}

/// The newest claim from a generation older than the current one, per partition: (member,
/// generation), where a returning partition may go back to.
fn previous_generation_claims(p: &Prepared) -> HashMap<Tp, (usize, i32)> {
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
    previous
}
