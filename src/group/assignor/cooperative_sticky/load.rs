//! How many partitions each member holds, indexed so that the general algorithm's questions
//! ("who is the least loaded subscriber of this topic?", "is the assignment balanced?") cost a
//! lookup instead of a scan of every member and partition.
//!
//! Topics with the same set of subscribers form one *class* ([`TopicClasses`]); every question
//! is the same for all topics of a class.
//!
//! While unassigned partitions are handed out, sizes only grow: [`Growing`] keeps one lazy
//! min-heap per class whose entries may lag behind (never exceed) the member's size, corrected
//! when they reach the top, so a handout costs O(log members) amortised whatever the number of
//! classes a member belongs to.
//!
//! For the balancing, [`Loads`] keeps per class:
//! * its *active* subscribers (members taking part in the balancing) by (size, member);
//! * how many of its partitions each member holds, and the active holders by (size, member);
//! * whether it is *unbalanced*: its least loaded active subscriber has at least two fewer
//!   partitions than its most loaded active holder (a partition of the class could move to
//!   that subscriber and improve the balance).
//!
//! Invariants of [`Loads`], after every public method: `size[m]` is the number of partitions
//! `m` holds; every active member is in `sorted` and in each of its classes' `subscribers`
//! with its current size, and in `holders` of each class it holds a partition of; inactive
//! members are in none of them; `unbalanced` counts the classes whose flag is set. The
//! assignment is balanced (Java's `isBalanced`, restricted to active members) exactly when the
//! active sizes differ by at most one or no class is unbalanced.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use super::Prepared;

/// Topics grouped by their set of subscribers.
#[derive(Debug)]
pub(super) struct TopicClasses {
    class_of_topic: Vec<usize>,
    /// The classes each member subscribes to.
    member_classes: Vec<Vec<usize>>,
    /// The subscribers of each class.
    subscribers: Vec<Vec<usize>>,
}

impl TopicClasses {
    pub(super) fn new(p: &Prepared) -> Self {
        let mut by_topic: Vec<Vec<usize>> = vec![Vec::new(); p.counts.len()];
        for (m, topics) in p.member_topics.iter().enumerate() {
            for &t in topics {
                by_topic[t].push(m);
            }
        }
        let mut class_ids: HashMap<&[usize], usize> = HashMap::new();
        let mut subscribers: Vec<Vec<usize>> = Vec::new();
        let class_of_topic: Vec<usize> = by_topic
            .iter()
            .map(|s| {
                *class_ids.entry(s.as_slice()).or_insert_with(|| {
                    subscribers.push(s.clone());
                    subscribers.len() - 1
                })
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
        Self {
            class_of_topic,
            member_classes,
            subscribers,
        }
    }
}

/// The least loaded subscriber of a topic while partitions are only handed out (sizes only
/// grow): one min-heap of (size, member) per class whose entries may be stale, but never
/// above the member's size, so an entry at the top that is up to date is the minimum.
#[derive(Debug)]
pub(super) struct Growing {
    heaps: Vec<BinaryHeap<Reverse<(usize, usize)>>>,
}

impl Growing {
    pub(super) fn new(classes: &TopicClasses, size: &[usize]) -> Self {
        let heaps = classes
            .subscribers
            .iter()
            .map(|members| members.iter().map(|&m| Reverse((size[m], m))).collect())
            .collect();
        Self { heaps }
    }

    /// The subscriber of `topic` holding the fewest partitions (the lowest member index among
    /// equals), counted as holding one more from now on (`size` is updated).
    pub(super) fn give(
        &mut self,
        classes: &TopicClasses,
        topic: usize,
        size: &mut [usize],
    ) -> Option<usize> {
        let heap = &mut self.heaps[classes.class_of_topic[topic]];
        loop {
            let mut top = heap.peek_mut()?;
            let Reverse((s, m)) = *top;
            if s == size[m] {
                size[m] += 1;
                *top = Reverse((size[m], m));
                return Some(m);
            }
            // Stale: correct it and look at the top again.
            *top = Reverse((size[m], m));
        }
    }
}

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
    topics: TopicClasses,
    classes: Vec<Class>,
    /// Classes with `unbalanced` set.
    unbalanced: usize,
}

impl Loads {
    /// Members holding `held` (partitions of topics they subscribe to); those with `fixed`
    /// set take no part.
    pub(super) fn new(topics: TopicClasses, held: &[Vec<(usize, i32)>], fixed: &[bool]) -> Self {
        let size: Vec<usize> = held.iter().map(Vec::len).collect();
        let active: Vec<bool> = fixed.iter().map(|&f| !f).collect();
        let mut classes: Vec<Class> = (0..topics.subscribers.len())
            .map(|_| Class::default())
            .collect();
        for (c, members) in topics.subscribers.iter().enumerate() {
            classes[c].subscribers = members
                .iter()
                .filter(|&&m| active[m])
                .map(|&m| (size[m], m))
                .collect();
        }
        for (m, tps) in held.iter().enumerate() {
            for &(t, _) in tps {
                let class = &mut classes[topics.class_of_topic[t]];
                *class.held.entry(m).or_default() += 1;
                if active[m] {
                    class.holders.insert((size[m], m));
                }
            }
        }
        let mut loads = Self {
            sorted: (0..size.len())
                .filter(|&m| active[m])
                .map(|m| (size[m], m))
                .collect(),
            active,
            size,
            topics,
            classes,
            unbalanced: 0,
        };
        for c in 0..loads.classes.len() {
            loads.refresh(c);
        }
        loads
    }

    /// The active subscriber of `topic` holding the fewest partitions (the lowest member index
    /// among equals).
    pub(super) fn least_loaded(&self, topic: usize) -> Option<(usize, usize)> {
        let class = &self.classes[self.topics.class_of_topic[topic]];
        class.subscribers.first().map(|&(size, m)| (m, size))
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
        let c = self.topics.class_of_topic[topic];
        let held = self.classes[c].held.entry(member).or_default();
        *held += 1;
        if *held == 1 && self.active[member] {
            self.classes[c].holders.insert((self.size[member], member));
            self.refresh(c);
        }
    }

    /// `member` no longer holds one of its partitions of `topic`.
    pub(super) fn remove(&mut self, member: usize, topic: usize) {
        let c = self.topics.class_of_topic[topic];
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
        for i in 0..self.topics.member_classes[member].len() {
            let c = self.topics.member_classes[member][i];
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
