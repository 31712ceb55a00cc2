//! The `range` assignor (Java's `RangeAssignor`, librdkafka's `range`).
//!
//! Topic by topic, the members subscribed to the topic are put in Java's `MemberInfo` order (static
//! members by `group.instance.id` first, then the others by member id) and the partitions are
//! cut into contiguous ranges: with `n` partitions and `m` members each gets `n / m`, and the
//! first `n % m` get one more. Rack-aware range assignment is not implemented.

use std::collections::BTreeMap;

use super::{Assignor, GroupInput, MemberSubscription, RebalanceProtocol};
use crate::group::protocol::Assignment;

/// The `range` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn rebalance_protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> BTreeMap<String, Assignment> {
        let input = GroupInput::new(partitions_per_topic, members);
        let mut out = vec![Vec::new(); input.members.len()];
        for (topic, &(_, count)) in input.topics.iter().enumerate() {
            let mut consumers: Vec<usize> = (0..input.members.len())
                .filter(|&m| input.subscribes(m, topic))
                .collect();
            if consumers.is_empty() {
                continue;
            }
            consumers.sort_by(|&a, &b| input.member_info_order(a, b));
            let n = consumers.len() as i32;
            let (per_member, extra) = (count / n, count % n);
            let mut next = 0;
            for (i, &member) in (0..).zip(&consumers) {
                let take = per_member + i32::from(i < extra);
                out[member].extend((next..next + take).map(|p| (topic, p)));
                next += take;
            }
        }
        input.assignments(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::group::assignor::test_support::*;

    #[test]
    fn javadoc_example_two_members_two_topics_of_three() {
        // RangeAssignor javadoc: C0 gets [t0p0, t0p1, t1p0, t1p1], C1 gets [t0p2, t1p2].
        let result = RangeAssignor.assign(
            &topics(&[("t0", 3), ("t1", 3)]),
            &[member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])],
        );
        assert_eq!(render(&result), "C0=t0:0,t0:1,t1:0,t1:1 C1=t0:2,t1:2");
    }

    #[test]
    fn first_members_get_the_extra_partitions() {
        let result = RangeAssignor.assign(
            &topics(&[("t", 8)]),
            &[
                member("c", &["t"]),
                member("a", &["t"]),
                member("b", &["t"]),
            ],
        );
        assert_eq!(render(&result), "a=t:0,t:1,t:2 b=t:3,t:4,t:5 c=t:6,t:7");
    }

    #[test]
    fn only_subscribers_of_a_topic_share_it() {
        let result = RangeAssignor.assign(
            &topics(&[("t0", 2), ("t1", 3), ("unsubscribed", 4)]),
            &[
                member("a", &["t0"]),
                member("b", &["t0", "t1"]),
                member("c", &["missing"]),
            ],
        );
        assert_eq!(render(&result), "a=t0:0 b=t0:1,t1:0,t1:1,t1:2 c=");
    }

    #[test]
    fn static_members_keep_their_ranges_across_member_id_changes() {
        let with_ids = |a: &str, b: &str| {
            let mut m0 = member(a, &["t"]);
            m0.group_instance_id = Some("i0".into());
            let mut m1 = member(b, &["t"]);
            m1.group_instance_id = Some("i1".into());
            let result = RangeAssignor.assign(&topics(&[("t", 3)]), &[m0, m1]);
            (result[a].clone(), result[b].clone())
        };
        assert_eq!(with_ids("x", "y"), with_ids("y", "x"));
        assert_eq!(
            render(&RangeAssignor.assign(
                &topics(&[("t", 3)]),
                &[
                    member("dynamic-a", &["t"]),
                    static_member("dynamic-z", "instance", &["t"]),
                ]
            )),
            "dynamic-a=t:2 dynamic-z=t:0,t:1"
        );
    }

    #[test]
    fn results_equal_java_range_assignor() {
        assert_eq!(check_java_cases("range", &RangeAssignor), 0);
    }

    proptest! {
        #[test]
        fn range_assigns_every_partition_once_to_subscribers_deterministically(group in arb_group()) {
            check_complete_and_deterministic(&RangeAssignor, &group)?;
        }

        #[test]
        fn range_is_balanced_per_topic(group in arb_group()) {
            let result = RangeAssignor.assign(&group.topics, &group.members);
            for topic in group.topics.keys() {
                let counts: Vec<usize> = group.members.iter()
                    .filter(|m| m.subscription.topics.contains(topic))
                    .map(|m| count_of_topic(&result[&m.member_id], topic))
                    .collect();
                if let (Some(min), Some(max)) = (counts.iter().min(), counts.iter().max()) {
                    prop_assert!(max - min <= 1, "{topic}: {counts:?}");
                }
            }
        }
    }
}
