//! The classic consumer protocol payloads: `ConsumerProtocolSubscription` (the `metadata` a
//! member sends for each assignor in JoinGroup) and `ConsumerProtocolAssignment` (the
//! `assignment` bytes of SyncGroup).
//!
//! Both start with an int16 version (0 to 3 today) and use the *classic* encoding (int16 string
//! lengths, int32 array and bytes lengths, no tagged fields) even though they are "data"
//! schemas. Encodings are byte-for-byte those of the Java client (`ConsumerProtocol`):
//! subscribed topics are sorted, owned partitions are sorted by topic then partition and grouped
//! per topic, and assigned partitions are grouped per topic in order of first appearance.
//!
//! | version | Subscription adds            | Assignment        |
//! |---------|------------------------------|-------------------|
//! | 0       | topics, user_data            | partitions, user_data |
//! | 1       | owned_partitions             | (same)            |
//! | 2       | generation_id                | (same)            |
//! | 3       | rack_id                      | (same)            |
//!
//! Decoding is lenient like Java's: a version above 3 is read as version 3 (new versions may
//! only append fields), and trailing bytes are ignored.

use bytes::Bytes;

use crate::wire::codec::{DecodeError, Decoder, Encoder};

/// The highest consumer protocol version this crate knows (and writes by default).
pub const MAX_VERSION: i16 = 3;

/// Partitions of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartitions {
    /// Topic name.
    pub topic: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

impl TopicPartitions {
    /// Partitions `partitions` of `topic`.
    pub fn new(topic: impl Into<String>, partitions: impl Into<Vec<i32>>) -> Self {
        Self {
            topic: topic.into(),
            partitions: partitions.into(),
        }
    }
}

/// What a member sends for one assignor in JoinGroup (`ConsumerProtocolSubscription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topics (encoded sorted, as Java does).
    pub topics: Vec<String>,
    /// Assignor-specific data; `None` is encoded as null.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (version 1+).
    pub owned_partitions: Vec<TopicPartitions>,
    /// Generation of `owned_partitions` (version 2+); -1 when unknown.
    pub generation_id: i32,
    /// The member's rack (version 3+). An empty rack decodes as `None`, as in Java.
    pub rack_id: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        }
    }
}

/// What the leader hands each member in SyncGroup (`ConsumerProtocolAssignment`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Assigned partitions.
    pub partitions: Vec<TopicPartitions>,
    /// Assignor-specific data; `None` is encoded as null.
    pub user_data: Option<Bytes>,
}

/// Versions above [`MAX_VERSION`] are written as [`MAX_VERSION`] (Java clamps the same way);
/// negative versions, which Java rejects, are written as 0.
fn clamp_version(version: i16) -> i16 {
    version.clamp(0, MAX_VERSION)
}

fn write_partitions(e: &mut Encoder<'_>, groups: &[(&str, Vec<i32>)]) {
    e.array_len(false, Some(groups.len()));
    for (topic, partitions) in groups {
        e.string(false, topic);
        e.array_len(false, Some(partitions.len()));
        for &p in partitions {
            e.i32(p);
        }
    }
}

fn read_version(d: &mut Decoder<'_>, what: &'static str) -> Result<i16, DecodeError> {
    let version = d.i16()?;
    if version < 0 {
        return Err(DecodeError::Malformed {
            what,
            reason: format!("unsupported version {version}"),
        });
    }
    Ok(version.min(MAX_VERSION))
}

fn read_non_null_array_len(d: &mut Decoder<'_>, what: &'static str) -> Result<usize, DecodeError> {
    let at = d.position();
    d.array_len(false)?
        .ok_or(DecodeError::InvalidLength { what, len: -1, at })
}

fn read_partitions(d: &mut Decoder<'_>) -> Result<Vec<TopicPartitions>, DecodeError> {
    let len = read_non_null_array_len(d, "topic partitions")?;
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let topic = d.string(false)?.to_owned();
        let count = read_non_null_array_len(d, "partitions")?;
        let mut partitions = Vec::with_capacity(count);
        for _ in 0..count {
            partitions.push(d.i32()?);
        }
        out.push(TopicPartitions { topic, partitions });
    }
    Ok(out)
}

impl Subscription {
    /// Encodes at `version`; versions above 3 are written as 3 (as Java does), negative ones
    /// as 0.
    pub fn encode(&self, version: i16) -> Bytes {
        let version = clamp_version(version);
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i16(version);

        let mut topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        topics.sort_unstable();
        e.array_len(false, Some(topics.len()));
        for topic in topics {
            e.string(false, topic);
        }
        e.nullable_bytes(false, self.user_data.as_deref());

        if version >= 1 {
            let mut owned: Vec<(&str, i32)> = self
                .owned_partitions
                .iter()
                .flat_map(|tp| tp.partitions.iter().map(|&p| (tp.topic.as_str(), p)))
                .collect();
            owned.sort();
            let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
            for (topic, partition) in owned {
                match groups.last_mut() {
                    Some((t, ps)) if *t == topic => ps.push(partition),
                    _ => groups.push((topic, vec![partition])),
                }
            }
            write_partitions(&mut e, &groups);
        }
        if version >= 2 {
            e.i32(self.generation_id);
        }
        if version >= 3 {
            e.nullable_string(false, self.rack_id.as_deref());
        }
        Bytes::from(buf)
    }

    /// Decodes any version; fields of versions above 3 and trailing bytes are ignored.
    pub fn decode(data: &Bytes) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(data);
        let version = read_version(&mut d, "consumer protocol subscription")?;
        let count = read_non_null_array_len(&mut d, "topics")?;
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(d.string(false)?.to_owned());
        }
        let user_data = d.nullable_shared_bytes(false)?;
        let owned_partitions = if version >= 1 {
            read_partitions(&mut d)?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 { d.i32()? } else { -1 };
        let rack_id = if version >= 3 {
            d.nullable_string(false)?
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
        } else {
            None
        };
        Ok(Self {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

impl Assignment {
    /// Encodes at `version` (clamped to 0..=3 like [`Subscription::encode`]). Entries for the same topic are merged,
    /// in order of first appearance, as Java does.
    pub fn encode(&self, version: i16) -> Bytes {
        let mut buf = Vec::new();
        let mut e = Encoder::new(&mut buf);
        e.i16(clamp_version(version));
        let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
        for tp in &self.partitions {
            match groups.iter_mut().find(|(t, _)| *t == tp.topic) {
                Some((_, ps)) => ps.extend_from_slice(&tp.partitions),
                None => groups.push((tp.topic.as_str(), tp.partitions.clone())),
            }
        }
        write_partitions(&mut e, &groups);
        e.nullable_bytes(false, self.user_data.as_deref());
        Bytes::from(buf)
    }

    /// Decodes any version; trailing bytes are ignored. An empty blob (what the coordinator
    /// hands a member the leader assigned nothing) is an empty assignment.
    pub fn decode(data: &Bytes) -> Result<Self, DecodeError> {
        if data.is_empty() {
            return Ok(Self::default());
        }
        let mut d = Decoder::new(data);
        read_version(&mut d, "consumer protocol assignment")?;
        let partitions = read_partitions(&mut d)?;
        let user_data = d.nullable_shared_bytes(false)?;
        Ok(Self {
            partitions,
            user_data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Bytes {
        assert_eq!(s.len() % 2, 0);
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    // Produced by kafka-clients 4.1.1:
    // `ConsumerProtocol.serializeSubscription(subscription, version)`.
    const JAVA_SUB_PLAIN: [&str; 4] = [
        "0000000000020007746f7069632d610007746f7069632d62ffffffff",
        "0001000000020007746f7069632d610007746f7069632d62ffffffff00000000",
        "0002000000020007746f7069632d610007746f7069632d62ffffffff00000000ffffffff",
        "0003000000020007746f7069632d610007746f7069632d62ffffffff00000000ffffffffffff",
    ];
    const JAVA_SUB_FULL: [&str; 4] = [
        "000000000002000274310002743200000003010203",
        "0001000000020002743100027432000000030102030000000200027431000000020000000000000002000274320000000100000003",
        "000200000002000274310002743200000003010203000000020002743100000002000000000000000200027432000000010000000300000007",
        "00030000000200027431000274320000000301020300000002000274310000000200000000000000020002743200000001000000030000000700067261636b2d31",
    ];
    const JAVA_SUB_EMPTY: [&str; 4] = [
        "00000000000000000000",
        "0001000000000000000000000000",
        "000200000000000000000000000000000000",
        "0003000000000000000000000000000000000000",
    ];
    // `ConsumerProtocol.serializeAssignment(assignment, version)`.
    const JAVA_ASG_TWO_TOPICS: &str =
        "0000000200027431000000020000000000000002000274320000000100000001ffffffff";
    const JAVA_ASG_USERDATA: &str = "0000000000000002dead";
    const JAVA_ASG_INTERLEAVED: &str =
        "0000000200027432000000020000000100000000000274310000000100000000ffffffff";

    /// `new Subscription(["topic-b", "topic-a"])`.
    fn sub_plain() -> Subscription {
        Subscription {
            topics: vec!["topic-b".into(), "topic-a".into()],
            ..Subscription::default()
        }
    }

    /// Topics t1, t2; user data 01 02 03; owns t2-3, t1-2, t1-0; generation 7; rack "rack-1".
    fn sub_full() -> Subscription {
        Subscription {
            topics: vec!["t1".into(), "t2".into()],
            user_data: Some(Bytes::from_static(&[1, 2, 3])),
            owned_partitions: vec![
                TopicPartitions::new("t2", [3]),
                TopicPartitions::new("t1", [2, 0]),
            ],
            generation_id: 7,
            rack_id: Some("rack-1".into()),
        }
    }

    /// No topics, empty (not null) user data, generation 0, empty rack.
    fn sub_empty() -> Subscription {
        Subscription {
            topics: vec![],
            user_data: Some(Bytes::new()),
            owned_partitions: vec![],
            generation_id: 0,
            rack_id: Some(String::new()),
        }
    }

    /// What decoding `sub` encoded at `version` must give: sorted, grouped, and without the
    /// fields the version lacks.
    fn as_decoded(sub: &Subscription, version: i16) -> Subscription {
        let mut topics = sub.topics.clone();
        topics.sort();
        let mut owned: Vec<(String, i32)> = sub
            .owned_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().map(|&p| (tp.topic.clone(), p)))
            .collect();
        owned.sort();
        let mut owned_partitions: Vec<TopicPartitions> = Vec::new();
        for (t, p) in owned {
            match owned_partitions.last_mut() {
                Some(last) if last.topic == t => last.partitions.push(p),
                _ => owned_partitions.push(TopicPartitions::new(t, [p])),
            }
        }
        Subscription {
            topics,
            user_data: sub.user_data.clone(),
            owned_partitions: if version >= 1 {
                owned_partitions
            } else {
                vec![]
            },
            generation_id: if version >= 2 { sub.generation_id } else { -1 },
            rack_id: if version >= 3 {
                sub.rack_id.clone().filter(|r| !r.is_empty())
            } else {
                None
            },
        }
    }

    #[test]
    fn subscription_encoding_matches_java_byte_for_byte_at_every_version() {
        for (sub, vectors) in [
            (sub_plain(), JAVA_SUB_PLAIN),
            (sub_full(), JAVA_SUB_FULL),
            (sub_empty(), JAVA_SUB_EMPTY),
        ] {
            for (version, java) in (0i16..).zip(vectors) {
                assert_eq!(
                    hex(&sub.encode(version)),
                    java,
                    "version {version} of {sub:?}"
                );
            }
        }
    }

    #[test]
    fn subscriptions_encoded_by_java_decode_at_every_version() {
        for (sub, vectors) in [
            (sub_plain(), JAVA_SUB_PLAIN),
            (sub_full(), JAVA_SUB_FULL),
            (sub_empty(), JAVA_SUB_EMPTY),
        ] {
            for (version, java) in (0i16..).zip(vectors) {
                let decoded = Subscription::decode(&unhex(java)).unwrap();
                assert_eq!(decoded, as_decoded(&sub, version), "version {version}");
            }
        }
    }

    #[test]
    fn versions_above_three_are_written_as_three_like_java() {
        // Java: serializeSubscription(sub, (short) 9) writes version 3.
        assert_eq!(hex(&sub_full().encode(9)), JAVA_SUB_FULL[3]);
        assert_eq!(
            hex(&Assignment::default().encode(i16::MAX)),
            "000300000000ffffffff"
        );
    }

    #[test]
    fn assignment_encoding_matches_java_byte_for_byte_at_every_version() {
        let two_topics = Assignment {
            partitions: vec![
                TopicPartitions::new("t1", [0, 2]),
                TopicPartitions::new("t2", [1]),
            ],
            user_data: None,
        };
        let user_data = Assignment {
            partitions: vec![],
            user_data: Some(Bytes::from_static(&[0xde, 0xad])),
        };
        // Java got [t2-1, t1-0, t2-0] and grouped per topic in order of first appearance.
        let interleaved = Assignment {
            partitions: vec![
                TopicPartitions::new("t2", [1]),
                TopicPartitions::new("t1", [0]),
                TopicPartitions::new("t2", [0]),
            ],
            user_data: None,
        };
        let interleaved_decoded = Assignment {
            partitions: vec![
                TopicPartitions::new("t2", [1, 0]),
                TopicPartitions::new("t1", [0]),
            ],
            user_data: None,
        };
        for version in 0i16..=3 {
            let prefix = format!("{version:04x}");
            for (asg, java, decoded) in [
                (&two_topics, JAVA_ASG_TWO_TOPICS, &two_topics),
                (&user_data, JAVA_ASG_USERDATA, &user_data),
                (&interleaved, JAVA_ASG_INTERLEAVED, &interleaved_decoded),
            ] {
                let java = format!("{prefix}{java}");
                assert_eq!(hex(&asg.encode(version)), java);
                assert_eq!(&Assignment::decode(&unhex(&java)).unwrap(), decoded);
            }
        }
    }

    #[test]
    fn future_versions_and_trailing_bytes_are_read_leniently_like_java() {
        // JAVA_SUB_FULL[3] relabelled version 4 with six unknown trailing bytes; Java 4.1.1
        // decodes it to the same subscription.
        let v4 = unhex(&format!("0004{}cafebabe0102", &JAVA_SUB_FULL[3][4..]));
        assert_eq!(
            Subscription::decode(&v4).unwrap(),
            as_decoded(&sub_full(), 3)
        );
        let v0_trailing = unhex(&format!("{}ffff", JAVA_SUB_FULL[0]));
        assert_eq!(
            Subscription::decode(&v0_trailing).unwrap(),
            as_decoded(&sub_full(), 0)
        );
        let v5 = unhex(&format!("0005{JAVA_ASG_TWO_TOPICS}0000"));
        assert_eq!(
            Assignment::decode(&v5).unwrap().partitions,
            vec![
                TopicPartitions::new("t1", [0, 2]),
                TopicPartitions::new("t2", [1])
            ]
        );
    }

    #[test]
    fn empty_assignment_blob_is_an_empty_assignment() {
        assert_eq!(
            Assignment::decode(&Bytes::new()).unwrap(),
            Assignment::default()
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        // Empty subscription: Java fails too ("Buffer underflow while parsing ... header").
        assert!(Subscription::decode(&Bytes::new()).is_err());
        // Negative version: Java rejects it ("Unsupported subscription version").
        assert!(matches!(
            Subscription::decode(&unhex("ffff00000000ffffffff")),
            Err(DecodeError::Malformed { .. })
        ));
        assert!(Assignment::decode(&unhex("fffe00000000ffffffff")).is_err());
        // Null topics array: non-nullable in the schema.
        assert!(matches!(
            Subscription::decode(&unhex("0000ffffffffffffffff")),
            Err(DecodeError::InvalidLength { len: -1, .. })
        ));
        // Every truncation of a valid payload fails cleanly.
        let full = unhex(JAVA_SUB_FULL[3]);
        for len in 1..full.len() {
            assert!(
                Subscription::decode(&full.slice(..len)).is_err(),
                "len {len}"
            );
        }
        let asg = unhex(&format!("0003{JAVA_ASG_TWO_TOPICS}"));
        for len in 1..asg.len() {
            assert!(Assignment::decode(&asg.slice(..len)).is_err(), "len {len}");
        }
    }

    fn topic_partitions() -> impl Strategy<Value = Vec<TopicPartitions>> {
        prop::collection::vec(
            ("[a-z]{1,5}", prop::collection::vec(any::<i32>(), 0..4)),
            0..4,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(topic, partitions)| TopicPartitions { topic, partitions })
                .collect()
        })
    }

    fn user_data() -> impl Strategy<Value = Option<Bytes>> {
        prop::option::of(prop::collection::vec(any::<u8>(), 0..8).prop_map(Bytes::from))
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip_at_every_version(
            topics in prop::collection::vec("[a-z._-]{0,6}", 0..5),
            user_data in user_data(),
            owned in topic_partitions(),
            generation_id in any::<i32>(),
            rack_id in prop::option::of("[a-z]{0,4}"),
            version in 0i16..=3,
        ) {
            let sub = Subscription { topics, user_data, owned_partitions: owned, generation_id, rack_id };
            let encoded = sub.encode(version);
            prop_assert_eq!(Subscription::decode(&encoded).unwrap(), as_decoded(&sub, version));
        }

        #[test]
        fn assignments_round_trip(
            partitions in topic_partitions(),
            user_data in user_data(),
            version in 0i16..=3,
        ) {
            // Java (and we) merge repeated topics on encode; keep them distinct here.
            let topics: std::collections::BTreeSet<&str> =
                partitions.iter().map(|tp| tp.topic.as_str()).collect();
            prop_assume!(topics.len() == partitions.len());
            let asg = Assignment { partitions, user_data };
            prop_assert_eq!(Assignment::decode(&asg.encode(version)).unwrap(), asg);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(data in prop::collection::vec(any::<u8>(), 0..64)) {
            let data = Bytes::from(data);
            let _ = Subscription::decode(&data);
            let _ = Assignment::decode(&data);
        }
    }
}
