//! Parsers for the value syntaxes librdkafka properties use.

use std::time::Duration;

use super::ConfigError;

pub(crate) fn invalid_value(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// An integer within `min..=max`.
pub(crate) fn int_in_range(
    name: &str,
    value: &str,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid_value(name, value, "expected an integer"))?;
    if !(min..=max).contains(&n) {
        return Err(invalid_value(
            name,
            value,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

/// Milliseconds within `min..=max`, as a [`Duration`].
pub(crate) fn millis(name: &str, value: &str, min: i64, max: i64) -> Result<Duration, ConfigError> {
    int_in_range(name, value, min, max).map(|ms| Duration::from_millis(ms as u64))
}

/// A non-empty string.
pub(crate) fn non_empty(name: &str, value: &str) -> Result<String, ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid_value(name, value, "must not be empty"));
    }
    Ok(value.to_owned())
}

/// Splits `key=value`.
pub(crate) fn key_value(pair: &str) -> Result<(&str, &str), ConfigError> {
    pair.split_once('=')
        .map(|(k, v)| (k.trim(), v))
        .ok_or_else(|| ConfigError::NotKeyValue(pair.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_outside_their_range_are_rejected_with_the_range() {
        let err = int_in_range("x", "0", 1, 5).unwrap_err();
        assert!(err.to_string().contains("between 1 and 5"), "{err}");
        assert!(int_in_range("x", "abc", 1, 5).is_err());
        assert_eq!(int_in_range("x", " 3 ", 1, 5).unwrap(), 3);
    }

    #[test]
    fn key_value_requires_an_equals_sign() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a", "b=c"));
        assert!(matches!(key_value("ab"), Err(ConfigError::NotKeyValue(_))));
    }
}
