//! Named Kafka error codes, one table (like franz-go's `kerr`): every code this crate may
//! meet, with Kafka's name (as in the Java client's `Errors`) and whether Kafka classifies it
//! as retriable. Code elsewhere compares codes by name (`KafkaCode::NOT_COORDINATOR`), never by
//! number.
//!
//! Invariants: the table is sorted by code, holds each code once, and its retriability is the
//! Java client's (the code's exception is a `RetriableException`). Codes above
//! `UNKNOWN_TOPIC_ID` (100) are not named yet; they print as numbers and are not retriable.

use super::KafkaCode;

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $retriable:literal;)*) => {
        impl KafkaCode {
            $($(#[$doc])* pub const $name: KafkaCode = KafkaCode($code);)*
        }

        /// `(code, name, retriable)`, sorted by code.
        const TABLE: &[(i16, &str, bool)] = &[$(($code, stringify!($name), $retriable),)*];
    };
}

codes! {
    /// `UNKNOWN_SERVER_ERROR` (-1).
    UNKNOWN_SERVER_ERROR = -1, false;
    /// `OFFSET_OUT_OF_RANGE` (1).
    OFFSET_OUT_OF_RANGE = 1, false;
    /// `CORRUPT_MESSAGE` (2), retriable.
    CORRUPT_MESSAGE = 2, true;
    /// `UNKNOWN_TOPIC_OR_PARTITION` (3), retriable.
    UNKNOWN_TOPIC_OR_PARTITION = 3, true;
    /// `INVALID_FETCH_SIZE` (4).
    INVALID_FETCH_SIZE = 4, false;
    /// `LEADER_NOT_AVAILABLE` (5), retriable.
    LEADER_NOT_AVAILABLE = 5, true;
    /// `NOT_LEADER_OR_FOLLOWER` (6), retriable.
    NOT_LEADER_OR_FOLLOWER = 6, true;
    /// `REQUEST_TIMED_OUT` (7), retriable.
    REQUEST_TIMED_OUT = 7, true;
    /// `BROKER_NOT_AVAILABLE` (8).
    BROKER_NOT_AVAILABLE = 8, false;
    /// `REPLICA_NOT_AVAILABLE` (9), retriable.
    REPLICA_NOT_AVAILABLE = 9, true;
    /// `MESSAGE_TOO_LARGE` (10).
    MESSAGE_TOO_LARGE = 10, false;
    /// `STALE_CONTROLLER_EPOCH` (11).
    STALE_CONTROLLER_EPOCH = 11, false;
    /// `OFFSET_METADATA_TOO_LARGE` (12).
    OFFSET_METADATA_TOO_LARGE = 12, false;
    /// `NETWORK_EXCEPTION` (13), retriable.
    NETWORK_EXCEPTION = 13, true;
    /// `COORDINATOR_LOAD_IN_PROGRESS` (14), retriable.
    COORDINATOR_LOAD_IN_PROGRESS = 14, true;
    /// `COORDINATOR_NOT_AVAILABLE` (15), retriable.
    COORDINATOR_NOT_AVAILABLE = 15, true;
    /// `NOT_COORDINATOR` (16), retriable.
    NOT_COORDINATOR = 16, true;
    /// `INVALID_TOPIC_EXCEPTION` (17).
    INVALID_TOPIC_EXCEPTION = 17, false;
    /// `RECORD_LIST_TOO_LARGE` (18).
    RECORD_LIST_TOO_LARGE = 18, false;
    /// `NOT_ENOUGH_REPLICAS` (19), retriable.
    NOT_ENOUGH_REPLICAS = 19, true;
    /// `NOT_ENOUGH_REPLICAS_AFTER_APPEND` (20), retriable.
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, true;
    /// `INVALID_REQUIRED_ACKS` (21).
    INVALID_REQUIRED_ACKS = 21, false;
    /// `ILLEGAL_GENERATION` (22).
    ILLEGAL_GENERATION = 22, false;
    /// `INCONSISTENT_GROUP_PROTOCOL` (23).
    INCONSISTENT_GROUP_PROTOCOL = 23, false;
    /// `INVALID_GROUP_ID` (24).
    INVALID_GROUP_ID = 24, false;
    /// `UNKNOWN_MEMBER_ID` (25).
    UNKNOWN_MEMBER_ID = 25, false;
    /// `INVALID_SESSION_TIMEOUT` (26).
    INVALID_SESSION_TIMEOUT = 26, false;
    /// `REBALANCE_IN_PROGRESS` (27).
    REBALANCE_IN_PROGRESS = 27, false;
    /// `INVALID_COMMIT_OFFSET_SIZE` (28).
    INVALID_COMMIT_OFFSET_SIZE = 28, false;
    /// `TOPIC_AUTHORIZATION_FAILED` (29).
    TOPIC_AUTHORIZATION_FAILED = 29, false;
    /// `GROUP_AUTHORIZATION_FAILED` (30).
    GROUP_AUTHORIZATION_FAILED = 30, false;
    /// `CLUSTER_AUTHORIZATION_FAILED` (31).
    CLUSTER_AUTHORIZATION_FAILED = 31, false;
    /// `INVALID_TIMESTAMP` (32).
    INVALID_TIMESTAMP = 32, false;
    /// `UNSUPPORTED_SASL_MECHANISM` (33).
    UNSUPPORTED_SASL_MECHANISM = 33, false;
    /// `ILLEGAL_SASL_STATE` (34).
    ILLEGAL_SASL_STATE = 34, false;
    /// `UNSUPPORTED_VERSION` (35).
    UNSUPPORTED_VERSION = 35, false;
    /// `TOPIC_ALREADY_EXISTS` (36).
    TOPIC_ALREADY_EXISTS = 36, false;
    /// `INVALID_PARTITIONS` (37).
    INVALID_PARTITIONS = 37, false;
    /// `INVALID_REPLICATION_FACTOR` (38).
    INVALID_REPLICATION_FACTOR = 38, false;
    /// `INVALID_REPLICA_ASSIGNMENT` (39).
    INVALID_REPLICA_ASSIGNMENT = 39, false;
    /// `INVALID_CONFIG` (40).
    INVALID_CONFIG = 40, false;
    /// `NOT_CONTROLLER` (41), retriable.
    NOT_CONTROLLER = 41, true;
    /// `INVALID_REQUEST` (42).
    INVALID_REQUEST = 42, false;
    /// `UNSUPPORTED_FOR_MESSAGE_FORMAT` (43).
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, false;
    /// `POLICY_VIOLATION` (44).
    POLICY_VIOLATION = 44, false;
    /// `OUT_OF_ORDER_SEQUENCE_NUMBER` (45).
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, false;
    /// `DUPLICATE_SEQUENCE_NUMBER` (46).
    DUPLICATE_SEQUENCE_NUMBER = 46, false;
    /// `INVALID_PRODUCER_EPOCH` (47).
    INVALID_PRODUCER_EPOCH = 47, false;
    /// `INVALID_TXN_STATE` (48).
    INVALID_TXN_STATE = 48, false;
    /// `INVALID_PRODUCER_ID_MAPPING` (49).
    INVALID_PRODUCER_ID_MAPPING = 49, false;
    /// `INVALID_TRANSACTION_TIMEOUT` (50).
    INVALID_TRANSACTION_TIMEOUT = 50, false;
    /// `CONCURRENT_TRANSACTIONS` (51), retriable.
    CONCURRENT_TRANSACTIONS = 51, true;
    /// `TRANSACTION_COORDINATOR_FENCED` (52).
    TRANSACTION_COORDINATOR_FENCED = 52, false;
    /// `TRANSACTIONAL_ID_AUTHORIZATION_FAILED` (53).
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53, false;
    /// `SECURITY_DISABLED` (54).
    SECURITY_DISABLED = 54, false;
    /// `OPERATION_NOT_ATTEMPTED` (55).
    OPERATION_NOT_ATTEMPTED = 55, false;
    /// `KAFKA_STORAGE_ERROR` (56), retriable.
    KAFKA_STORAGE_ERROR = 56, true;
    /// `LOG_DIR_NOT_FOUND` (57).
    LOG_DIR_NOT_FOUND = 57, false;
    /// `SASL_AUTHENTICATION_FAILED` (58).
    SASL_AUTHENTICATION_FAILED = 58, false;
    /// `UNKNOWN_PRODUCER_ID` (59).
    UNKNOWN_PRODUCER_ID = 59, false;
    /// `REASSIGNMENT_IN_PROGRESS` (60).
    REASSIGNMENT_IN_PROGRESS = 60, false;
    /// `DELEGATION_TOKEN_AUTH_DISABLED` (61).
    DELEGATION_TOKEN_AUTH_DISABLED = 61, false;
    /// `DELEGATION_TOKEN_NOT_FOUND` (62).
    DELEGATION_TOKEN_NOT_FOUND = 62, false;
    /// `DELEGATION_TOKEN_OWNER_MISMATCH` (63).
    DELEGATION_TOKEN_OWNER_MISMATCH = 63, false;
    /// `DELEGATION_TOKEN_REQUEST_NOT_ALLOWED` (64).
    DELEGATION_TOKEN_REQUEST_NOT_ALLOWED = 64, false;
    /// `DELEGATION_TOKEN_AUTHORIZATION_FAILED` (65).
    DELEGATION_TOKEN_AUTHORIZATION_FAILED = 65, false;
    /// `DELEGATION_TOKEN_EXPIRED` (66).
    DELEGATION_TOKEN_EXPIRED = 66, false;
    /// `INVALID_PRINCIPAL_TYPE` (67).
    INVALID_PRINCIPAL_TYPE = 67, false;
    /// `NON_EMPTY_GROUP` (68).
    NON_EMPTY_GROUP = 68, false;
    /// `GROUP_ID_NOT_FOUND` (69).
    GROUP_ID_NOT_FOUND = 69, false;
    /// `FETCH_SESSION_ID_NOT_FOUND` (70), retriable.
    FETCH_SESSION_ID_NOT_FOUND = 70, true;
    /// `INVALID_FETCH_SESSION_EPOCH` (71), retriable.
    INVALID_FETCH_SESSION_EPOCH = 71, true;
    /// `LISTENER_NOT_FOUND` (72), retriable.
    LISTENER_NOT_FOUND = 72, true;
    /// `TOPIC_DELETION_DISABLED` (73).
    TOPIC_DELETION_DISABLED = 73, false;
    /// `FENCED_LEADER_EPOCH` (74), retriable.
    FENCED_LEADER_EPOCH = 74, true;
    /// `UNKNOWN_LEADER_EPOCH` (75), retriable.
    UNKNOWN_LEADER_EPOCH = 75, true;
    /// `UNSUPPORTED_COMPRESSION_TYPE` (76).
    UNSUPPORTED_COMPRESSION_TYPE = 76, false;
    /// `STALE_BROKER_EPOCH` (77).
    STALE_BROKER_EPOCH = 77, false;
    /// `OFFSET_NOT_AVAILABLE` (78), retriable.
    OFFSET_NOT_AVAILABLE = 78, true;
    /// `MEMBER_ID_REQUIRED` (79).
    MEMBER_ID_REQUIRED = 79, false;
    /// `PREFERRED_LEADER_NOT_AVAILABLE` (80), retriable.
    PREFERRED_LEADER_NOT_AVAILABLE = 80, true;
    /// `GROUP_MAX_SIZE_REACHED` (81).
    GROUP_MAX_SIZE_REACHED = 81, false;
    /// `FENCED_INSTANCE_ID` (82).
    FENCED_INSTANCE_ID = 82, false;
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE` (83), retriable.
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83, true;
    /// `ELECTION_NOT_NEEDED` (84), retriable.
    ELECTION_NOT_NEEDED = 84, true;
    /// `NO_REASSIGNMENT_IN_PROGRESS` (85).
    NO_REASSIGNMENT_IN_PROGRESS = 85, false;
    /// `GROUP_SUBSCRIBED_TO_TOPIC` (86).
    GROUP_SUBSCRIBED_TO_TOPIC = 86, false;
    /// `INVALID_RECORD` (87).
    INVALID_RECORD = 87, false;
    /// `UNSTABLE_OFFSET_COMMIT` (88), retriable.
    UNSTABLE_OFFSET_COMMIT = 88, true;
    /// `THROTTLING_QUOTA_EXCEEDED` (89), retriable.
    THROTTLING_QUOTA_EXCEEDED = 89, true;
    /// `PRODUCER_FENCED` (90).
    PRODUCER_FENCED = 90, false;
    /// `RESOURCE_NOT_FOUND` (91).
    RESOURCE_NOT_FOUND = 91, false;
    /// `DUPLICATE_RESOURCE` (92).
    DUPLICATE_RESOURCE = 92, false;
    /// `UNACCEPTABLE_CREDENTIAL` (93).
    UNACCEPTABLE_CREDENTIAL = 93, false;
    /// `INCONSISTENT_VOTER_SET` (94).
    INCONSISTENT_VOTER_SET = 94, false;
    /// `INVALID_UPDATE_VERSION` (95).
    INVALID_UPDATE_VERSION = 95, false;
    /// `FEATURE_UPDATE_FAILED` (96).
    FEATURE_UPDATE_FAILED = 96, false;
    /// `PRINCIPAL_DESERIALIZATION_FAILURE` (97).
    PRINCIPAL_DESERIALIZATION_FAILURE = 97, false;
    /// `SNAPSHOT_NOT_FOUND` (98).
    SNAPSHOT_NOT_FOUND = 98, false;
    /// `POSITION_OUT_OF_RANGE` (99).
    POSITION_OUT_OF_RANGE = 99, false;
    /// `UNKNOWN_TOPIC_ID` (100), retriable.
    UNKNOWN_TOPIC_ID = 100, true;
}

/// Looks `code` up in the table.
fn entry(code: i16) -> Option<&'static (i16, &'static str, bool)> {
    TABLE
        .binary_search_by_key(&code, |(c, _, _)| *c)
        .ok()
        .map(|i| &TABLE[i])
}

impl KafkaCode {
    /// Kafka's name for the code (`"NOT_COORDINATOR"`), `None` for a code not in the table.
    pub fn name(self) -> Option<&'static str> {
        entry(self.0).map(|(_, name, _)| *name)
    }

    /// Whether Kafka classifies the code as retriable: a later attempt of the same request may
    /// succeed (the Java client's `RetriableException` subclasses). Unknown codes are not.
    pub fn is_retriable(self) -> bool {
        entry(self.0).is_some_and(|(_, _, retriable)| *retriable)
    }

    /// Whether a partition-level answer with this code means "the partition's leader moved, or
    /// is not known yet: refresh metadata and ask the (new) leader again". These are the codes
    /// Java's fetcher and offset lookups answer with a metadata update:
    ///
    /// - `UNKNOWN_TOPIC_OR_PARTITION`, `UNKNOWN_TOPIC_ID`: this broker does not (yet) host the
    ///   partition, e.g. it just lost or has not yet learned its leadership;
    /// - `LEADER_NOT_AVAILABLE`: an election is in progress;
    /// - `NOT_LEADER_OR_FOLLOWER`, `REPLICA_NOT_AVAILABLE`: the request went to a broker that
    ///   no longer leads (or replicates) the partition;
    /// - `KAFKA_STORAGE_ERROR`: the leader's log directory failed, a new leader will be chosen;
    /// - `FENCED_LEADER_EPOCH`, `UNKNOWN_LEADER_EPOCH`: our leader epoch is older (or newer)
    ///   than the broker's, so our metadata is stale (or the broker's is);
    /// - `OFFSET_NOT_AVAILABLE`: a new leader's high watermark has not caught up after an
    ///   election yet.
    pub fn is_leader_change(self) -> bool {
        matches!(
            self,
            Self::UNKNOWN_TOPIC_OR_PARTITION
                | Self::LEADER_NOT_AVAILABLE
                | Self::NOT_LEADER_OR_FOLLOWER
                | Self::REPLICA_NOT_AVAILABLE
                | Self::KAFKA_STORAGE_ERROR
                | Self::FENCED_LEADER_EPOCH
                | Self::UNKNOWN_LEADER_EPOCH
                | Self::OFFSET_NOT_AVAILABLE
                | Self::UNKNOWN_TOPIC_ID
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_holds_each_code_once() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(TABLE.len(), 101, "-1 and 1..=100");
    }

    #[test]
    fn codes_carry_kafkas_names() {
        assert_eq!(KafkaCode::ILLEGAL_GENERATION, KafkaCode(22));
        assert_eq!(KafkaCode(22).name(), Some("ILLEGAL_GENERATION"));
        assert_eq!(KafkaCode(-1).name(), Some("UNKNOWN_SERVER_ERROR"));
        assert_eq!(KafkaCode(6).name(), Some("NOT_LEADER_OR_FOLLOWER"));
        assert_eq!(KafkaCode(100).name(), Some("UNKNOWN_TOPIC_ID"));
        assert_eq!(KafkaCode(0).name(), None);
        assert_eq!(KafkaCode(9999).name(), None);
    }

    #[test]
    fn retriability_follows_the_java_client() {
        // RetriableException subclasses in org.apache.kafka.common.errors.
        let retriable = [
            2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83,
            84, 88, 89, 100,
        ];
        for &(code, name, _) in TABLE {
            assert_eq!(
                KafkaCode(code).is_retriable(),
                retriable.contains(&code),
                "{name} ({code})"
            );
        }
        // ApiException subclasses that are not retriable, though they sound transient.
        assert!(!KafkaCode::BROKER_NOT_AVAILABLE.is_retriable());
        assert!(!KafkaCode::REBALANCE_IN_PROGRESS.is_retriable());
        assert!(!KafkaCode::PRODUCER_FENCED.is_retriable());
        assert!(!KafkaCode(9999).is_retriable());
    }

    #[test]
    fn leader_changes_are_retriable_partition_errors() {
        let leader: Vec<i16> = TABLE
            .iter()
            .filter(|(c, _, _)| KafkaCode(*c).is_leader_change())
            .map(|(c, _, _)| *c)
            .collect();
        assert_eq!(leader, [3, 5, 6, 9, 56, 74, 75, 78, 100]);
        assert!(
            leader.iter().all(|c| KafkaCode(*c).is_retriable()),
            "every leader change is retriable"
        );
        assert!(!KafkaCode::OFFSET_OUT_OF_RANGE.is_leader_change());
        assert!(!KafkaCode::NOT_COORDINATOR.is_leader_change());
    }
}
