//! The `cooperative-sticky` assignor (Java's `CooperativeStickyAssignor`, KIP-429; librdkafka's
//! `cooperative-sticky`).
//!
//! A port of Java's `AbstractStickyAssignor` followed by the cooperative adjustment:
//!
//! * **Previous ownership.** Each member reports the partitions it owns and their generation
//!   (`owned_partitions` and `generation_id` of the v2+ subscription; members with an older
//!   subscription carry the generation as a big-endian int32 in `user_data`, which is what
//!   [`Assignor::subscription_user_data`] produces). When two members claim a partition, the
//!   higher generation keeps it; a claim by two members of the same generation is void.
//! * **Equal subscriptions** (every member subscribes to the same topics): Java's "constrained"
//!   algorithm. With `P` partitions and `N` members everyone gets `P / N` or one more, and
//!   exactly `P % N` members get one more. A member keeps its owned partitions up to that quota
//!   (lowest partition numbers first); the rest, and partitions nobody may keep, are dealt round
//!   robin to the members below quota, in member id order.
//! * **Other subscriptions**: Java's "general" algorithm: keep what is still owned and
//!   subscribed, give each unassigned partition to the least loaded subscriber, then move
//!   partitions from members with at least two more than another subscriber of the topic,
//!   preferring to return a partition to its previous-generation owner, and undoing the moves if
//!   they did not improve the balance.
//! * **Cooperative adjustment.** A partition that goes to a member other than the one that owns
//!   it now is left out of this assignment: its owner sees it missing and revokes it, which
//!   triggers the follow-up rebalance where it is assigned. With equal subscriptions the
//!   follow-up round completes the assignment; with different ones the general algorithm may
//!   rebalance again in it, so (as with Java) a second follow-up can be needed.
//!
//! Where Java's choice depends on `HashMap` iteration order (which members over their quota keep
//! the extra partition; which partition a movement picks), we reproduce that order: Java's
//! `String.hashCode`/`TopicPartition.hashCode` buckets for a default-sized map. Members in the
//! same bucket are taken in member id order, where Java takes them in JoinGroup order.
//!
//! Deviations from Java, all on inputs Java mishandles:
//! * Subscriptions are "equal" when their topic *sets* are equal (Java compares a list against
//!   the first member's set, so an empty or repeated subscription can change the algorithm
//!   depending on map order).
//! * Owned partitions beyond a topic's partition count are ignored (Java keeps them).
//! * In the general algorithm a partition is only handed back to its previous-generation owner
//!   if that member still subscribes to the topic and takes part in the balancing (Java fails
//!   with a `NullPointerException` or assigns an unsubscribed topic).
//! * The balancing loop stops after a bounded number of moves.
//! * Java's assignor instance keeps the highest generation it ever saw; we look only at the
//!   current members (the same whenever generations only grow).
//!
//! Rack-aware assignment is not implemented (`rack_id` is ignored).
//!
//! Layout: this module resolves ownership claims ([`Prepared`]) and applies the cooperative
//! adjustment; `constrained` is the equal-subscriptions algorithm, `general` the other one,
//! with `load` (partition counts indexed by topic class, for the least loaded subscriber and
//! the balance check) and `movements` (Java's `PartitionMovements`). Both algorithms cost
//! O(partitions + subscriptions) plus, in the general one, O(log members) per topic class of
//! the two members of each move: 100,000 partitions × 1,000 members take well under a second
//! (`bench/assignor`).

mod constrained;
mod general;
mod load;
mod movements;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use self::{constrained::constrained, general::General};
use super::{Assignor, GroupInput, MemberSubscription, RebalanceProtocol, Tp, java_string_hash};
use crate::group::protocol::{Assignment, Subscription, TopicPartitions};

/// The `cooperative-sticky` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    /// The generation as a big-endian int32, as Java's `CooperativeStickyAssignor` encodes it
    /// (-1, `ffffffff`, before the first assignment).
    fn subscription_user_data(&self, _owned: &[TopicPartitions], generation: i32) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(&generation.to_be_bytes()))
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Assignment> {
        let input = GroupInput::new(partitions_per_topic, members);
        if input.members.is_empty() {
            return BTreeMap::new();
        }
        let prepared = Prepared::new(&input);
        let (mut assignment, transferring) = if prepared.all_subscriptions_equal {
            let (assignment, transferring) = constrained(&prepared);
            (assignment, transferring)
        } else {
            let assignment = General::run(&prepared);
            let transferring = transferring_ownership(&prepared.owned_raw, &assignment);
            (assignment, transferring)
        };
        for (tp, member) in transferring {
            if let Some(i) = assignment[member].iter().position(|&x| x == tp) {
                assignment[member].remove(i);
            }
        }
        input.assignments(assignment)
    }
}

/// The generation Java's `CooperativeStickyAssignor.memberData` reads for a member: the v2+
/// `generation_id` when set, else the int32 in the user data (-1 when unreadable), else none.
fn member_generation(subscription: &Subscription) -> Option<i32> {
    if subscription.generation_id >= 0 {
        return Some(subscription.generation_id);
    }
    let data = subscription.user_data.as_ref()?;
    Some(match data.get(..4) {
        Some(b) => i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => -1,
    })
}

/// What both algorithms start from.
struct Prepared {
    members: usize,
    /// Partition count per topic index.
    counts: Vec<i32>,
    /// Java hash of each topic name.
    topic_hashes: Vec<i32>,
    /// Subscribed topic indexes per member.
    member_topics: Vec<Vec<usize>>,
    /// Members in the order Java iterates its `HashMap<String, Subscription>`.
    java_order: Vec<usize>,
    /// Each member's claimed partitions that exist (Java's raw `ownedPartitions`).
    owned_raw: Vec<Vec<Tp>>,
    /// Each member's generation as Java's `memberData` reads it.
    generation: Vec<Option<i32>>,
    max_generation: i32,
    all_subscriptions_equal: bool,
    /// Each member's owned partitions after resolving conflicting claims.
    owned: Vec<Vec<Tp>>,
    /// Partitions claimed by two members of the same generation.
    multiply_owned: HashSet<Tp>,
}

impl Prepared {
    fn new(input: &GroupInput<'_>) -> Self {
        let members = input.members.len();
        let counts: Vec<i32> = input.topics.iter().map(|&(_, n)| n).collect();
        let topic_hashes = input
            .topics
            .iter()
            .map(|&(t, _)| java_string_hash(t))
            .collect();
        let owned_raw: Vec<Vec<Tp>> = input
            .members
            .iter()
            .map(|m| {
                let mut owned = Vec::new();
                for tp in &m.subscription.owned_partitions {
                    if let Some(t) = input.topic_index(&tp.topic) {
                        owned.extend(
                            tp.partitions
                                .iter()
                                .filter(|&&p| p >= 0 && p < counts[t])
                                .map(|&p| (t, p)),
                        );
                    }
                }
                owned
            })
            .collect();
        let generation: Vec<Option<i32>> = input
            .members
            .iter()
            .map(|m| member_generation(&m.subscription))
            .collect();
        let java_order = input.java_order.clone();

        let all_subscriptions_equal = all_topic_sets_equal(input);

        // AbstractStickyAssignor.allSubscriptionsEqual: resolve conflicting claims.
        let mut max_generation = -1;
        let mut owned: Vec<Vec<Tp>> = vec![Vec::new(); members];
        let mut multiply_owned = HashSet::new();
        let mut previous_owner: HashMap<Tp, usize> = HashMap::new();
        for &m in &java_order {
            let member_generation = generation[m].unwrap_or(-1);
            max_generation = max_generation.max(member_generation);
            for &tp in &owned_raw[m] {
                let Some(&other) = previous_owner.get(&tp) else {
                    owned[m].push(tp);
                    previous_owner.insert(tp, m);
                    continue;
                };
                // Java compares with the other member's subscription generation here.
                let other_generation = input.members[other].subscription.generation_id.max(-1);
                if member_generation >= other_generation {
                    if member_generation == other_generation {
                        multiply_owned.insert(tp);
                    } else {
                        owned[m].push(tp);
                    }
                    if let Some(i) = owned[other].iter().position(|&x| x == tp) {
                        owned[other].remove(i);
                    }
                    previous_owner.insert(tp, m);
                }
            }
        }

        Self {
            members,
            counts,
            topic_hashes,
            member_topics: input.member_topics.clone(),
            java_order,
            owned_raw,
            generation,
            max_generation,
            all_subscriptions_equal,
            owned,
            multiply_owned,
        }
    }

    fn total_partitions(&self) -> usize {
        self.counts.iter().map(|&n| n as usize).sum()
    }

    fn subscribes(&self, member: usize, topic: usize) -> bool {
        self.member_topics[member].binary_search(&topic).is_ok()
    }

    fn max_assignment_size(&self, member: usize) -> usize {
        self.member_topics[member]
            .iter()
            .map(|&t| self.counts[t] as usize)
            .sum()
    }
}

/// Whether every member subscribes to the same set of topics (known to the metadata or not).
fn all_topic_sets_equal(input: &GroupInput<'_>) -> bool {
    // Known topics compare as the indexes already resolved; only the rest as strings.
    let unknown = |m: usize| -> BTreeSet<&str> {
        input.members[m]
            .subscription
            .topics
            .iter()
            .map(String::as_str)
            .filter(|t| input.topic_index(t).is_none())
            .collect()
    };
    let first = unknown(0);
    (1..input.members.len())
        .all(|m| input.member_topics[m] == input.member_topics[0] && unknown(m) == first)
}

/// Java's `CooperativeStickyAssignor.computePartitionsTransferringOwnership`: partitions
/// assigned to a member that does not claim them while a member claiming them loses them.
fn transferring_ownership(owned_raw: &[Vec<Tp>], assignment: &[Vec<Tp>]) -> HashMap<Tp, usize> {
    let mut added = HashMap::new();
    let mut revoked: HashSet<Tp> = HashSet::new();
    for (m, (owned, assigned)) in owned_raw.iter().zip(assignment).enumerate() {
        let owned_set: HashSet<&Tp> = owned.iter().collect();
        let assigned_set: HashSet<&Tp> = assigned.iter().collect();
        added.extend(
            assigned
                .iter()
                .filter(|tp| !owned_set.contains(tp))
                .map(|&tp| (tp, m)),
        );
        revoked.extend(owned.iter().filter(|tp| !assigned_set.contains(tp)));
    }
    added.retain(|tp, _| revoked.contains(tp));
    added
}
