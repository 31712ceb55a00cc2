//! `kind = "exec"`: one process per message.
//!
//! The value goes to the process's stdin; its environment carries `RKC_TOPIC`,
//! `RKC_PARTITION`, `RKC_OFFSET`, `RKC_TIMESTAMP`, `RKC_ATTEMPT` (1-based), `RKC_KEY` (absent
//! for a null key; `RKC_KEY_B64` instead when the key is not UTF-8) and `RKC_HEADERS` (JSON
//! `[[key, value], …]`, a value null or `{"b64": …}` when not UTF-8). Exit status 0 = done,
//! 75 (EX_TEMPFAIL) = retryable, anything else (a signal included) = permanent; the last line
//! of its stderr (at most 1 KiB) is the error message. A timed-out attempt (the runner's
//! `[handler] timeout`) kills the process and is retryable.

use std::process::Stdio;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use futures::future::BoxFuture;
use rskafka_consumer::{
    Message,
    runner::{Handler, HandlerError, current_attempt},
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// EX_TEMPFAIL from sysexits.h: "try again later".
const EX_TEMPFAIL: i32 = 75;

/// The most of the last stderr line kept as the error message.
const MAX_ERROR_BYTES: usize = 1024;

/// Runs `command` per message.
#[derive(Debug)]
pub(crate) struct ExecHandler {
    program: String,
    args: Vec<String>,
}

impl ExecHandler {
    /// `command[0]` with the rest as arguments (the configuration checked it is not empty).
    pub(crate) fn new(command: &[String]) -> Self {
        Self {
            program: command[0].clone(),
            args: command[1..].to_vec(),
        }
    }
}

/// `RKC_HEADERS`: `[[key, value], …]`, the shape `rkc consume` prints headers in.
pub(crate) fn headers_json(m: &Message) -> String {
    let headers: Vec<Value> = m
        .headers
        .iter()
        .map(|h| {
            let value = match &h.value {
                None => Value::Null,
                Some(v) => match std::str::from_utf8(v) {
                    Ok(s) => json!(s),
                    Err(_) => json!({"b64": STANDARD.encode(v)}),
                },
            };
            json!([h.key, value])
        })
        .collect();
    Value::Array(headers).to_string()
}

/// The last non-empty line of `stderr`, cut to [`MAX_ERROR_BYTES`] on a character boundary.
fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut end = line.len().min(MAX_ERROR_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

impl Handler for ExecHandler {
    fn process<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let mut cmd = tokio::process::Command::new(&self.program);
            cmd.args(&self.args)
                .stdin(Stdio::piped())
                .stdout(Stdio::inherit())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .env_remove("RKC_KEY")
                .env_remove("RKC_KEY_B64")
                .env("RKC_TOPIC", &*m.topic)
                .env("RKC_PARTITION", m.partition.to_string())
                .env("RKC_OFFSET", m.offset.to_string())
                .env("RKC_TIMESTAMP", m.timestamp.to_string())
                .env("RKC_ATTEMPT", current_attempt().to_string())
                .env("RKC_HEADERS", headers_json(m));
            if let Some(key) = &m.key {
                match std::str::from_utf8(key) {
                    Ok(k) if !k.contains('\0') => cmd.env("RKC_KEY", k),
                    _ => cmd.env("RKC_KEY_B64", STANDARD.encode(key)),
                };
            }
            let mut child = cmd.spawn().map_err(|e| {
                HandlerError::permanent(format!("cannot run {}: {e}", self.program))
                    .with_class("SpawnFailed")
            })?;
            let mut stdin = child.stdin.take().expect("piped stdin");
            let value = m.value.clone().unwrap_or_default();
            // Feed stdin while reading stderr: a process that writes much before reading
            // must not deadlock. A process that does not read its stdin is fine too.
            let feed = async move {
                let _ = stdin.write_all(&value).await;
                drop(stdin);
            };
            let mut stderr_pipe = child.stderr.take().expect("piped stderr");
            let drain = async move {
                // Keep the tail only: enough for the last line.
                let mut tail: Vec<u8> = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    match stderr_pipe.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            tail.extend_from_slice(&buf[..n]);
                            if tail.len() > 16 * MAX_ERROR_BYTES {
                                tail.drain(..tail.len() - 8 * MAX_ERROR_BYTES);
                            }
                        }
                    }
                }
                tail
            };
            let ((), tail) = tokio::join!(feed, drain);
            let status = child.wait().await.map_err(|e| {
                HandlerError::retryable(format!("waiting for {}: {e}", self.program))
                    .with_class("WaitFailed")
            })?;
            let message = || {
                let line = last_line(&tail);
                if line.is_empty() {
                    format!("{} exited with {status}", self.program)
                } else {
                    line
                }
            };
            match status.code() {
                Some(0) => Ok(()),
                Some(EX_TEMPFAIL) => {
                    Err(HandlerError::retryable(message()).with_class("ExitStatus75"))
                }
                Some(code) => {
                    Err(HandlerError::permanent(message()).with_class(format!("ExitStatus{code}")))
                }
                None => Err(HandlerError::permanent(message()).with_class("KilledBySignal")),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_is_the_last_stderr_line_cut_to_one_kib() {
        assert_eq!(last_line(b"first\nsecond\n\n"), "second");
        let long = "ü".repeat(1000);
        let cut = last_line(long.as_bytes());
        assert!(cut.len() <= MAX_ERROR_BYTES && cut.len() >= MAX_ERROR_BYTES - 1);
        assert_eq!(last_line(b""), "");
    }
}
