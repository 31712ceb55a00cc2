//! What a member subscribes to: a topic list, or a regex over all topics (`^…`, as in
//! librdkafka), resolved against current metadata.

use std::collections::BTreeMap;

use regex::Regex;

use crate::{
    cluster::Cluster,
    config::ConfigError,
    error::{Error, Result},
};

/// A subscription.
#[derive(Debug, Clone)]
pub(crate) enum Subscribed {
    /// These topics (those that exist).
    Topics(Vec<String>),
    /// Every non-internal topic whose name matches.
    Pattern(Regex),
}

impl Subscribed {
    /// Parses subscription entries: an entry starting with `^` is a regex (librdkafka's rule);
    /// regexes and plain names can be mixed, in which case all are treated as patterns.
    pub(crate) fn parse(entries: &[&str]) -> Result<Self> {
        if entries.iter().any(|e| e.starts_with('^')) {
            let alternatives: Vec<String> = entries
                .iter()
                .map(|e| {
                    if e.starts_with('^') {
                        format!("(?:{e})")
                    } else {
                        format!("(?:^{}$)", regex::escape(e))
                    }
                })
                .collect();
            let joined = alternatives.join("|");
            let regex = Regex::new(&joined).map_err(|e| {
                Error::Config(ConfigError::InvalidValue {
                    name: "subscription".into(),
                    value: entries.join(","),
                    reason: e.to_string(),
                })
            })?;
            Ok(Self::Pattern(regex))
        } else {
            Ok(Self::Topics(
                entries.iter().map(|e| (*e).to_owned()).collect(),
            ))
        }
    }

    /// Whether `topic` is one this subscription consumes (when it exists).
    pub(crate) fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Topics(topics) => topics.iter().any(|t| t == topic),
            Self::Pattern(regex) => regex.is_match(topic),
        }
    }

    /// The listed topics missing from `resolved` (a pattern has none: it matches what exists).
    pub(crate) fn missing(&self, resolved: &BTreeMap<String, i32>) -> Vec<String> {
        match self {
            Self::Topics(topics) => topics
                .iter()
                .filter(|t| !resolved.contains_key(*t))
                .cloned()
                .collect(),
            Self::Pattern(_) => Vec::new(),
        }
    }

    /// The matching topics that exist now, with their partition counts.
    pub(crate) async fn resolve(&self, cluster: &Cluster) -> Result<BTreeMap<String, i32>> {
        let metadata = match self {
            Self::Topics(topics) => cluster.metadata(Some(topics)).await?,
            Self::Pattern(_) => cluster.metadata(None).await?,
        };
        Ok(metadata
            .topics
            .iter()
            .filter(|t| t.error.is_none() && !t.partitions.is_empty())
            .filter(|t| match self {
                Self::Topics(_) => true,
                Self::Pattern(re) => !t.internal && re.is_match(&t.topic),
            })
            .map(|t| (t.topic.clone(), t.partitions.len() as i32))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_starting_with_a_caret_are_patterns_and_names_match_exactly() {
        let Subscribed::Pattern(re) = Subscribed::parse(&["^orders-.*", "audit"]).unwrap() else {
            panic!("expected a pattern");
        };
        assert!(re.is_match("orders-eu"));
        assert!(re.is_match("audit"));
        assert!(!re.is_match("audit-2"));
        assert!(!re.is_match("x-orders-eu"));
        assert!(
            matches!(Subscribed::parse(&["a", "b"]).unwrap(), Subscribed::Topics(t) if t == ["a", "b"])
        );
        assert!(Subscribed::parse(&["^("]).is_err());
    }

    #[test]
    fn listed_topics_that_do_not_exist_are_missing_and_patterns_miss_nothing() {
        let resolved = BTreeMap::from([("a".to_owned(), 3)]);
        let listed = Subscribed::parse(&["a", "b", "c"]).unwrap();
        assert_eq!(listed.missing(&resolved), ["b", "c"]);
        let pattern = Subscribed::parse(&["^x.*"]).unwrap();
        assert!(pattern.missing(&resolved).is_empty());
    }
}
