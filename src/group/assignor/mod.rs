//! Partition assignors run by the group leader: `range`, `roundrobin` and `cooperative-sticky`,
//! spelled and behaving as in the Java client (and librdkafka), so a group can mix clients and
//! any of them can lead.
//!
//! Every assignor is deterministic: the same partition counts and subscriptions give the same
//! assignment whatever the order of `members`. Rack-aware assignment (KIP-881) is not
//! implemented: `rack_id` is ignored, which is what Java does whenever consumer racks or
//! partition replica racks are unknown.
//!
//! Strings (member ids, group instance ids, topics) are ordered by code point; Java orders by
//! UTF-16 unit, which differs only between characters above U+FFFF and characters in
//! U+E000..=U+FFFF.

mod cooperative_sticky;
mod range;
mod round_robin;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

pub use self::cooperative_sticky::CooperativeStickyAssignor;
pub use self::range::RangeAssignor;
pub use self::round_robin::RoundRobinAssignor;
use super::protocol::{Assignment, Subscription, TopicPartitions};

/// One member of the group as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The member's decoded subscription for the chosen assignor.
    pub subscription: Subscription,
}

/// How a group moves partitions between members during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before joining.
    Eager,
    /// Members keep their partitions across the rebalance and revoke only those the assignment
    /// takes away; a moved partition is assigned in a follow-up rebalance (KIP-429).
    Cooperative,
}

/// A partition assignment strategy.
pub trait Assignor: Send + Sync {
    /// Protocol name as Java/librdkafka spell it: "range", "roundrobin", "cooperative-sticky".
    fn name(&self) -> &'static str;

    /// EAGER or COOPERATIVE (KIP-429).
    fn rebalance_protocol(&self) -> RebalanceProtocol;

    /// The user data this member puts in its own [`Subscription`] for this assignor, given the
    /// partitions it owns and the generation it last joined (-1 before the first). `None` for
    /// assignors without user data.
    fn subscription_user_data(
        &self,
        _owned: &[TopicPartitions],
        _generation: i32,
    ) -> Option<Bytes> {
        None
    }

    /// The leader's job: every partition of every subscribed topic to exactly one member
    /// subscribed to it (for cooperative assignors, partitions that must first be revoked are
    /// left out until the follow-up rebalance).
    ///
    /// `partitions_per_topic` holds partition counts; topics nobody subscribes to are ignored,
    /// and subscribed topics missing from it are skipped (as Java skips topics without
    /// metadata). Member ids must be unique; if one repeats, its last entry counts. The result
    /// has an entry for every member, its partitions sorted by topic then partition.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Assignment>;
}

/// The assignor Java and librdkafka call `name`, if this crate implements it.
pub fn assignor_by_name(name: &str) -> Option<Box<dyn Assignor>> {
    match name {
        "range" => Some(Box::new(RangeAssignor)),
        "roundrobin" => Some(Box::new(RoundRobinAssignor)),
        "cooperative-sticky" => Some(Box::new(CooperativeStickyAssignor)),
        _ => None,
    }
}

/// A topic partition inside an assignor: (index into [`GroupInput::topics`], partition).
/// Topic indexes follow topic-name order, so tuples sort by topic name then partition.
type Tp = (usize, i32);

/// The assignors' common view of their input.
struct GroupInput<'a> {
    /// Members sorted by member id, one per id.
    members: Vec<&'a MemberSubscription>,
    /// The topics some member subscribes to that have partitions, sorted by name, with their
    /// partition counts.
    topics: Vec<(&'a str, i32)>,
    /// Index into `topics` of each topic name.
    topic_indexes: HashMap<&'a str, usize>,
    /// For each member, the indexes into `topics` it subscribes to (sorted, unique).
    member_topics: Vec<Vec<usize>>,
    /// Members in the order the Java leader iterates its `HashMap<String, Subscription>`: by
    /// bucket of the member id's `String.hashCode`, then (where Java keeps JoinGroup order) by
    /// member id.
    java_order: Vec<usize>,
    /// Position of each member in `java_order`.
    java_rank: Vec<usize>,
}

impl<'a> GroupInput<'a> {
    fn new(
        partitions_per_topic: &'a BTreeMap<String, i32>,
        members: &'a [MemberSubscription],
    ) -> Self {
        let by_id: BTreeMap<&str, &MemberSubscription> =
            members.iter().map(|m| (m.member_id.as_str(), m)).collect();
        let members: Vec<&MemberSubscription> = by_id.into_values().collect();
        let subscribed: HashSet<&str> = members
            .iter()
            .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
            .collect();
        let topics: Vec<(&str, i32)> = partitions_per_topic
            .iter()
            .filter(|&(topic, &count)| count > 0 && subscribed.contains(topic.as_str()))
            .map(|(topic, &count)| (topic.as_str(), count))
            .collect();
        let topic_indexes: HashMap<&str, usize> = topics
            .iter()
            .enumerate()
            .map(|(i, &(name, _))| (name, i))
            .collect();
        let member_topics = members
            .iter()
            .map(|m| {
                let mut idx: Vec<usize> = m
                    .subscription
                    .topics
                    .iter()
                    .filter_map(|t| topic_indexes.get(t.as_str()).copied())
                    .collect();
                idx.sort_unstable();
                idx.dedup();
                idx
            })
            .collect();
        let capacity = java_hash_capacity(members.len());
        let mut java_order: Vec<usize> = (0..members.len()).collect();
        java_order.sort_by_key(|&m| {
            (
                java_bucket(java_string_hash(&members[m].member_id), capacity),
                m,
            )
        });
        let mut java_rank = vec![0; members.len()];
        for (rank, &m) in java_order.iter().enumerate() {
            java_rank[m] = rank;
        }
        Self {
            members,
            topics,
            topic_indexes,
            member_topics,
            java_order,
            java_rank,
        }
    }

    /// Java's `AbstractPartitionAssignor.MemberInfo` order of members `a` and `b`: static
    /// members first, by `group.instance.id`, then dynamic members by member id. Java's sort is
    /// stable, so static members sharing an instance id stay in map order.
    fn member_info_order(&self, a: usize, b: usize) -> Ordering {
        let (x, y) = (self.members[a], self.members[b]);
        match (&x.group_instance_id, &y.group_instance_id) {
            (Some(i), Some(j)) => i.cmp(j).then(self.java_rank[a].cmp(&self.java_rank[b])),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x.member_id.cmp(&y.member_id),
        }
    }

    fn topic_index(&self, topic: &str) -> Option<usize> {
        self.topic_indexes.get(topic).copied()
    }

    fn subscribes(&self, member: usize, topic: usize) -> bool {
        self.member_topics[member].binary_search(&topic).is_ok()
    }

    /// Turns per-member partition lists (indexed like `members`) into the result map.
    fn assignments(&self, per_member: Vec<Vec<Tp>>) -> BTreeMap<String, Assignment> {
        self.members
            .iter()
            .zip(per_member)
            .map(|(member, mut tps)| {
                tps.sort_unstable();
                let mut partitions: Vec<TopicPartitions> = Vec::new();
                for (t, p) in tps {
                    let topic = self.topics[t].0;
                    match partitions.last_mut() {
                        Some(last) if last.topic == topic => last.partitions.push(p),
                        _ => partitions.push(TopicPartitions::new(topic, [p])),
                    }
                }
                let assignment = Assignment {
                    partitions,
                    user_data: None,
                };
                (member.member_id.clone(), assignment)
            })
            .collect()
    }
}

/// Java's `String.hashCode`.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Table size of a default `java.util.HashMap` that has held at most `max_len` entries.
fn java_hash_capacity(max_len: usize) -> usize {
    let mut capacity = 16;
    while max_len > capacity / 4 * 3 {
        capacity *= 2;
    }
    capacity
}

/// The bucket a key of hash `hash` lands in (Java's `HashMap.hash` spreading).
fn java_bucket(hash: i32, capacity: usize) -> usize {
    let h = hash as u32;
    (h ^ (h >> 16)) as usize & (capacity - 1)
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignors_are_found_by_their_java_names() {
        for (name, protocol) in [
            ("range", RebalanceProtocol::Eager),
            ("roundrobin", RebalanceProtocol::Eager),
            ("cooperative-sticky", RebalanceProtocol::Cooperative),
        ] {
            let assignor = assignor_by_name(name).unwrap();
            assert_eq!(assignor.name(), name);
            assert_eq!(assignor.rebalance_protocol(), protocol);
        }
        assert!(assignor_by_name("sticky").is_none());
        assert!(assignor_by_name("Range").is_none());
    }

    #[test]
    fn eager_assignors_send_no_user_data() {
        assert_eq!(RangeAssignor.subscription_user_data(&[], 3), None);
        assert_eq!(RoundRobinAssignor.subscription_user_data(&[], 3), None);
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let m = |id: &str, inst: Option<&str>| MemberSubscription {
            member_id: id.into(),
            group_instance_id: inst.map(Into::into),
            subscription: Subscription::default(),
        };
        let topics = BTreeMap::new();
        let members = [
            m("a", None),
            m("z", Some("i2")),
            m("b", None),
            m("y", Some("i1")),
        ];
        let input = GroupInput::new(&topics, &members);
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by(|&a, &b| input.member_info_order(a, b));
        let ids: Vec<&str> = order
            .iter()
            .map(|&i| input.members[i].member_id.as_str())
            .collect();
        assert_eq!(ids, ["y", "z", "a", "b"]);
    }

    #[test]
    fn java_hash_map_order_is_reproduced() {
        // Printed by OpenJDK 17: "consumer-1".hashCode() and the key order of a
        // `new HashMap<String, Integer>()` holding these keys.
        assert_eq!(java_string_hash("consumer-1"), -166_239_206);
        for java in [
            &["consumer-c", "consumer-b", "consumer-a"][..],
            &["a", "b", "c"],
            &["zz", "consumer-40aa2", "m9", "rdkafka-549dddf4-2e9c", "m21"],
        ] {
            let topics = BTreeMap::new();
            let members: Vec<MemberSubscription> = java
                .iter()
                .rev()
                .map(|&id| MemberSubscription {
                    member_id: id.into(),
                    group_instance_id: None,
                    subscription: Subscription::default(),
                })
                .collect();
            let input = GroupInput::new(&topics, &members);
            let ours: Vec<&str> = input
                .java_order
                .iter()
                .map(|&m| input.members[m].member_id.as_str())
                .collect();
            assert_eq!(ours, java);
        }
        assert_eq!(java_hash_capacity(12), 16);
        assert_eq!(java_hash_capacity(13), 32);
    }
}
