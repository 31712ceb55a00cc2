//! The `roundrobin` assignor (Java's `RoundRobinAssignor`, librdkafka's `roundrobin`).
//!
//! All partitions of all subscribed topics, sorted by topic then partition, are dealt to the
//! members in Java's `MemberInfo` order like cards around a table: each goes to the next member in
//! the circle that subscribes to its topic, members that do not being skipped.

use std::collections::BTreeMap;

use super::{Assignor, GroupInput, MemberSubscription, RebalanceProtocol};
use crate::group::protocol::Assignment;

/// The `roundrobin` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
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
        let n = input.members.len();
        let mut out = vec![Vec::new(); n];
        let mut circle: Vec<usize> = (0..n).collect();
        circle.sort_by(|&a, &b| input.member_info_order(a, b));
        let mut next = 0;
        for (topic, &(_, count)) in input.topics.iter().enumerate() {
            // Every topic in `input.topics` has a subscriber, so the search ends.
            for partition in 0..count {
                while !input.subscribes(circle[next], topic) {
                    next = (next + 1) % n;
                }
                out[circle[next]].push((topic, partition));
                next = (next + 1) % n;
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
    fn javadoc_example_equal_subscriptions_alternate() {
        // RoundRobinAssignor javadoc: C0 gets [t0p0, t0p2, t1p1], C1 gets [t0p1, t1p0, t1p2].
        let result = RoundRobinAssignor.assign(
            &topics(&[("t0", 3), ("t1", 3)]),
            &[member("C1", &["t0", "t1"]), member("C0", &["t0", "t1"])],
        );
        assert_eq!(render(&result), "C0=t0:0,t0:2,t1:1 C1=t0:1,t1:0,t1:2");
    }

    #[test]
    fn javadoc_example_members_not_subscribed_are_skipped() {
        // C0: t0; C1: t0, t1; C2: t0, t1, t2 with 1, 2 and 3 partitions.
        let result = RoundRobinAssignor.assign(
            &topics(&[("t0", 1), ("t1", 2), ("t2", 3)]),
            &[
                member("C0", &["t0"]),
                member("C1", &["t0", "t1"]),
                member("C2", &["t0", "t1", "t2"]),
            ],
        );
        assert_eq!(render(&result), "C0=t0:0 C1=t1:0 C2=t1:1,t2:0,t2:1,t2:2");
    }

    #[test]
    fn results_equal_java_round_robin_assignor() {
        assert_eq!(check_java_cases("roundrobin", &RoundRobinAssignor), 0);
    }

    proptest! {
        #[test]
        fn roundrobin_assigns_every_partition_once_to_subscribers_deterministically(group in arb_group()) {
            check_complete_and_deterministic(&RoundRobinAssignor, &group)?;
        }

        #[test]
        fn roundrobin_is_balanced_for_equal_subscriptions(group in arb_equal_group()) {
            let result = RoundRobinAssignor.assign(&group.topics, &group.members);
            check_balanced(&result)?;
        }
    }
}
