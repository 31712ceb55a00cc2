//! One JoinGroup / SyncGroup round of a member, and the leader's run of the assignor.
//!
//! Eager protocols revoke everything before joining; cooperative-sticky (KIP-429) keeps the
//! owned partitions, reports them in the subscription, and releases only what moves — which the
//! next round then assigns to its new owner.
//!
//! The leader runs the assignor on a blocking thread and keeps heartbeating meanwhile (as
//! Java's heartbeat thread does once JoinGroup succeeded): the coordinator evicts a member
//! that neither heartbeats nor sends SyncGroup within `session.timeout.ms`, so a long
//! assignment must not silence the group task. Followers need no heartbeats then: the
//! coordinator counts a member whose SyncGroup it holds as alive (and would queue a heartbeat
//! behind that SyncGroup on the same connection anyway).

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    future::Future,
    sync::atomic::Ordering,
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use crate::{
    error::{Error, KafkaCode, Result},
    state::buffer::Delivery,
    types::TopicPartition,
    wire::{
        heartbeat::HeartbeatRequest,
        join_group::{JoinGroupProtocol, JoinGroupRequest},
        sync_group::{SyncGroupAssignment, SyncGroupRequest},
    },
};

use super::{
    assignor::{MemberSubscription, RebalanceProtocol, assignor_by_name},
    protocol::{Assignment, Subscription, TopicPartitions},
};

use super::{
    coordinator::Lane,
    member::{Member, Next},
    phase::Phase,
};

impl Member {
    pub(super) fn protocol_kind(&self, name: Option<&str>) -> RebalanceProtocol {
        name.and_then(|n| self.assignors.iter().find(|a| a.name() == n))
            .map_or(RebalanceProtocol::Eager, |a| a.rebalance_protocol())
    }

    /// The topics the subscription matches now, with their partition counts.
    /// A listed topic that does not exist (yet, or any more) is reported once as an
    /// `UnknownTopicOrPartition` error event, as librdkafka does ("Subscribed topic not
    /// available"), and again if it comes back and disappears once more.
    /// A topic of the last resolution with a transient metadata error is kept.
    pub(super) async fn subscribed_topics(&self) -> Result<BTreeMap<String, i32>> {
        let previous = self.resolved.lock().expect("resolved lock").clone();
        let topics = self
            .subscribed
            .resolve(&self.shared.cluster, &previous)
            .await?;
        self.resolved
            .lock()
            .expect("resolved lock")
            .clone_from(&topics);
        let missing = self.subscribed.missing(&topics);
        let newly_missing: Vec<String> = {
            let mut reported = self.missing_reported.lock().expect("missing lock");
            reported.retain(|t| missing.contains(t));
            missing
                .into_iter()
                .filter(|t| reported.insert(t.clone()))
                .collect()
        };
        for topic in newly_missing {
            tracing::warn!(group = %self.group_id, %topic, "subscribed topic not available");
            self.shared.buffer.push(Delivery::Error {
                tp: None,
                error: Error::Kafka {
                    api: "Metadata",
                    code: KafkaCode(3),
                    context: Some(format!("subscribed topic {topic}")),
                },
            });
        }
        Ok(topics)
    }

    /// One JoinGroup/SyncGroup round; on success, the fetcher owns the new assignment.
    pub(super) async fn join_and_sync(&self) -> std::result::Result<BTreeMap<String, i32>, Next> {
        let cooperative = self
            .assignors
            .first()
            .is_some_and(|a| a.rebalance_protocol() == RebalanceProtocol::Cooperative);
        if !cooperative {
            let owned = std::mem::take(&mut self.identity.lock().expect("identity lock").owned);
            self.revoke_acknowledged(&owned).await;
        }
        let topics = self
            .subscribed_topics()
            .await
            .map_err(|e| self.classify(e))?;
        let (member_id, generation, owned) = {
            let id = self.identity.lock().expect("identity lock");
            (id.member_id.clone(), id.generation, id.owned.clone())
        };
        let owned_tp = to_topic_partitions(&owned);
        let protocols = self
            .assignors
            .iter()
            .map(|a| JoinGroupProtocol {
                name: a.name().to_owned(),
                metadata: Subscription {
                    topics: topics.keys().cloned().collect(),
                    user_data: a.subscription_user_data(&owned_tp, generation),
                    owned_partitions: if cooperative {
                        owned_tp.clone()
                    } else {
                        Vec::new()
                    },
                    generation_id: generation,
                    rack_id: None,
                }
                .encode(super::protocol::MAX_VERSION),
            })
            .collect();
        let rebalance_timeout = self.config.max_poll_interval;
        let join = JoinGroupRequest {
            group_id: self.group_id.clone(),
            session_timeout_ms: millis(self.config.session_timeout),
            rebalance_timeout_ms: millis(rebalance_timeout),
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: "consumer".into(),
            protocols,
            reason: None,
        };
        let long = rebalance_timeout + Duration::from_secs(5);
        tracing::debug!(group = %self.group_id, member = %join.member_id, "joining");
        // Commits keep the generation held until the join completes (see `phase`).
        self.phase.set(Phase::Joining { generation });
        let join_sent = self.now_ms();
        let joined = self
            .coordinator
            .request(&self.shared.cluster, Lane::LongPoll, join, long)
            .await
            .map_err(|e| self.classify(e))?;
        if let Some(code) = KafkaCode::from_code(joined.error_code) {
            if code.0 == 79 {
                // MEMBER_ID_REQUIRED: join again with the id the coordinator chose.
                self.identity.lock().expect("identity lock").member_id = joined.member_id.clone();
                return Err(Next::Rejoin);
            }
            return Err(self.classify_code("JoinGroup", code));
        }
        self.session_confirmed(join_sent);
        {
            let mut id = self.identity.lock().expect("identity lock");
            id.member_id = joined.member_id.clone();
            id.generation = joined.generation_id;
        }
        self.phase.set(Phase::Syncing);
        let protocol = joined.protocol_name.clone();
        tracing::debug!(
            group = %self.group_id,
            member = %joined.member_id,
            generation = joined.generation_id,
            leader = joined.leader == joined.member_id,
            ?protocol,
            "joined"
        );
        let assignments = if joined.leader == joined.member_id && !joined.skip_assignment {
            self.lead(protocol.as_deref(), &joined).await?
        } else {
            Vec::new()
        };
        let sync = SyncGroupRequest {
            group_id: self.group_id.clone(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: protocol.clone(),
            assignments,
        };
        let sync_sent = self.now_ms();
        let synced = self
            .coordinator
            .request(&self.shared.cluster, Lane::LongPoll, sync, long)
            .await
            .map_err(|e| self.classify(e))?;
        if let Some(code) = KafkaCode::from_code(synced.error_code) {
            return Err(self.classify_code("SyncGroup", code));
        }
        if !self.session_confirmed(sync_sent) {
            // Read after the session lapsed (a SIGSTOPped process): the group has moved on
            // without this member, and its assignment must not be applied. Lost, rejoin.
            tracing::warn!(
                group = %self.group_id,
                generation = joined.generation_id,
                "SyncGroup answer read after the session lapsed; rejoining"
            );
            return Err(Next::Lost {
                reset_member_id: false,
            });
        }
        let assignment = Assignment::decode(&synced.assignment).map_err(|e| {
            Next::Fatal(Error::Decode {
                source_desc: "SyncGroup assignment".into(),
                error: e,
            })
        })?;
        self.phase.set(Phase::Stable {
            generation: joined.generation_id,
        });
        let new: Vec<TopicPartition> = assignment
            .partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(t.topic.as_str(), *p))
            })
            .collect();
        // Set lookups: groups own thousands of partitions.
        let owned_now = self.owned();
        let owned_set: HashSet<&TopicPartition> = owned_now.iter().collect();
        let new_set: HashSet<&TopicPartition> = new.iter().collect();
        let added: Vec<TopicPartition> = new
            .iter()
            .filter(|tp| !owned_set.contains(tp))
            .cloned()
            .collect();
        let revoked: Vec<TopicPartition> = owned_now
            .iter()
            .filter(|tp| !new_set.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.identity
                .lock()
                .expect("identity lock")
                .owned
                .retain(|tp| new_set.contains(tp));
            self.revoke_acknowledged(&revoked).await;
            if self.protocol_kind(protocol.as_deref()) == RebalanceProtocol::Cooperative {
                // KIP-429: the released partitions are assigned in a follow-up round.
                self.rejoin.store(true, Ordering::Release);
            }
        }
        self.assign(&added).await.map_err(|e| self.classify(e))?;
        Ok(topics)
    }

    /// As leader: run the chosen assignor over every member's subscription.
    /// Heartbeats keep flowing while the assignor runs.
    pub(super) async fn lead(
        &self,
        protocol: Option<&str>,
        joined: &crate::wire::join_group::JoinGroupResponse,
    ) -> std::result::Result<Vec<SyncGroupAssignment>, Next> {
        let members = &joined.members;
        let assignor = protocol
            .filter(|&n| self.assignors.iter().any(|a| a.name() == n))
            .and_then(assignor_by_name)
            .ok_or_else(|| {
                Next::Fatal(Error::Request {
                    broker: "-".into(),
                    api: "JoinGroup",
                    reason: format!(
                        "the group chose assignor {protocol:?}, which this member does not have"
                    ),
                })
            })?;
        let mut subscriptions = Vec::with_capacity(members.len());
        let mut all_topics = BTreeSet::new();
        for m in members {
            let subscription = Subscription::decode(&m.metadata).map_err(|e| {
                Next::Fatal(Error::Decode {
                    source_desc: format!("subscription of member {}", m.member_id),
                    error: e,
                })
            })?;
            all_topics.extend(subscription.topics.iter().cloned());
            subscriptions.push(MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                subscription,
            });
        }
        let topics: Vec<String> = all_topics.into_iter().collect();
        let metadata = self
            .shared
            .cluster
            .metadata(Some(&topics))
            .await
            .map_err(|e| self.classify(e))?;
        let partitions_per_topic: BTreeMap<String, i32> = metadata
            .topics
            .iter()
            .filter(|t| t.error.is_none())
            .map(|t| (t.topic.clone(), t.partitions.len() as i32))
            .collect();
        let work = tokio::task::spawn_blocking(move || {
            assignor.assign(&partitions_per_topic, &subscriptions)
        });
        let assignments = heartbeat_while(work, self.config.heartbeat_interval, || {
            self.rebalance_heartbeat(&joined.member_id, joined.generation_id)
        })
        .await?;
        Ok(members
            .iter()
            .map(|m| SyncGroupAssignment {
                member_id: m.member_id.clone(),
                assignment: assignments
                    .get(&m.member_id)
                    .map(|a| a.encode(super::protocol::MAX_VERSION))
                    .unwrap_or_else(|| {
                        Assignment {
                            partitions: Vec::new(),
                            user_data: None,
                        }
                        .encode(super::protocol::MAX_VERSION)
                    }),
            })
            .collect())
    }
}

impl Member {
    /// A heartbeat between JoinGroup and SyncGroup. REBALANCE_IN_PROGRESS only means another
    /// round has begun (the SyncGroup will say so) and is ignored; other errors end the round.
    async fn rebalance_heartbeat(
        &self,
        member_id: &str,
        generation: i32,
    ) -> std::result::Result<(), Next> {
        let sent = self.now_ms();
        let request = HeartbeatRequest {
            group_id: self.group_id.clone(),
            generation_id: generation,
            member_id: member_id.to_owned(),
            group_instance_id: self.config.group_instance_id.clone(),
        };
        match self.coordinator_request(request).await {
            Ok(response) => match KafkaCode::from_code(response.error_code) {
                None => {
                    self.session_confirmed(sent);
                    Ok(())
                }
                Some(KafkaCode::REBALANCE_IN_PROGRESS) => Ok(()),
                Some(code) => Err(self.classify_code("Heartbeat", code)),
            },
            Err(e) => {
                // The SyncGroup that follows reports a broken connection.
                tracing::debug!(group = %self.group_id, error = %e, "heartbeat during assignment");
                Ok(())
            }
        }
    }
}

/// Waits for `work`, calling `heartbeat` every `interval` until it is done. A heartbeat error
/// ends the wait (the work is left to finish on its own); so does a panic of the work.
async fn heartbeat_while<T, F, Fut>(
    mut work: JoinHandle<T>,
    interval: Duration,
    mut heartbeat: F,
) -> std::result::Result<T, Next>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<(), Next>>,
{
    let mut next = Instant::now() + interval;
    loop {
        match tokio::time::timeout_at(next, &mut work).await {
            Ok(done) => {
                return done.map_err(|e| {
                    Next::Fatal(Error::Request {
                        broker: "-".into(),
                        api: "SyncGroup",
                        reason: format!("the partition assignor failed: {e}"),
                    })
                });
            }
            Err(_) => {
                next = Instant::now() + interval;
                heartbeat().await?;
            }
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

fn to_topic_partitions(tps: &[TopicPartition]) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, mut p)| {
            p.sort_unstable();
            TopicPartitions::new(t, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn heartbeats_flow_while_the_assignment_runs() {
        // The assignment can only finish after three heartbeats were sent while it ran.
        let (beat, beats) = mpsc::channel::<()>();
        let work = tokio::task::spawn_blocking(move || {
            for _ in 0..3 {
                beats.recv().expect("a heartbeat");
            }
            42
        });
        let mut sent = 0;
        let waited = heartbeat_while(work, Duration::from_millis(5), || {
            sent += 1;
            let _ = beat.send(());
            async { Ok(()) }
        });
        let result = tokio::time::timeout(Duration::from_secs(60), waited).await;
        assert!(matches!(result, Ok(Ok(42))));
        assert!(sent >= 3, "{sent} heartbeats");
    }

    #[tokio::test]
    async fn a_fencing_heartbeat_ends_the_wait_for_the_assignment() {
        let (release, released) = mpsc::channel::<()>();
        let work = tokio::task::spawn_blocking(move || released.recv().is_ok());
        let waited = heartbeat_while(work, Duration::from_millis(5), || async {
            Err(Next::Lost {
                reset_member_id: true,
            })
        });
        let result = tokio::time::timeout(Duration::from_secs(60), waited).await;
        assert!(matches!(
            result,
            Ok(Err(Next::Lost {
                reset_member_id: true
            }))
        ));
        release.send(()).expect("the assignment still runs");
    }

    #[tokio::test]
    async fn a_panicking_assignor_is_a_fatal_error_not_a_crash() {
        let work = tokio::task::spawn_blocking(|| -> u32 { panic!("assignor bug") });
        let result = heartbeat_while(work, Duration::from_secs(3600), || async { Ok(()) }).await;
        assert!(matches!(result, Err(Next::Fatal(_))));
    }
}
