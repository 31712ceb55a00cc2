//! Heartbeats, and what the member does with each failed group request (as the Java client
//! does). While a JoinGroup/SyncGroup is parked at the coordinator the member keeps
//! heartbeating on the prompt connection, so its session stays confirmed (see `session`).

use std::collections::BTreeMap;

use crate::{
    error::{Error, KafkaCode},
    wire::heartbeat::HeartbeatRequest,
};

use super::member::{Member, Next};

impl Member {
    /// One heartbeat of the stable member; on success the session runs on from its send
    /// time.
    pub(super) async fn heartbeat(&self) -> std::result::Result<(), Next> {
        let sent = self.now_ms();
        let (member_id, generation) = self.identity();
        let request = HeartbeatRequest {
            group_id: self.group_id.clone(),
            generation_id: generation,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        };
        let response = self
            .coordinator_request(request)
            .await
            .map_err(|e| self.classify(e))?;
        match KafkaCode::from_code(response.error_code) {
            None => {
                self.session_confirmed(sent);
                Ok(())
            }
            Some(code) => {
                tracing::debug!(group = %self.group_id, %code, "heartbeat");
                Err(self.classify_code("Heartbeat", code))
            }
        }
    }

    /// Heartbeats every `heartbeat.interval.ms` while a JoinGroup/SyncGroup is in flight (on
    /// the prompt connection, not held by the parked join). An answer that knows the member
    /// (no error, or REBALANCE_IN_PROGRESS) keeps the session running; any other outcome is
    /// left to the join, whose own answer decides. Never returns.
    async fn heartbeats_during_join(&self) {
        loop {
            tokio::time::sleep(self.config.heartbeat_interval).await;
            let sent = self.now_ms();
            let (member_id, generation) = self.identity();
            let request = HeartbeatRequest {
                group_id: self.group_id.clone(),
                generation_id: generation,
                member_id,
                group_instance_id: self.config.group_instance_id.clone(),
            };
            if let Ok(response) = self.coordinator_request(request).await {
                match KafkaCode::from_code(response.error_code) {
                    None | Some(KafkaCode::REBALANCE_IN_PROGRESS) => {
                        self.session_confirmed(sent);
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// One join round with heartbeats alongside (see [`Member::heartbeats_during_join`]).
    pub(super) async fn join_with_heartbeats(
        &self,
    ) -> std::result::Result<BTreeMap<String, i32>, Next> {
        tokio::select! {
            joined = self.join_and_sync() => joined,
            () = self.heartbeats_during_join() => unreachable!("heartbeats never end"),
        }
    }

    pub(super) fn classify(&self, e: Error) -> Next {
        match &e {
            Error::Kafka { api, code, .. } => self.classify_code(api, *code),
            _ if e.is_retriable() => {
                tracing::warn!(group = %self.group_id, error = %e, "group request failed; retrying");
                Next::Retry
            }
            _ => Next::Fatal(e),
        }
    }

    /// What the Java client does for each group error code.
    pub(super) fn classify_code(&self, api: &'static str, code: KafkaCode) -> Next {
        match code {
            KafkaCode::COORDINATOR_LOAD_IN_PROGRESS => Next::Retry,
            // Find it again.
            KafkaCode::COORDINATOR_NOT_AVAILABLE | KafkaCode::NOT_COORDINATOR => Next::Rediscover,
            KafkaCode::REBALANCE_IN_PROGRESS => Next::Rejoin,
            // Keep the member id.
            KafkaCode::ILLEGAL_GENERATION => Next::Lost {
                reset_member_id: false,
            },
            KafkaCode::UNKNOWN_MEMBER_ID => Next::Lost {
                reset_member_id: true,
            },
            _ => Next::Fatal(Error::Kafka {
                api,
                code,
                context: Some(format!("group {}", self.group_id)),
            }),
        }
    }
}
