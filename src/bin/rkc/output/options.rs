//! `rkc consume`'s output options, named and meant as kcat's (`-f`, `-J`, `-D`, `-K`, `-Z`,
//! `-u`).
//!
//! Invariants: `-f` wins over everything; JSON is chosen by `-J` or when neither `-D` nor `-K`
//! is given (so plain `rkc consume` prints JSON lines); otherwise kcat's own default format
//! `%k<K>%s<D>` / `%s<D>`. A bad format or delimiter is a [`ConfigError`] (exit code 2).

use rskafka_consumer::ConfigError;

use super::{Buffering, FormatError, KcatFormat, MessageFormat, parse_delimiter};

/// How `rkc consume` prints messages.
#[derive(Debug, clap::Args)]
pub(crate) struct OutputArgs {
    /// kcat's output format: %t topic, %p partition, %o offset, %k key, %K key length, %s
    /// value, %S value length, %R value length (32-bit big-endian), %T timestamp (ms), %h
    /// headers (k=v,…), %% a percent sign; \n \r \t \xHH escapes.
    #[arg(
        short = 'f',
        long = "format",
        value_name = "FORMAT",
        conflicts_with = "json"
    )]
    format: Option<String>,
    /// JSON lines (the default; accepted for kcat's habit).
    #[arg(short = 'J', long = "json")]
    json: bool,
    /// Message delimiter, as kcat's `-D` (\n \t \xHH; default \n). Without -J or -f it selects
    /// kcat's plain output: the value, then DELIM.
    #[arg(short = 'D', value_name = "DELIM")]
    delimiter: Option<String>,
    /// Key delimiter, as kcat's `-K`: without -J or -f, print the key, DELIM, then the value.
    #[arg(short = 'K', value_name = "DELIM")]
    key_delimiter: Option<String>,
    /// In kcat formats, print null (and empty) keys and values as `NULL` (kcat's `-Z`).
    #[arg(short = 'Z')]
    null_as_text: bool,
    /// Write every message at once instead of buffering (kcat's `-u`).
    #[arg(short = 'u')]
    unbuffered: bool,
}

impl OutputArgs {
    /// The output format the options choose: `-f`, else JSON with `-J` or when neither `-D`
    /// nor `-K` is given, else kcat's `%k<K>%s<D>` / `%s<D>`.
    pub(crate) fn message_format(&self) -> Result<MessageFormat, ConfigError> {
        let invalid = |name: &str, value: &str, e: FormatError| ConfigError::InvalidValue {
            name: name.into(),
            value: value.into(),
            reason: e.to_string(),
        };
        let delimiter = match &self.delimiter {
            Some(d) => parse_delimiter(d).map_err(|e| invalid("-D", d, e))?,
            None => b"\n".to_vec(),
        };
        let null = self.null_as_text.then(|| b"NULL".to_vec());
        if let Some(f) = &self.format {
            let format = KcatFormat::parse(f.as_bytes()).map_err(|e| invalid("-f", f, e))?;
            return Ok(MessageFormat::Kcat { format, null });
        }
        if self.json || (self.delimiter.is_none() && self.key_delimiter.is_none()) {
            return Ok(MessageFormat::Json { delimiter });
        }
        let key_delimiter = match &self.key_delimiter {
            Some(k) => Some(parse_delimiter(k).map_err(|e| invalid("-K", k, e))?),
            None => None,
        };
        let format = KcatFormat::from_delimiters(key_delimiter.as_deref(), &delimiter)
            .map_err(|e| invalid("-D/-K", "", e))?;
        Ok(MessageFormat::Kcat { format, null })
    }

    /// `-u`: every message written at once; otherwise buffered.
    pub(crate) fn buffering(&self) -> Buffering {
        if self.unbuffered {
            Buffering::Unbuffered
        } else {
            Buffering::Buffered
        }
    }
}
