//! `kind = "print"`: each message as a JSON line on stdout, exactly as `rkc consume` writes it.

use std::io::Write;

use futures::future::BoxFuture;
use rskafka_consumer::{
    Message,
    runner::{Handler, HandlerError},
};

/// Prints messages; always succeeds (a closed stdout is a permanent error).
#[derive(Debug, Default)]
pub(crate) struct PrintHandler;

impl Handler for PrintHandler {
    fn process<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(async move {
            let mut line = Vec::with_capacity(256);
            crate::output::json::write(&mut line, message);
            line.push(b'\n');
            let mut out = std::io::stdout().lock();
            out.write_all(&line)
                .and_then(|()| out.flush())
                .map_err(|e| HandlerError::permanent(format!("stdout: {e}")).with_class("Io"))
        })
    }
}
