//! Incremental fetch sessions (KIP-227), one per broker loop.
//!
//! The first request of a session is a full fetch asking the broker to create one (id 0,
//! epoch 0). While the broker keeps it, each request carries only the partitions whose fetch
//! parameters changed (new offset, leader epoch, size limit) plus the ones to forget, and the broker
//! answers only for partitions with news. Any error — a broker that does not keep the session
//! (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH), any other top-level error code, a
//! failed request — resets it, and the next request is full again. Brokers without sessions
//! (Fetch < v7) always answer with session id 0, so every request stays a full one.

use std::collections::{BTreeMap, HashMap};

use crate::{
    error::KafkaCode,
    state::Requested,
    types::TopicPartition,
    wire::fetch::{FetchPartition, FetchTopic, ForgottenTopic},
};

/// The broker dropped our fetch session.
const SESSION_ERRORS: [KafkaCode; 2] = [
    KafkaCode::FETCH_SESSION_ID_NOT_FOUND,
    KafkaCode::INVALID_FETCH_SESSION_EPOCH,
];

/// What a response's top-level error code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No error.
    Ok,
    /// The broker no longer knows the session: not an error for the partitions.
    SessionDropped(KafkaCode),
    /// The request failed as a whole.
    Failed(KafkaCode),
}

/// What the broker's session holds for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sent {
    offset: i64,
    leader_epoch: i32,
    last_fetched_epoch: i32,
    max_bytes: i32,
}

/// The request parts a session decides.
#[derive(Debug)]
pub(crate) struct SessionRequest {
    pub(crate) session_id: i32,
    pub(crate) session_epoch: i32,
    pub(crate) topics: Vec<FetchTopic>,
    pub(crate) forgotten: Vec<ForgottenTopic>,
}

/// One broker's fetch session.
#[derive(Debug, Default)]
pub(crate) struct FetchSession {
    id: i32,
    epoch: i32,
    sent: HashMap<TopicPartition, Sent>,
}

impl FetchSession {
    /// Builds the next request for exactly the partitions in `ready`: the session is made to
    /// hold these and nothing else.
    pub(crate) fn request(&mut self, ready: &[Requested]) -> SessionRequest {
        let full = self.id == 0;
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        let mut now_sent = HashMap::with_capacity(ready.len());
        for r in ready {
            let sent = Sent {
                offset: r.offset,
                leader_epoch: r.leader_epoch,
                last_fetched_epoch: r.last_fetched_epoch,
                max_bytes: r.max_bytes,
            };
            if full || self.sent.get(&r.tp) != Some(&sent) {
                topics.entry(&r.tp.topic).or_default().push(FetchPartition {
                    partition: r.tp.partition,
                    current_leader_epoch: r.leader_epoch,
                    fetch_offset: r.offset,
                    last_fetched_epoch: r.last_fetched_epoch,
                    log_start_offset: -1,
                    partition_max_bytes: r.max_bytes,
                });
            }
            now_sent.insert(r.tp.clone(), sent);
        }
        let mut forgotten: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        if !full {
            for tp in self.sent.keys().filter(|tp| !now_sent.contains_key(*tp)) {
                forgotten.entry(&tp.topic).or_default().push(tp.partition);
            }
        }
        let request = SessionRequest {
            session_id: self.id,
            session_epoch: if full { 0 } else { self.epoch },
            topics: topics
                .into_iter()
                .map(|(topic, mut partitions)| {
                    partitions.sort_by_key(|p| p.partition);
                    FetchTopic {
                        topic: topic.to_owned(),
                        partitions,
                    }
                })
                .collect(),
            forgotten: forgotten
                .into_iter()
                .map(|(topic, mut partitions)| {
                    partitions.sort_unstable();
                    ForgottenTopic {
                        topic: topic.to_owned(),
                        partitions,
                    }
                })
                .collect(),
        };
        self.sent = now_sent;
        request
    }

    /// Takes a response's top-level `error_code` and `session_id`. Any error closes the
    /// session (as Java's `FetchSessionHandler` does): the broker may still hold positions
    /// from before, so the next request is a full one.
    pub(crate) fn on_response(&mut self, error_code: i16, session_id: i32) -> Verdict {
        match KafkaCode::from_code(error_code) {
            None => {
                self.on_success(session_id);
                Verdict::Ok
            }
            Some(code) if SESSION_ERRORS.contains(&code) => {
                self.reset();
                Verdict::SessionDropped(code)
            }
            Some(code) => {
                self.reset();
                Verdict::Failed(code)
            }
        }
    }

    /// Records a successful response carrying `session_id`.
    pub(crate) fn on_success(&mut self, session_id: i32) {
        if session_id == 0 {
            self.reset();
        } else if self.id == 0 {
            self.id = session_id;
            self.epoch = 1;
        } else {
            self.epoch = if self.epoch == i32::MAX {
                1
            } else {
                self.epoch + 1
            };
        }
    }

    /// Whether the next request is incremental: the broker then leaves partitions without
    /// news out of its response.
    pub(crate) fn is_incremental(&self) -> bool {
        self.id != 0
    }

    /// Forgets the session: the next request is a full one.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(partition: i32, offset: i64) -> Requested {
        Requested {
            tp: TopicPartition::new("t", partition),
            generation: 1,
            offset,
            leader_epoch: 0,
            last_fetched_epoch: -1,
            max_bytes: 100,
        }
    }

    fn partitions(r: &SessionRequest) -> Vec<(i32, i64)> {
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect()
    }

    #[test]
    fn first_request_is_full_and_asks_for_a_session() {
        let mut s = FetchSession::default();
        let r = s.request(&[req(0, 5), req(1, 7)]);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(partitions(&r), [(0, 5), (1, 7)]);
    }

    #[test]
    fn incremental_requests_carry_only_changed_partitions_and_forget_removed_ones() {
        let mut s = FetchSession::default();
        s.request(&[req(0, 5), req(1, 7), req(2, 9)]);
        s.on_success(42);
        let r = s.request(&[req(0, 6), req(1, 7)]);
        assert_eq!((r.session_id, r.session_epoch), (42, 1));
        assert_eq!(partitions(&r), [(0, 6)], "partition 1 unchanged");
        assert_eq!(r.forgotten.len(), 1);
        assert_eq!(r.forgotten[0].partitions, [2]);
        s.on_success(42);
        let r = s.request(&[req(0, 6), req(1, 7), req(2, 9)]);
        assert_eq!(r.session_epoch, 2);
        assert_eq!(partitions(&r), [(2, 9)], "re-added partition is sent again");
    }

    #[test]
    fn a_broker_without_sessions_keeps_every_request_full() {
        let mut s = FetchSession::default();
        s.request(&[req(0, 5)]);
        s.on_success(0);
        let r = s.request(&[req(0, 5)]);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(partitions(&r), [(0, 5)]);
    }

    #[test]
    fn any_top_level_error_closes_the_session_and_the_next_request_is_full() {
        for code in [
            KafkaCode::UNKNOWN_SERVER_ERROR,
            KafkaCode::NOT_LEADER_OR_FOLLOWER,
        ] {
            let mut s = FetchSession::default();
            s.request(&[req(0, 5), req(1, 7)]);
            s.on_success(9);
            // A backward seek of partition 0, answered with an error.
            s.request(&[req(0, 2), req(1, 7)]);
            assert_eq!(s.on_response(code.0, 9), Verdict::Failed(code));
            let r = s.request(&[req(0, 2), req(1, 7)]);
            assert_eq!((r.session_id, r.session_epoch), (0, 0), "{code}");
            assert_eq!(partitions(&r), [(0, 2), (1, 7)], "{code}");
        }
    }

    #[test]
    fn reset_makes_the_next_request_full() {
        let mut s = FetchSession::default();
        s.request(&[req(0, 5)]);
        s.on_success(9);
        s.reset();
        let r = s.request(&[req(0, 5)]);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(partitions(&r), [(0, 5)]);
    }
}
