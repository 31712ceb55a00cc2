//! How many partitions each member holds, indexed so that the general algorithm's questions
//! ("who is the least loaded subscriber of this topic?", "is the assignment balanced?") cost a
//! lookup instead of a scan of every member and partition.
//!
//! Topics with the same set of subscribers form one *class*; every question is the same for
//! all topics of a class, so the index keeps per class:
//! * its *active* subscribers (members taking part in the balancing) by (size, member);
//! * how many of its partitions each member holds, and the active holders by (size, member);
//! * whether it is *unbalanced*: its least loaded active subscriber has at least two fewer
//!   partitions than its most loaded active holder (a partition of the class could move to
//!   that subscriber and improve the balance).
//!
//! Invariants, after every public method: `size[m]` is the number of partitions `m` holds;
//! every active member is in `sorted` and in each of its classes' `subscribers` with its
//! current size, and in `holders` of each class it holds a partition of; inactive members are
//! in none of them; `unbalanced` counts the classes whose flag is set. The assignment is
//! balanced (Java's `isBalanced`, restricted to active members) exactly when the active sizes
//! differ by at most one or no class is unbalanced.

use std::collections::{BTreeSet, HashMap};

use super::Prepared;

/// One class of topics (same subscribers).
#[derive(Debug, Default)]
struct Class {
    /// Active subscribers by (size, member).
    subscribers: BTreeSet<(usize, usize)>,
    /// Partitions of the class each member holds (members holding none are absent).
    held: HashMap<usize, usize>,
    /// Active members holding a partition of the class, by (size, member).
    holders: BTreeSet<(usize, usize)>,
    unbalanced: bool,
}

/// Partition counts per member, indexed by topic class.
#[derive(Debug)]
pub(super) struct Loads {
    size: Vec<usize>,
    active: Vec<bool>,
    /// Active members by (size, member).
    sorted: BTreeSet<(usize, usize)>,
    class_of_topic: Vec<usize>,
    /// The classes each member subscribes to.
    member_classes: Vec<Vec<usize>>,
    classes: Vec<Class>,
    /// Classes with `unbalanced` set.
    unbalanced: usize,
}

impl Loads {
    /// Every member active, holding `held` (partitions of topics it subscribes to).
    pub(super) fn new(p: &Prepared, held: &[Vec<(usize, i32)>]) -> Self {
        let mut subscribers: Vec<Vec<usize>> = vec![Vec::new(); p.counts.len()];
        for (m, topics) in p.member_topics.iter().enumerate() {
            for &t in topics {
                subscribers[t].push(m);
            }
        }
        let mut class_ids: HashMap<&[usize], usize> = HashMap::new();
        let class_of_topic: Vec<usize> = subscribers
            .iter()
            .map(|s| {
                let next = class_ids.len();
                *class_ids.entry(s.as_slice()).or_insert(next)
            })
            .collect();
        let member_classes: Vec<Vec<usize>> = p
            .member_topics
            .iter()
            .map(|topics| {
                let mut classes: Vec<usize> = topics.iter().map(|&t| class_of_topic[t]).collect();
                classes.sort_unstable();
                classes.dedup();
                classes
            })
            .collect();
        let size: Vec<usize> = held.iter().map(Vec::len).collect();
        let mut classes: Vec<Class> = (0..class_ids.len()).map(|_| Class::default()).collect();
        for (m, member_classes) in member_classes.iter().enumerate() {
            for &c in member_classes {
                classes[c].subscribers.insert((size[m], m));
            }
        }
        for (m, tps) in held.iter().enumerate() {
            for &(t, _) in tps {
                let class = &mut classes[class_of_topic[t]];
                *class.held.entry(m).or_default() += 1;
                class.holders.insert((size[m], m));
            }
        }
        let mut loads = Self {
            sorted: size.iter().enumerate().map(|(m, &s)| (s, m)).collect(),
            active: vec![true; size.len()],
            size,
            class_of_topic,
            member_classes,
            classes,
            unbalanced: 0,
        };
        for c in 0..loads.classes.len() {
            loads.refresh(c);
        }
        loads
    }

    /// The largest number of partitions an active member holds (0 with no active member).
    pub(super) fn max_size(&self) -> usize {
        self.sorted.last().map_or(0, |&(s, _)| s)
    }

    /// The active subscriber of `topic` holding the fewest partitions (the lowest member index
    /// among equals).
    pub(super) fn least_loaded(&self, topic: usize) -> Option<(usize, usize)> {
        let class = &self.classes[self.class_of_topic[topic]];
        class.subscribers.first().map(|&(size, m)| (m, size))
    }

    /// Takes `member` out of the balancing: it no longer counts as a subscriber or holder.
    pub(super) fn deactivate(&mut self, member: usize) {
        if !std::mem::replace(&mut self.active[member], false) {
            return;
        }
        let key = (self.size[member], member);
        self.sorted.remove(&key);
        for i in 0..self.member_classes[member].len() {
            let c = self.member_classes[member][i];
            self.classes[c].subscribers.remove(&key);
            self.classes[c].holders.remove(&key);
            self.refresh(c);
        }
    }

    /// Whether no partition can move to an active subscriber with at least two fewer
    /// partitions than its active holder.
    pub(super) fn is_balanced(&self) -> bool {
        match (self.sorted.first(), self.sorted.last()) {
            (Some(&(min, _)), Some(&(max, _))) if min + 1 < max => self.unbalanced == 0,
            _ => true,
        }
    }

    /// `member` now holds one more partition, of `topic`.
    pub(super) fn add(&mut self, member: usize, topic: usize) {
        self.resize(member, self.size[member] + 1);
        let c = self.class_of_topic[topic];
        let held = self.classes[c].held.entry(member).or_default();
        *held += 1;
        if *held == 1 && self.active[member] {
            self.classes[c].holders.insert((self.size[member], member));
            self.refresh(c);
        }
    }

    /// `member` no longer holds one of its partitions of `topic`.
    pub(super) fn remove(&mut self, member: usize, topic: usize) {
        let c = self.class_of_topic[topic];
        let class = &mut self.classes[c];
        let held = class
            .held
            .get_mut(&member)
            .expect("member holds a partition of the topic");
        *held -= 1;
        if *held == 0 {
            class.held.remove(&member);
            if self.active[member] {
                class.holders.remove(&(self.size[member], member));
                self.refresh(c);
            }
        }
        self.resize(member, self.size[member] - 1);
    }

    fn resize(&mut self, member: usize, new: usize) {
        let old = std::mem::replace(&mut self.size[member], new);
        if !self.active[member] {
            return;
        }
        self.sorted.remove(&(old, member));
        self.sorted.insert((new, member));
        for i in 0..self.member_classes[member].len() {
            let c = self.member_classes[member][i];
            let class = &mut self.classes[c];
            class.subscribers.remove(&(old, member));
            class.subscribers.insert((new, member));
            if class.holders.remove(&(old, member)) {
                class.holders.insert((new, member));
            }
            self.refresh(c);
        }
    }

    fn refresh(&mut self, c: usize) {
        let class = &mut self.classes[c];
        let unbalanced = match (class.subscribers.first(), class.holders.last()) {
            (Some(&(least, _)), Some(&(most, _))) => least + 1 < most,
            _ => false,
        };
        if unbalanced != class.unbalanced {
            class.unbalanced = unbalanced;
            if unbalanced {
                self.unbalanced += 1;
            } else {
                self.unbalanced -= 1;
            }
        }
    }
}
